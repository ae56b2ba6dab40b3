"""Monitoring in the SQL metadata store: reference profiles and monitors.

A *reference profile* is a JSON document in the artifact store (``digest`` is its BLAKE3);
its row ties it to the model version it belongs to (``model_version --profiled_as-->
monitor_reference``). A *monitor* binds a deployment (or a pinned model version), a
reference and a configuration the store keeps as opaque JSON (checks, window, alert rules,
notifications). Its evaluations live in :mod:`cycleml.store._evaluations`, its alert
state in :mod:`cycleml.store._alerting`.

Every mutation writes its audit row (entity ``monitor`` or ``monitor_reference``) and its
lineage edges in the same transaction:

- ``monitor_reference --reference_of--> monitor``,
  ``model_version|deployment --monitored_by--> monitor``;
- ``<source> --read_by--> monitor_evaluation`` for each input an evaluation read (e.g.
  ``prediction_log`` parts, ``dataset_version`` ``name/3``) and
  ``monitor --evaluated_as--> monitor_evaluation``.

The monitor's ``watermark`` (ms) says up to when the prediction log has been evaluated; the
evaluation that advances it moves it in the same transaction, and only forwards, so two
evaluators racing over the same window cannot both record it (the rules:
:mod:`cycleml.monitoring._watermarks`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.ids import check_id, is_id, new_id
from cycleml.monitoring._sql_requests import claim_request, settle_request
from cycleml.monitoring._tables import (
    alert_events,
    alert_states,
    monitor_evaluations,
    monitor_references,
    monitor_values,
    monitors,
)
from cycleml.monitoring._watermarks import watermark_changed
from cycleml.store import (
    KEY_LEN,
    Database,
    SqlRepository,
    json_safe,
    now_ms,
    record_audit,
    record_edges,
)
from cycleml.validation import check_name

__all__ = [
    "DeploymentLookup",
    "ModelLookup",
    "Monitor",
    "MonitorOps",
    "MonitorReference",
    "check_int",
    "check_json",
    "check_limit",
    "check_metric",
    "check_monitor_name",
    "check_optional_int",
    "check_reference",
    "check_sources",
    "read_number",
    "require_monitor",
]

#: What a monitor watches: a deployment (its prediction log) or one model version.
TargetKind = Literal["deployment", "model_version"]
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_NODE_MAX = 256  # the lineage table's id columns
_REF_HINT = "List them with `cycleml monitor references`, or create one from training data."
# How JSON spells the floats it cannot hold (``json_safe`` writes them).
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def read_number(value: Any) -> Any:
    """A float as JSON carried it: ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` become floats;
    anything else is returned as sent (the repository checks it)."""
    return _NON_FINITE.get(value, value) if isinstance(value, str) else value


class ModelVersionLike(Protocol):
    """What monitoring reads of a registered model version."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...


class DeploymentLike(Protocol):
    """What monitoring reads of a deployment."""

    @property
    def model_name(self) -> str: ...


class ModelLookup(Protocol):
    """The registry reads a monitor needs (reached through serving, DESIGN.md section 3)."""

    def resolve_model_uri(self, uri: str) -> ModelVersionLike: ...


class DeploymentLookup(Protocol):
    """The serving reads a monitor needs."""

    def get_deployment(self, name: str) -> DeploymentLike: ...


def check_monitor_name(name: str) -> str:
    """Validate a monitor name (letters, digits, ``_ - .``)."""
    return check_name(name, kind="monitor name", max_len=200, example="'churn-drift'")


@dataclass(frozen=True)
class MonitorReference:
    """A stored reference profile: the JSON document's digest and what it belongs to."""

    id: str
    name: str | None
    model_name: str | None
    model_version: int | None
    rows: int
    digest: str
    created_by: str
    creation_time: int

    @property
    def model_version_uri(self) -> str | None:
        """``models:/<name>/<version>`` when the reference belongs to a model version."""
        if self.model_name is None or self.model_version is None:
            return None
        return f"models:/{self.model_name}/{self.model_version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorReference:
        """The reference :meth:`to_dict` made."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Monitor:
    """A monitor: what it watches, against which reference, and how (``config``).

    ``target`` is a deployment name (``target_kind="deployment"``) or a pinned
    ``models:/<name>/<version>``. ``model_name`` is the model the target serves;
    ``model_version`` is set for model-version targets only (a deployment's monitor follows
    whatever the deployment serves). ``watermark`` is the time (ms since the epoch) up to
    which the prediction log has been evaluated, ``None`` before the first evaluation.
    """

    name: str
    target_kind: str
    target: str
    model_name: str
    model_version: int | None
    reference_id: str | None
    config: dict[str, Any]
    watermark: int | None
    created_by: str
    creation_time: int
    last_updated_time: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Monitor:
        """The monitor :meth:`to_dict` made."""
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


# ---- validation ---------------------------------------------------------------------------


def check_int(value: object, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput(
            f"Invalid {what} {value!r}: expected an integer >= {minimum}.",
            hint="Times are milliseconds since the epoch; counts are whole numbers.",
        )
    return value


def check_optional_int(value: object, what: str) -> int | None:
    return None if value is None else check_int(value, what)


def check_json(value: object, what: str) -> dict[str, Any]:
    """A mapping that JSON can hold (NaN and infinities become strings)."""
    if not isinstance(value, Mapping):
        raise InvalidInput(
            f"Invalid {what}: expected a mapping, got {type(value).__name__}.",
            hint=f"Pass the {what} as a dict of JSON values.",
        )
    clean = json_safe(dict(value))
    try:
        json.dumps(clean, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Invalid {what}: it cannot be stored as JSON ({exc}).",
            hint="Use strings, numbers, booleans, lists and dicts only.",
        ) from exc
    return dict(clean)


def _check_digest(digest: object) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidInput(
            f"Invalid blob digest {digest!r}: expected 64 lowercase hex characters.",
            hint="Store the document in the artifact store first and pass its BLAKE3 digest.",
        )
    return digest


def check_metric(metric: object) -> str:
    if not isinstance(metric, str) or not metric.strip() or len(metric) > KEY_LEN:
        raise InvalidInput(
            f"Invalid metric name {metric!r}: expected 1-{KEY_LEN} characters.",
            hint="For example 'drift_share', 'drift.age.statistic' or 'accuracy'.",
        )
    return metric


def check_sources(sources: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    checked: list[tuple[str, str]] = []
    for source in sources:
        try:
            kind, ref = source
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Invalid source {source!r}: expected a (kind, id) pair.",
                hint="For example ('prediction_log', part_id) or ('dataset_version', 'sales/3').",
            ) from exc
        if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            raise InvalidInput(
                f"Invalid source kind {kind!r}: expected 1-32 lowercase letters, digits or '_'.",
                hint="For example 'prediction_log' or 'dataset_version'.",
            )
        if not isinstance(ref, str) or not 0 < len(ref) <= _NODE_MAX:
            raise InvalidInput(
                f"Invalid {kind} id {ref!r}: expected 1-{_NODE_MAX} characters.",
                hint="Pass the id the source was stored under.",
            )
        checked.append((kind, ref))
    return list(dict.fromkeys(checked))  # once each, in order


def check_limit(limit: object) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(
            f"Invalid limit {limit!r}: expected a positive integer or None.",
            hint="Pass None for everything.",
        )
    return limit


# ---- rows to records ----------------------------------------------------------------------


def _reference(row: Any) -> MonitorReference:
    return MonitorReference(
        id=row.id,
        name=row.name,
        model_name=row.model_name,
        model_version=None if row.model_version is None else int(row.model_version),
        rows=int(row.rows),
        digest=row.digest,
        created_by=row.created_by,
        creation_time=int(row.creation_time),
    )


def _monitor(row: Any) -> Monitor:
    return Monitor(
        name=row.name,
        target_kind=row.target_kind,
        target=row.target,
        model_name=row.model_name,
        model_version=None if row.model_version is None else int(row.model_version),
        reference_id=row.reference_id,
        config=dict(row.config or {}),
        watermark=None if row.watermark is None else int(row.watermark),
        created_by=row.created_by,
        creation_time=int(row.creation_time),
        last_updated_time=int(row.last_updated_time),
    )


def _monitor_not_found(name: str) -> NotFound:
    return NotFound(
        f"No monitor named {name!r}.",
        hint="List them with `cycleml monitor list`, or create one with `cycleml monitor create`.",
    )


def require_monitor(conn: Connection, name: str, *, lock: bool = False) -> Any:
    """The monitor's row (locked until the transaction ends when ``lock``), or NotFound."""
    query = select(monitors).where(monitors.c.name == name)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise _monitor_not_found(name)
    return row


def check_reference(reference: object) -> str:
    """Validate a reference's id or name as given (looked up by either)."""
    if not isinstance(reference, str) or not reference:
        raise InvalidInput(
            f"Invalid monitor reference {reference!r}: expected an id or a name.",
            hint=_REF_HINT,
        )
    return reference


def _reference_row(conn: Connection, ref: str) -> Any:
    column = monitor_references.c.id if is_id(ref) else monitor_references.c.name
    row = conn.execute(select(monitor_references).where(column == ref)).first()
    if row is None:
        raise NotFound(f"No monitor reference {ref!r}.", hint=_REF_HINT)
    return row


class MonitorOps(SqlRepository):
    """Reference profile and monitor operations of the SQL monitor repository.

    Args:
        db: The kernel database.
        models: Resolves ``models:/`` targets and checks model versions exist.
        deployments: Finds the model a monitored deployment serves.
    """

    def __init__(self, db: Database, *, models: ModelLookup, deployments: DeploymentLookup) -> None:
        super().__init__(db)
        self.models = models
        self.deployments = deployments

    def _has_model_version(self, name: str | None, version: int) -> bool:
        try:
            self.models.resolve_model_uri(f"models:/{name}/{version}")
        except NotFound:
            return False
        return True

    def _served_model(self, deployment: str) -> str:
        try:
            return self.deployments.get_deployment(deployment).model_name
        except NotFound as exc:
            raise NotFound(
                f"Cannot monitor deployment {deployment!r}: no such deployment.",
                hint="List them with `cycleml deploy list`, or pass a models:/ URI.",
            ) from exc

    # ---- reference profiles --------------------------------------------------------------
    def create_monitor_reference(
        self,
        digest: str,
        *,
        rows: int,
        model_name: str | None = None,
        model_version: int | None = None,
        name: str | None = None,
        sources: Sequence[tuple[str, str]] = (),
        reference_id: str | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> MonitorReference:
        """Record a reference profile stored in the artifact store under ``digest``.

        With ``request_id`` (the server's ``X-Request-ID``), a retry of a creation that was
        applied returns that reference. With ``model_version`` the reference belongs to that
        registered version (lineage ``model_version --profiled_as--> monitor_reference``);
        each ``(kind, id)`` of ``sources`` (e.g. ``("dataset_version", "churn/3")``) gets the
        same edge.

        Raises:
            InvalidInput: A bad digest, row count, name or model.
            NotFound: ``model_version`` is not a registered version of ``model_name``.
            AlreadyExists: The name (or ``reference_id``) is taken.
        """
        _check_digest(digest)
        check_int(rows, "row count")
        if name is not None:
            check_name(name, kind="reference name", max_len=200, example="'churn-train-2024'")
            if is_id(name):
                raise InvalidInput(
                    f"Invalid reference name {name!r}: it looks like a reference id.",
                    hint="Pick a name that is not 32 hex characters, e.g. 'churn-train'.",
                )
        if model_name is not None:
            check_name(model_name, kind="model name", max_len=200, example="'churn-classifier'")
        if model_version is not None:
            check_int(model_version, "model version", minimum=1)
            if model_name is None:
                raise InvalidInput(
                    f"Model version {model_version} given without a model name.",
                    hint="Pass model_name too, e.g. model_name='churn', model_version=3.",
                )
        ref_id = new_id() if reference_id is None else check_id(reference_id, kind="reference id")
        inputs = check_sources(sources)
        who = actor or self.actor
        stamp = now_ms()

        if model_version is not None and not self._has_model_version(model_name, model_version):
            raise NotFound(
                f"Cannot attach the reference to models:/{model_name}/{model_version}: "
                "no such model version.",
                hint="Register the model version first, or leave model_version out.",
            )

        created = MonitorReference(
            ref_id, name, model_name, model_version, rows, digest, who, stamp
        )

        def write(conn: Connection) -> MonitorReference:
            key = name or reference_id or ""
            if request_id is not None and (
                done := claim_request(conn, request_id, "monitor_reference.create", key, stamp)
            ):
                return MonitorReference.from_dict(done.answer)
            clash = [monitor_references.c.id == ref_id]
            if name is not None:
                clash.append(monitor_references.c.name == name)
            taken = conn.execute(select(monitor_references.c.id).where(or_(*clash))).first()
            if taken is not None:
                raise AlreadyExists(
                    f"A monitor reference named {name or ref_id!r} already exists.",
                    hint="Pick another name, or use the existing reference.",
                )
            conn.execute(
                insert(monitor_references).values(
                    id=ref_id,
                    name=name,
                    model_name=model_name,
                    model_version=model_version,
                    rows=rows,
                    digest=digest,
                    created_by=who,
                    creation_time=stamp,
                )
            )
            edges = [
                (kind, ref, "profiled_as", "monitor_reference", ref_id) for kind, ref in inputs
            ]
            if model_version is not None:
                edges.insert(
                    0,
                    (
                        "model_version",
                        f"{model_name}/{model_version}",
                        "profiled_as",
                        "monitor_reference",
                        ref_id,
                    ),
                )
            record_edges(conn, edges, at=stamp)
            record_audit(
                conn,
                actor=who,
                action="monitor_reference.create",
                entity_kind="monitor_reference",
                entity_id=ref_id,
                payload={
                    "name": name,
                    "digest": digest,
                    "rows": rows,
                    "model_name": model_name,
                    "model_version": model_version,
                    "sources": [list(s) for s in inputs],
                },
                at=stamp,
            )
            settle_request(conn, request_id, created.to_dict())
            return created

        try:
            return self._write(write)
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(
                f"A monitor reference named {name or ref_id!r} already exists.",
                hint="Pick another name, or use the existing reference.",
            ) from exc

    def get_monitor_reference(self, reference: str) -> MonitorReference:
        """A reference profile by id (32 hex) or by name."""
        check_reference(reference)
        with self._read() as conn:
            return _reference(_reference_row(conn, reference))

    def list_monitor_references(
        self, model_name: str | None = None, *, model_version: int | None = None
    ) -> list[MonitorReference]:
        """Reference profiles, oldest first, optionally those of one model (version)."""
        query = select(monitor_references)
        if model_name is not None:
            query = query.where(monitor_references.c.model_name == model_name)
        if model_version is not None:
            query = query.where(monitor_references.c.model_version == model_version)
        with self._read() as conn:
            rows = conn.execute(
                query.order_by(monitor_references.c.creation_time, monitor_references.c.id)
            ).all()
        return [_reference(row) for row in rows]

    # ---- monitors --------------------------------------------------------------------------
    def _resolve_target(self, target: object) -> tuple[TargetKind, str, str | None, int | None]:
        """``(kind, stored target, model name, model version)``; deployments are read later."""
        if not isinstance(target, str) or not target:
            raise InvalidInput(
                f"Invalid monitor target {target!r}: expected a deployment name or a models:/ URI.",
                hint="For example 'churn-prod' or models:/churn/3.",
            )
        if target.startswith("models:/"):
            try:
                version = self.models.resolve_model_uri(target)
            except NotFound as exc:
                raise NotFound(
                    f"Cannot monitor {target!r}: {exc.message}",
                    hint=exc.hint or "Name a registered version, e.g. models:/churn/3.",
                ) from exc
            pinned = f"models:/{version.name}/{version.version}"
            return "model_version", pinned, version.name, version.version
        check_name(target, kind="deployment name", max_len=200, example="'churn-prod'")
        return "deployment", target, None, None

    def create_monitor(
        self,
        name: str,
        target: str,
        *,
        reference: str | None = None,
        config: Mapping[str, Any] | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Monitor:
        """Create a monitor of a deployment or of a model version (with ``request_id``, a
        retry of a creation that was applied returns that monitor).

        Args:
            name: The monitor's unique name.
            target: A deployment name, or a ``models:/`` URI (an alias is resolved now and
                the monitor pinned to that version).
            reference: The reference profile's id or name (optional: performance-only
                monitors need none).
            config: Checks, window, alert rules and notifications (JSON; the store does not
                interpret it).

        Raises:
            InvalidInput: A bad name, target or config.
            NotFound: No such deployment, model version or reference.
            AlreadyExists: The name is taken.
        """
        check_monitor_name(name)
        kind, stored_target, model_name, model_version = self._resolve_target(target)
        clean = check_json({} if config is None else config, "monitor config")
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> Monitor:
            if request_id is not None and (
                done := claim_request(conn, request_id, "monitor.create", name, stamp)
            ):
                return Monitor.from_dict(done.answer)
            if conn.execute(select(monitors.c.name).where(monitors.c.name == name)).first():
                raise AlreadyExists(
                    f"A monitor named {name!r} already exists.",
                    hint="Pick another name; `cycleml monitor list` shows the monitors there are.",
                )
            ref_id = None if reference is None else _reference_row(conn, reference).id
            served = model_name
            if kind == "deployment":
                served = self._served_model(stored_target)
            assert served is not None
            created = Monitor(
                name=name,
                target_kind=kind,
                target=stored_target,
                model_name=served,
                model_version=model_version,
                reference_id=ref_id,
                config=clean,
                watermark=None,
                created_by=who,
                creation_time=stamp,
                last_updated_time=stamp,
            )
            conn.execute(insert(monitors).values(**created.to_dict()))
            edges = []
            if ref_id is not None:
                edges.append(("monitor_reference", ref_id, "reference_of", "monitor", name))
            if kind == "deployment":
                edges.append(("deployment", stored_target, "monitored_by", "monitor", name))
            else:
                node = f"{model_name}/{model_version}"
                edges.append(("model_version", node, "monitored_by", "monitor", name))
            record_edges(conn, edges, at=stamp)
            record_audit(
                conn,
                actor=who,
                action="monitor.create",
                entity_kind="monitor",
                entity_id=name,
                payload={
                    "target_kind": kind,
                    "target": stored_target,
                    "model_name": served,
                    "model_version": model_version,
                    "reference_id": ref_id,
                    "config": clean,
                },
                at=stamp,
            )
            settle_request(conn, request_id, created.to_dict())
            return created

        try:
            return self._write(write)
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(
                f"A monitor named {name!r} already exists.",
                hint="Pick another name; `cycleml monitor list` shows the monitors there are.",
            ) from exc

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name."""
        with self._read() as conn:
            return _monitor(require_monitor(conn, name))

    def list_monitors(
        self, *, target: str | None = None, model_name: str | None = None
    ) -> list[Monitor]:
        """Every monitor by name, optionally those of one target or one model."""
        query = select(monitors)
        if target is not None:
            query = query.where(monitors.c.target == target)
        if model_name is not None:
            query = query.where(monitors.c.model_name == model_name)
        with self._read() as conn:
            rows = conn.execute(query.order_by(monitors.c.name)).all()
        return [_monitor(row) for row in rows]

    def update_monitor(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | EllipsisType = ...,
        reference: str | EllipsisType | None = ...,
        reason: str = "",
        actor: str | None = None,
    ) -> Monitor:
        """Replace a monitor's configuration and/or its reference (``None`` removes it).

        Arguments left out (``...``) keep their value; nothing is written when nothing
        changes. The audit row keeps the previous configuration.
        """
        clean = None if config is ... else check_json(config, "monitor config")
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> Monitor:
            row = require_monitor(conn, name, lock=True)
            current = _monitor(row)
            if reference is ... or reference is None:
                ref_id = current.reference_id if reference is ... else None
            else:
                ref_id = _reference_row(conn, reference).id
            new_config = current.config if clean is None else clean
            if (new_config, ref_id) == (current.config, current.reference_id):
                return current
            conn.execute(
                update(monitors)
                .where(monitors.c.name == name)
                .values(config=new_config, reference_id=ref_id, last_updated_time=stamp)
            )
            if ref_id is not None and ref_id != current.reference_id:
                edge = ("monitor_reference", ref_id, "reference_of", "monitor", name)
                record_edges(conn, [edge], at=stamp, only_new=True)
            record_audit(
                conn,
                actor=who,
                action="monitor.update",
                entity_kind="monitor",
                entity_id=name,
                payload={
                    "config": new_config,
                    "previous_config": current.config,
                    "reference_id": ref_id,
                    "previous_reference_id": current.reference_id,
                    "reason": reason,
                },
                at=stamp,
            )
            return Monitor(
                **{
                    **current.to_dict(),
                    "config": new_config,
                    "reference_id": ref_id,
                    "last_updated_time": stamp,
                }
            )

        return self._write(write)

    def set_monitor_watermark(
        self, name: str, watermark: int | None, *, reason: str = "", actor: str | None = None
    ) -> Monitor:
        """Move a monitor's watermark by hand, backwards too (to re-evaluate a period).

        Evaluations move it forwards themselves (:meth:`record_monitor_evaluation`).
        """
        mark = check_optional_int(watermark, "watermark")
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> Monitor:
            current = _monitor(require_monitor(conn, name, lock=True))
            if not watermark_changed(current.watermark, mark):
                return current
            conn.execute(update(monitors).where(monitors.c.name == name).values(watermark=mark))
            record_audit(
                conn,
                actor=who,
                action="monitor.set_watermark",
                entity_kind="monitor",
                entity_id=name,
                payload={"watermark": mark, "previous": current.watermark, "reason": reason},
                at=stamp,
            )
            return Monitor(**{**current.to_dict(), "watermark": mark})

        return self._write(write)

    def delete_monitor(self, name: str, *, reason: str = "", actor: str | None = None) -> None:
        """Delete a monitor with its evaluations, values, alert states and alert events.

        The audit log and the lineage edges keep its history.
        """
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> None:
            current = _monitor(require_monitor(conn, name, lock=True))
            counts = {}
            for table, key in (
                (monitor_values, "values"),
                (monitor_evaluations, "evaluations"),
                (alert_states, "alert_states"),
                (alert_events, "alert_events"),
            ):
                result = conn.execute(delete(table).where(table.c.monitor_name == name))
                counts[key] = int(result.rowcount or 0)
            conn.execute(delete(monitors).where(monitors.c.name == name))
            record_audit(
                conn,
                actor=who,
                action="monitor.delete",
                entity_kind="monitor",
                entity_id=name,
                payload={"monitor": current.to_dict(), "deleted": counts, "reason": reason},
                at=stamp,
            )

        self._write(write)
