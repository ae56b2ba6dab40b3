"""`TrackingClient`: the explicit, stateless tracking API (MLflow's ``MlflowClient``)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.spec import project_settings
from cycleml.store import (
    ArtifactEntry,
    ArtifactStore,
    Database,
    RunUri,
    now_ms,
    open_artifact_store,
    open_database,
    parse_uri,
    safe_relpath,
)
from cycleml.tracking._entities import Experiment, Metric, Run
from cycleml.tracking._repository import RunRepository, SqlRunRepository
from cycleml.tracking._rest import RestRunRepository

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_EXPERIMENT", "TrackingClient", "runs_to_frame"]

#: Runs started without an experiment go here.
DEFAULT_EXPERIMENT = "Default"


class TrackingClient:
    """Create and query experiments and runs, log to them, and store their artifacts.

    Every method names the run or experiment it acts on; for the implicit "active run"
    style use the module-level functions (``cycleml.start_run`` ...).

    With an ``http(s)://`` tracking URI (``CYCLEML_TRACKING_URI``) experiments and runs live
    on that ``cycleml server`` (:class:`RestRunRepository`, with the settings' tracking
    token); anything else is a database URI (:class:`SqlRunRepository`). Artifact files go
    to the settings' artifact store either way, and their records to the repository.

    Args:
        settings: Resolved settings; default: :func:`cycleml.spec.project_settings`.
        repository: The repository to use; default: from the tracking URI, on ``store``
            when it names a database.
        store: An open database to use instead of opening one from settings.
        artifacts: An open artifact store to use instead of opening one from settings.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: RunRepository | None = None,
        store: Database | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.settings = settings or project_settings()
        self.repository: RunRepository
        if repository is not None:
            self.repository = repository
        elif store is None and self.settings.tracking_uri.startswith(("http://", "https://")):
            self.repository = RestRunRepository(
                self.settings.tracking_uri, token=self.settings.tracking_token
            )
        else:
            self.repository = SqlRunRepository(store or open_database(self.settings))
        self.artifacts = artifacts or open_artifact_store(self.settings.artifact_uri)

    def close(self) -> None:
        """Release database connections."""
        self.repository.close()

    # ---- experiments -----------------------------------------------------------------
    def create_experiment(self, name: str, *, tags: Mapping[str, str] | None = None) -> str:
        """Create an experiment and return its id."""
        return self.repository.create_experiment(
            name, artifact_location=self.artifacts.uri, tags=tags
        ).experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return an experiment by id."""
        return self.repository.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return an experiment by name, or ``None``."""
        return self.repository.get_experiment_by_name(name)

    def get_or_create_experiment(self, name: str) -> Experiment:
        """Return the active experiment with this name, creating it when missing."""
        found = self.repository.get_experiment_by_name(name)
        if found is None:
            try:
                return self.repository.get_experiment(self.create_experiment(name))
            except AlreadyExists:  # another thread or process created it just now
                found = self.repository.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise InvalidInput(
                f"Experiment {name!r} is deleted.",
                hint=f"Restore it with `cycleml experiments restore {name}` or use another name.",
            )
        return found

    def list_experiments(self, *, view: str = "active") -> list[Experiment]:
        """List experiments (``active``, ``deleted`` or ``all``)."""
        return self.repository.list_experiments(view=view)

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Rename an experiment."""
        return self.repository.rename_experiment(experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Soft-delete an experiment."""
        return self.repository.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> Experiment:
        """Restore a deleted experiment."""
        return self.repository.restore_experiment(experiment_id)

    # ---- runs ------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run."""
        return self.repository.create_run(
            experiment_id=experiment_id,
            run_name=run_name,
            tags=tags,
            parent_run_id=parent_run_id,
        )

    def get_run(self, run_id: str) -> Run:
        """Return a run with its latest metrics, params and tags."""
        return self.repository.get_run(run_id)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags of a run in one transaction."""
        self.repository.log_batch(run_id, metrics=metrics, params=params, tags=tags)

    def log_metric(
        self, run_id: str, key: str, value: float, *, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Write one metric point now (unbuffered)."""
        point = Metric(key, value, step, timestamp if timestamp is not None else now_ms())
        self.repository.log_batch(run_id, metrics=[point])

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Write one param; a different value for an existing key raises ParamConflict."""
        self.repository.log_batch(run_id, params={key: value})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set one tag (tags, unlike params, may change)."""
        self.repository.log_batch(run_id, tags={key: value})

    def set_terminated(
        self, run_id: str, status: str = "FINISHED", *, error: str | None = None
    ) -> None:
        """End a run with a terminal status."""
        self.repository.update_run(run_id, status=status, error=error)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """All points of one metric of a run."""
        return self.repository.get_metric_history(run_id, key)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self.repository.delete_runs([run_id])

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run."""
        self.repository.restore_runs([run_id])

    # ---- search ----------------------------------------------------------------------
    def _experiment_ids(
        self, experiment_ids: Sequence[str] | None, experiment_names: Sequence[str] | None
    ) -> list[str]:
        ids = list(experiment_ids or [])
        for name in experiment_names or []:
            found = self.repository.get_experiment_by_name(name)
            if found is None:
                raise NotFound(
                    f"No experiment named {name!r}.",
                    hint="List experiments with `cycleml experiments list`.",
                )
            ids.append(found.experiment_id)
        if not ids and experiment_ids is None and experiment_names is None:
            ids = [e.experiment_id for e in self.repository.list_experiments()]
        return ids

    @overload
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        experiment_names: Sequence[str] | None = None,
        output: Literal["list"] = "list",
        view: str = "active",
    ) -> list[Run]: ...

    @overload
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        experiment_names: Sequence[str] | None = None,
        *,
        output: Literal["pandas"],
        view: str = "active",
    ) -> pd.DataFrame: ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        experiment_names: Sequence[str] | None = None,
        output: Literal["list", "pandas"] = "list",
        view: str = "active",
    ) -> list[Run] | pd.DataFrame:
        """Search runs with MLflow's filter grammar.

        Args:
            experiment_ids: Experiments to search; ``None`` with no names: all active ones.
            filter_string: e.g. ``"metrics.auc > 0.8 and params.model = 'rf'"``.
            order_by: e.g. ``["metrics.auc DESC"]``; default newest first.
            max_results: Page size (1-50,000).
            page_token: Continue a previous search (see :meth:`search_runs_page`).
            experiment_names: Experiments to search, by name.
            output: ``"list"`` of :class:`Run`, or ``"pandas"`` for a DataFrame with
                MLflow's columns (``run_id``, ``status``, ``metrics.<k>`` ...).
            view: ``active``, ``deleted`` or ``all`` runs.
        """
        if output not in ("list", "pandas"):
            raise InvalidInput(f"Invalid output {output!r}: expected 'list' or 'pandas'.")
        found, _ = self.search_runs_page(
            experiment_ids=experiment_ids,
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            experiment_names=experiment_names,
            view=view,
        )
        return runs_to_frame(found) if output == "pandas" else found

    def search_runs_page(
        self,
        *,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        experiment_names: Sequence[str] | None = None,
        view: str = "active",
    ) -> tuple[list[Run], str | None]:
        """One page of :meth:`search_runs` and the token of the next page (or ``None``)."""
        return self.repository.search_runs(
            experiment_ids=self._experiment_ids(experiment_ids, experiment_names),
            filter_string=filter_string,
            order_by=order_by,
            max_results=max_results,
            page_token=page_token,
            view=view,
        )

    # ---- artifacts -------------------------------------------------------------------
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactEntry:
        """Store one local file under ``artifact_path/<file name>`` of the run."""
        source = Path(local_path)
        if not source.is_file():
            raise InvalidInput(
                f"Cannot log artifact {str(source)!r}: no such file.",
                hint="Pass the path of an existing file; use log_artifacts for a folder.",
            )
        # safe_relpath on artifact_path itself: stripping its slashes first would turn an
        # absolute "/etc" into the relative "etc" instead of refusing it.
        logical = safe_relpath(
            f"{safe_relpath(artifact_path)}/{source.name}" if artifact_path else source.name
        )
        blob = self.artifacts.put_file(source)
        entry = ArtifactEntry(logical, blob.digest, blob.size)
        self.repository.record_artifacts(run_id, [entry])
        return entry

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Store every file below a local folder, keeping relative paths."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidInput(f"Cannot log artifacts from {str(root)!r}: no such folder.")
        prefix = safe_relpath(artifact_path) + "/" if artifact_path else ""
        entries = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            blob = self.artifacts.put_file(path)
            logical = safe_relpath(prefix + path.relative_to(root).as_posix())
            entries.append(ArtifactEntry(logical, blob.digest, blob.size))
        self.repository.record_artifacts(run_id, entries)
        return entries

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> ArtifactEntry:
        """Store bytes as one artifact file of the run."""
        logical = safe_relpath(artifact_file)
        blob = self.artifacts.put_bytes(data)
        entry = ArtifactEntry(logical, blob.digest, blob.size)
        self.repository.record_artifacts(run_id, [entry])
        return entry

    def log_text(self, run_id: str, text: str, artifact_file: str) -> ArtifactEntry:
        """Store text (UTF-8) as one artifact file."""
        return self.log_bytes(run_id, text.encode("utf-8"), artifact_file)

    def log_dict(
        self, run_id: str, dictionary: Mapping[str, Any], artifact_file: str
    ) -> ArtifactEntry:
        """Store a dict as JSON, or as YAML when the file name ends in .yaml/.yml."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            try:
                text = yaml.safe_dump(dict(dictionary), sort_keys=False)
            except yaml.YAMLError as exc:  # e.g. a numpy scalar or another custom object
                raise InvalidInput(
                    f"Cannot write {artifact_file!r} as YAML: {exc}",
                    hint="Convert values to plain str/int/float/list/dict, or log it as .json.",
                ) from exc
        else:
            text = json.dumps(dictionary, indent=2, default=str)
        return self.log_text(run_id, text, artifact_file)

    def list_artifacts(self, run_id: str, path: str = "") -> list[ArtifactEntry]:
        """Files logged to a run at or below ``path``."""
        return self.repository.list_artifacts(run_id, path)

    def download_artifacts(
        self, uri_or_run_id: str, path: str = "", dst_path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Copy artifacts to a local folder; return the local path of what was asked for.

        ``uri_or_run_id`` is a run id (with ``path``) or a ``runs:/`` URI.
        """
        uri = uri_or_run_id
        if uri.startswith("models:/"):
            # The registry resolves models:/ URIs; tracking does not import it (DESIGN.md s. 3).
            raise InvalidInput(
                f"Cannot download {uri!r} with the tracking client: it names a registered "
                "model, not a run.",
                hint="Use cycleml.models.fetch_model(uri) for a model's files, or pass the "
                "version's runs:/ source.",
            )
        if not uri.startswith("runs:/"):
            uri = f"runs:/{uri_or_run_id}/{path}".rstrip("/")
        parsed = parse_uri(uri)
        assert isinstance(parsed, RunUri)
        entries = self.repository.list_artifacts(parsed.run_id, parsed.path)
        if parsed.path and not entries:
            raise NotFound(
                f"Run {parsed.run_id} has no artifact at {parsed.path!r}.",
                hint=f"List its files with `cycleml runs show {parsed.run_id}`.",
            )
        if not entries:
            raise NotFound(f"Nothing is stored at {uri!r}.")
        target = (
            Path(dst_path) if dst_path is not None else Path(tempfile.mkdtemp(prefix="cycleml-"))
        )
        for entry in entries:
            self.artifacts.download(entry.digest, target / entry.path)
        return target / parsed.path if parsed.path else target

    def read_artifact(self, run_id: str, path: str) -> bytes:
        """Return the bytes of one artifact file."""
        clean = safe_relpath(path)
        for entry in self.repository.list_artifacts(run_id, clean):
            if entry.path == clean:
                return self.artifacts.get_bytes(entry.digest)
        raise NotFound(f"Run {run_id} has no artifact file {clean!r}.")


def runs_to_frame(found: Sequence[Run]) -> pd.DataFrame:
    """Runs as a DataFrame with MLflow's ``search_runs`` column names."""
    import pandas as pd

    records = []
    for run in found:
        info = run.info
        record: dict[str, Any] = {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "run_name": info.run_name,
            "status": info.status,
            "artifact_uri": info.artifact_uri,
            "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True)
            if info.end_time is not None
            else pd.NaT,
        }
        record.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        record.update({f"params.{k}": v for k, v in run.data.params.items()})
        record.update({f"tags.{k}": v for k, v in run.data.tags.items()})
        records.append(record)
    base = [
        "run_id",
        "experiment_id",
        "run_name",
        "status",
        "artifact_uri",
        "start_time",
        "end_time",
    ]
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame(columns=base)
    extra = sorted(c for c in frame.columns if c not in base)
    return frame[base + extra]
