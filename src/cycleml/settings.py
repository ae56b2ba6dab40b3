"""Settings: one typed registry of ``CYCLEML_*`` environment variables.

Precedence, lowest first: built-in defaults, environment variables, ``cycleml.yaml``
(its ``storage`` section), explicit arguments (CLI flags). :func:`resolve_settings` does the
merge once; the resulting :class:`Settings` object is passed down explicitly, never read
back from the environment by lower layers. The one exception is the server's API token,
which an ``http(s)://`` artifact store (opened from its URI alone) reads with
:func:`tracking_token`, the rule :func:`resolve_settings` uses.

With an ``http(s)://`` tracking URI and no artifact URI given (argument, the spec's
``storage``, ``CYCLEML_ARTIFACT_URI``), artifacts go through that server's blob proxy: the
artifact URI defaults to the tracking URI. Give one explicitly to let clients write to the
shared object storage directly.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = [
    "ENV_VARS",
    "PROJECT_FILE",
    "STATE_DIR",
    "EnvVar",
    "Settings",
    "default_actor",
    "find_project_root",
    "is_server_uri",
    "resolve_settings",
    "tracking_token",
]

#: The project spec's file name.
PROJECT_FILE = "cycleml.yaml"
#: The per-project state folder (metadata database, artifacts).
STATE_DIR = ".cycleml"


@dataclass(frozen=True)
class EnvVar:
    """One documented ``CYCLEML_*`` environment variable."""

    name: str
    field: str
    help: str


#: Every environment variable cycleml reads, and the settings field it fills.
ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("CYCLEML_HOME", "home", "Project folder; default: nearest folder with cycleml.yaml."),
    EnvVar("CYCLEML_METADATA_URI", "metadata_uri", "SQLAlchemy URI of the metadata store."),
    EnvVar("CYCLEML_ARTIFACT_URI", "artifact_uri", "Root URI of the artifact store."),
    EnvVar(
        "CYCLEML_TRACKING_URI",
        "tracking_uri",
        "Where tracking goes: a database URI, or http(s)://host:port for a cycleml server.",
    ),
    EnvVar(
        "CYCLEML_TRACKING_TOKEN",
        "tracking_token",
        "API token sent to a cycleml server; default: MLFLOW_TRACKING_TOKEN, if set.",
    ),
    EnvVar("CYCLEML_ACTOR", "actor", "Name recorded in the audit log; default: the OS user."),
    EnvVar(
        "CYCLEML_EXPERIMENT_NAME", "experiment_name", "Experiment for runs started without one."
    ),
)


def default_actor() -> str:
    """Return the OS user name, the default actor for audit records."""
    try:
        return getpass.getuser()
    except Exception:  # getuser raises various errors when no user name is known
        return "unknown"


def is_server_uri(uri: str | None) -> bool:
    """Whether ``uri`` names a ``cycleml server`` (``http://`` or ``https://``)."""
    return bool(uri) and str(uri).startswith(("http://", "https://"))


def tracking_token(environ: Mapping[str, str] | None = None) -> str | None:
    """The API token for a ``cycleml server`` in the environment (default ``os.environ``):
    ``CYCLEML_TRACKING_TOKEN``, else MLflow's ``MLFLOW_TRACKING_TOKEN``, so one exported
    token serves both clients."""
    env = os.environ if environ is None else environ
    return env.get("CYCLEML_TRACKING_TOKEN") or env.get("MLFLOW_TRACKING_TOKEN") or None


def find_project_root(start: Path | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` holding ``cycleml.yaml``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


@dataclass(frozen=True)
class Settings:
    """Resolved settings passed explicitly to stores and services.

    Attributes:
        home: The project folder; ``.cycleml/`` below it holds local state.
        metadata_uri: SQLAlchemy URI of the metadata store.
        artifact_uri: Root URI of the artifact store (a server's URI: its blob proxy).
        tracking_uri: Same as ``metadata_uri`` unless tracking goes to a server.
        actor: Who the audit log names for mutations made with these settings.
        experiment_name: Experiment for runs started without one (default "Default").
        tracking_token: The API token for a tracking server (never shown in ``repr``).
    """

    home: Path
    metadata_uri: str
    artifact_uri: str
    tracking_uri: str
    actor: str = field(default_factory=default_actor)
    experiment_name: str | None = None
    tracking_token: str | None = field(default=None, repr=False)

    @property
    def state_dir(self) -> Path:
        """The project's ``.cycleml`` folder."""
        return self.home / STATE_DIR

    def with_overrides(self, **overrides: str | Path | None) -> Settings:
        """Return a copy with the non-``None`` overrides applied."""
        clean = {k: v for k, v in overrides.items() if v is not None}
        return replace(self, **clean)  # type: ignore[arg-type]


def _default_metadata_uri(home: Path) -> str:
    return f"sqlite:///{home / STATE_DIR / 'metadata.db'}"


def _default_artifact_uri(home: Path) -> str:
    return (home / STATE_DIR / "artifacts").as_uri()


def resolve_settings(
    *,
    home: str | Path | None = None,
    metadata_uri: str | None = None,
    artifact_uri: str | None = None,
    tracking_uri: str | None = None,
    actor: str | None = None,
    environ: Mapping[str, str] | None = None,
    storage: Mapping[str, str | None] | None = None,
) -> Settings:
    """Merge defaults, environment, the spec's ``storage`` section and explicit arguments.

    Args:
        home: Project folder. Default: ``CYCLEML_HOME``, else the nearest folder with a
            ``cycleml.yaml``, else the current folder.
        metadata_uri: Explicit metadata store URI (highest precedence).
        artifact_uri: Explicit artifact store URI (default with an http(s) tracking URI:
            the tracking URI, so artifacts go through the server).
        tracking_uri: Explicit tracking URI.
        actor: Explicit audit actor.
        environ: Environment to read; default ``os.environ``.
        storage: The spec's ``storage`` section, if a spec was loaded.
    """
    env = os.environ if environ is None else environ
    from_env = {var.field: env[var.name] for var in ENV_VARS if env.get(var.name)}
    if home is not None:
        root = Path(home).expanduser().resolve()
    elif "home" in from_env:
        root = Path(from_env["home"]).expanduser().resolve()
    else:
        root = find_project_root() or Path.cwd().resolve()

    spec_storage = {k: v for k, v in (storage or {}).items() if v}
    meta = metadata_uri or spec_storage.get("metadata_uri") or from_env.get("metadata_uri")
    art = artifact_uri or spec_storage.get("artifact_uri") or from_env.get("artifact_uri")
    track = tracking_uri or from_env.get("tracking_uri")
    meta = meta or (track if track and not is_server_uri(track) else None)
    meta = meta or _default_metadata_uri(root)
    # Through a server, artifacts go through its blob proxy unless given explicitly.
    art = art or (track if track and is_server_uri(track) else _default_artifact_uri(root))
    return Settings(
        home=root,
        metadata_uri=meta,
        artifact_uri=art,
        tracking_uri=track or meta,
        actor=actor or from_env.get("actor") or default_actor(),
        experiment_name=from_env.get("experiment_name"),
        tracking_token=tracking_token(env),
    )
