"""Liveness, version and Prometheus metrics of a team-server worker."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import text

from cycleml.server._app import ServerState, server_state
from cycleml.server._metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter(tags=["server"])


@router.get("/health")
def health(state: ServerState = Depends(server_state)) -> dict[str, Any]:
    """``{"status": "ok"}`` once the store answers a query (MLflow's clients probe this)."""
    with state.db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ok", "schema": state.db.schema_version}


@router.get("/version", response_class=Response)
def version() -> Response:
    """The server's cycleml version, as plain text (as MLflow's server answers)."""
    from cycleml import __version__

    return Response(__version__, media_type="text/plain")


@router.get("/metrics", response_class=Response)
def metrics(state: ServerState = Depends(server_state)) -> Response:
    """Prometheus metrics: requests and latencies by route, the store's pool."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
