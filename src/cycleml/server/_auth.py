"""Who is asking, and may they: the team server's authentication and permission checks.

* **Authentication** (:func:`authenticate`, a dependency of every router but health):
  ``Authorization: Bearer <token>`` (what ``MLFLOW_TRACKING_TOKEN`` and
  ``CYCLEML_TRACKING_TOKEN`` send) or ``Basic`` with a password or a token as the password
  (what ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` send). No credentials: 401. The request then
  runs :func:`cycleml.store.acting_as` the user, so audit rows name who asked.
  A password is a slow hash, so a verified one is remembered for a minute per worker.
* **Permissions** (:func:`require`): admins may do everything; others need the level a
  route asks (READ to look, EDIT to change, MANAGE to delete, promote, or change a
  deployment) on the resource it touches, granted or else the server's default. Creating a
  resource grants its creator MANAGE (:func:`grant_creator`). A refusal is a 403 raised
  before the handler runs, so nothing is written.

cycleml's ``/api/v1`` routes are checked by :func:`authorize_v1` from their path template;
MLflow's routes by the table in :mod:`._auth_mlflow`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from cycleml.errors import NotFound, PermissionDenied, Unauthenticated
from cycleml.server._users import Permission, User, UserStore
from cycleml.store import Database, acting_as

__all__ = [
    "AuthConfig",
    "Authenticator",
    "authenticate",
    "authorize_v1",
    "checks_apply",
    "current_user",
    "grant_creator",
    "readable",
    "require",
    "require_admin",
]

_PASSWORD_CACHE_SECONDS = 60.0
_ANONYMOUS = User("anonymous", is_admin=True, has_password=False, created_at=0)
_KIND_NAMES = {
    "experiment": "experiment",
    "registered_model": "model",
    "dataset": "dataset",
    "deployment": "deployment",
    "monitor": "monitor",
}


@dataclass(frozen=True)
class AuthConfig:
    """Whether the server checks who asks, and the level of users without a grant.

    Args:
        enabled: Require credentials on every route but ``/health``, ``/version``, ``/metrics``.
        default_permission: The level of a user on a resource they hold no grant on.
    """

    enabled: bool = False
    default_permission: Permission = Permission.READ


@dataclass
class Authenticator:
    """A worker's credential checks, over the users in its database."""

    db: Database
    config: AuthConfig
    _passwords: dict[str, tuple[float, User]] = field(default_factory=dict)

    @property
    def users(self) -> UserStore:
        """The user store on the worker's database."""
        return UserStore(self.db)

    def _basic(self, encoded: str) -> User | None:
        try:
            username, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if secret.startswith("cml_"):  # a token as the password
            found = self.users.check_token(secret)
            return found if found is not None and found.username == username else None
        key = hashlib.sha256(f"{username}\0{secret}".encode()).hexdigest()
        cached = self._passwords.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        user = self.users.check_password(username, secret)
        if user is not None:
            self._passwords[key] = (time.monotonic() + _PASSWORD_CACHE_SECONDS, user)
        return user

    def user_for(self, header: str | None) -> User:
        """The user an ``Authorization`` header names (raise :class:`Unauthenticated`)."""
        if not header:
            raise Unauthenticated(
                "This server needs credentials: no Authorization header was sent.",
                hint="Set CYCLEML_TRACKING_TOKEN (or MLFLOW_TRACKING_TOKEN) to a token from "
                "`cycleml users token <name>`, or MLFLOW_TRACKING_USERNAME and _PASSWORD.",
            )
        scheme, _, value = header.partition(" ")
        user = None
        if scheme.lower() == "bearer":
            user = self.users.check_token(value.strip())
        elif scheme.lower() == "basic":
            user = self._basic(value.strip())
        if user is None:
            raise Unauthenticated(
                f"The {scheme or 'given'} credentials were not accepted (unknown, revoked or "
                "expired token, or wrong username or password).",
                hint="Ask an admin for a new token: `cycleml users token <name>`.",
            )
        return user


def _authenticator(request: Request) -> Authenticator | None:
    found: Authenticator | None = getattr(request.app.state, "authenticator", None)
    return found if found is not None and found.config.enabled else None


async def authenticate(request: Request) -> AsyncIterator[None]:
    """Router dependency: find the user (401 without valid credentials) and act as them.

    A generator dependency: :func:`acting_as` holds for the handler (FastAPI runs it after
    the setup, in the same context, and its threadpool copies that context).
    """
    checker = _authenticator(request)
    if checker is None:
        request.state.user = _ANONYMOUS
        yield
        return
    user = await run_in_threadpool(checker.user_for, request.headers.get("authorization"))
    request.state.user = user
    with acting_as(user.username):
        yield


def checks_apply(request: Request) -> bool:
    """Whether this request's permissions are checked: auth is on and the user no admin."""
    return _authenticator(request) is not None and not current_user(request).is_admin


def current_user(request: Request) -> User:
    """The request's user (an admin-like anonymous user when auth is off)."""
    user: User = getattr(request.state, "user", _ANONYMOUS)
    return user


def require(
    request: Request, kind: str, resource_ids: Iterable[str], level: Permission, what: str
) -> None:
    """Raise :class:`PermissionDenied` unless the user holds ``level`` on every resource."""
    checker = _authenticator(request)
    user = current_user(request)
    if checker is None or user.is_admin:
        return
    granted = checker.users.levels(user.username, kind)
    for resource_id in resource_ids:
        has = granted.get(resource_id, checker.config.default_permission)
        if has < level:
            noun = _KIND_NAMES.get(kind, kind)
            raise PermissionDenied(
                f"User {user.username!r} has {has.name} on {noun} {resource_id!r}; {what} "
                f"needs {level.name}.",
                hint=f"A user with MANAGE on it (or an admin) can run `cycleml users grant "
                f"{user.username} {kind} {resource_id} {level.name}`.",
                details={"kind": kind, "id": resource_id, "needs": level.name, "has": has.name},
            )


def require_admin(request: Request, what: str) -> None:
    """Raise :class:`PermissionDenied` unless auth is off or the user is an admin."""
    if _authenticator(request) is not None and not current_user(request).is_admin:
        raise PermissionDenied(
            f"User {current_user(request).username!r} may not call {what}: only admins may.",
            hint="Ask an admin, or for admin rights (`cycleml users create --admin`).",
        )


def grant_creator(request: Request, kind: str, resource_id: str) -> None:
    """Give the user who created a resource MANAGE on it (when auth is on)."""
    checker = _authenticator(request)
    user = current_user(request)
    if checker is not None and not user.is_admin:
        checker.users.grant(user.username, kind, resource_id, Permission.MANAGE)


def readable(request: Request, kind: str, resource_ids: Iterable[str]) -> set[str]:
    """The resources of ``resource_ids`` the user may READ (all of them when auth is off)."""
    ids = set(resource_ids)
    checker = _authenticator(request)
    user = current_user(request)
    if checker is None or user.is_admin:
        return ids
    granted = checker.users.levels(user.username, kind)
    default = checker.config.default_permission
    return {i for i in ids if granted.get(i, default) >= Permission.READ}


# ---- cycleml's /api/v1 -------------------------------------------------------------------
_READ_METHODS = ("GET", "HEAD")
# Route templates (below /api/v1) whose writes need MANAGE rather than EDIT.
_MANAGE = {
    ("DELETE", "/experiments/{experiment_id}"),
    ("POST", "/experiments/{experiment_id}/restore"),
    ("POST", "/runs/delete"),
    ("POST", "/runs/restore"),
    ("DELETE", "/models/{name}"),
    ("POST", "/models/{name}/rename"),
    ("DELETE", "/models/{name}/versions/{version}"),
    ("POST", "/models/{name}/versions/{version}/stage"),
    ("PUT", "/deployments/{name}"),
    ("PATCH", "/deployments/{name}"),
    ("POST", "/deployments/{name}/promote"),
    ("POST", "/deployments/{name}/rollback"),
    ("DELETE", "/monitors/{name}"),
}
# Collections whose POST creates a resource named in the body: (kind, body field).
_CREATES = {
    "/experiments": ("experiment", None),
    "/models": ("registered_model", "name"),
    "/deployments": ("deployment", "name"),
    "/monitors": ("monitor", "name"),
}
_BY_NAME = {"models": "registered_model", "deployments": "deployment", "monitors": "monitor"}


async def _body(request: Request) -> dict[str, Any]:
    try:
        found = await request.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _run_experiments(db: Database, run_ids: Iterable[str]) -> set[str]:
    from cycleml.tracking import SqlRunRepository

    found = SqlRunRepository(db).get_runs([r for r in run_ids if isinstance(r, str)])
    return {run.info.experiment_id for run in found}


def _experiment_by_name(db: Database, name: str) -> set[str]:
    from cycleml.tracking import SqlRunRepository

    found = SqlRunRepository(db).get_experiment_by_name(name)
    return {found.experiment_id} if found is not None else set()


def _dataset_exists(db: Database, name: str) -> bool:
    from cycleml.data import SqlDatasetRepository

    try:
        SqlDatasetRepository(db).get_dataset_version(name)
    except NotFound:
        return False
    return True


def _deployment_exists(db: Database, name: str) -> bool:
    from cycleml.serving import SqlDeploymentRepository

    try:
        SqlDeploymentRepository(db).get_deployment(name)
    except NotFound:
        return False
    return True


def _model_of_uri(uri: str) -> set[str]:
    from cycleml.store import ModelUri, parse_uri

    try:
        parsed = parse_uri(uri)
    except ValueError:
        return set()
    return {parsed.name} if isinstance(parsed, ModelUri) else set()


async def authorize_v1(request: Request) -> None:
    """Router dependency of ``/api/v1``: the check each route's template calls for."""
    if not checks_apply(request):
        return
    route = request.scope.get("route")
    template = str(getattr(route, "path", ""))[len("/api/v1") :]
    method = request.method
    params = request.path_params
    db: Database = request.app.state.server.db
    level = (
        Permission.READ
        if method in _READ_METHODS
        else (Permission.MANAGE if (method, template) in _MANAGE else Permission.EDIT)
    )
    what = f"{method} {template}"
    head = template.split("/")[1] if template.count("/") else ""
    kind: str | None = None
    ids: set[str] = set()
    if template in _CREATES and method == "POST":
        return  # any signed-in user may create; the creator is granted MANAGE after
    if head == "experiments" and "experiment_id" in params:
        kind, ids = "experiment", {params["experiment_id"]}
    elif template == "/experiments/by-name":
        kind = "experiment"
        ids = await run_in_threadpool(_experiment_by_name, db, request.query_params.get("name", ""))
    elif head == "runs" and "run_id" in params:
        kind = "experiment"
        ids = await run_in_threadpool(_run_experiments, db, [params["run_id"]])
    elif template == "/runs":
        kind, ids = "experiment", {str((await _body(request)).get("experiment_id"))}
    elif template == "/runs/search":
        kind, ids = "experiment", {str(e) for e in (await _body(request)).get("experiment_ids", [])}
    elif template in ("/runs/get", "/runs/delete", "/runs/restore", "/runs/metric-points/count"):
        body = await _body(request)
        kind = "experiment"
        ids = await run_in_threadpool(_run_experiments, db, body.get("run_ids") or [])
        level = Permission.READ if template in ("/runs/get", "/runs/metric-points/count") else level
    elif head in _BY_NAME and "name" in params:
        kind, ids = _BY_NAME[head], {params["name"]}
        creates = (method, template) == ("PUT", "/deployments/{name}")
        if creates and not await run_in_threadpool(_deployment_exists, db, params["name"]):
            return  # a PUT that creates the deployment
    elif head == "datasets" and "name" in params:
        kind, ids = "dataset", {params["name"]}
        creates = (method, template) == ("POST", "/datasets/{name}/versions")
        if creates and not await run_in_threadpool(_dataset_exists, db, params["name"]):
            return  # the first version creates the dataset (its creator gets MANAGE)
    elif template == "/resolve/model-uri":
        kind, ids = "registered_model", _model_of_uri(request.query_params.get("uri", ""))
    if kind is not None:
        await run_in_threadpool(require, request, kind, ids, level, what)
