"""``register_model``: a run's model folder as a registry version, with the run's metrics.

The registry reads no runs (DESIGN.md section 3: registry imports no other stage); the
metrics snapshot that deploy gates check is read here, in ``models`` (which may import
tracking and registry), and handed to :meth:`cycleml.registry.Models.register`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cycleml.registry import Models, ModelVersion
from cycleml.store import RunUri, database_of, parse_uri

__all__ = ["register_model", "register_run_model", "run_metrics"]


def run_metrics(models: Models, model_uri: str) -> dict[str, float] | None:
    """The latest metrics of the run a ``runs:/`` URI names (``None`` for other URIs).

    Read through tracking from the database ``models`` uses.

    Raises:
        NotFound: The run does not exist.
    """
    parsed = parse_uri(model_uri)
    if not isinstance(parsed, RunUri):
        return None  # Models.register refuses it with its own message
    from cycleml.tracking import SqlRunRepository, TrackingClient

    db = database_of(models.repository)
    if db is not None:
        return dict(SqlRunRepository(db).get_run(parsed.run_id).data.metrics)
    client = TrackingClient(models.settings)  # the settings' store: SQL, or a team server
    try:
        return dict(client.get_run(parsed.run_id).data.metrics)
    finally:
        client.close()


def register_run_model(
    models: Models,
    model_uri: str,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    signature: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """:func:`register_model` in ``models`` (a service the caller opened and closes)."""
    return models.register(
        name,
        model_uri,
        description=description,
        tags=tags,
        signature=signature,
        metrics=run_metrics(models, model_uri),
    )


def register_model(
    model_uri: str,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    signature: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Register ``runs:/<run_id>/<path>`` as the next version of ``name`` (as MLflow's
    ``mlflow.register_model``).

    The registry is the default tracker's project (the one ``cycleml.start_run`` and
    :func:`log_model` use). The version keeps a snapshot of the run's latest metrics,
    buffered ones included, which the deploy gates check when it moves to Staging or
    Production; later metrics of the run do not change it. Otherwise this is
    :meth:`cycleml.registry.Models.register`.

    Args:
        model_uri: ``runs:/<run_id>/<path>``, e.g. ``ModelInfo.model_uri``.
        name: Registered model name; the model is created when missing.
        description: The version's description.
        tags: The version's tags.
        signature: The model's signature (``Signature.to_dict()``); default: the one in
            the folder's ``model.yaml``.

    Raises:
        InvalidInput: The URI is not a ``runs:/`` URI, or the name is invalid.
        NotFound: The run does not exist or has no files at the URI.
    """
    from cycleml.tracking import get_tracker

    tracker = get_tracker()
    tracker.flush()  # the snapshot includes the metrics still in the buffer
    db = database_of(tracker.client.repository)  # the tracker's: it stays open
    models = Models(tracker.client.settings, store=db)
    try:
        return register_run_model(
            models, model_uri, name, description=description, tags=tags, signature=signature
        )
    finally:
        if db is None:
            models.close()
