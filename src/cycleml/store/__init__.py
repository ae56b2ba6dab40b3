"""The storage kernel every stage shares (DESIGN.md, section 2).

- :class:`Database` (open it with :func:`open_database`): the engine, migrated on open with
  every stage's Alembic branch, and the one transaction helper :meth:`Database.write`;
- the append-only audit log and the lineage edges, written in the transaction of the change
  they record (:func:`record_audit`, :func:`record_edges`) and read back
  (:meth:`Database.list_audit`, :meth:`Database.walk_lineage`);
- the artifact store (content-addressed blobs) and its index of owners' files;
- URIs (``runs:/``, ``models:/``, ``datasets:/``) and their parsing;
- opaque page tokens and page sizes of paged listings (:func:`encode_page_token`,
  :func:`decode_page_token`; :class:`RestRepository` follows the pages);
- the claim of a write's request id in the stage's own table (:class:`RequestLog`), so a
  retried server request is applied once;
- events between stages that may not import each other: a stage announces that a dataset
  version was read (:func:`notify_dataset_read`), another subscribes
  (:func:`subscribe_dataset_reads`).

Stage tables, entities and rules live in the stages, each with a repository on
:class:`SqlRepository`. The names that used to live here (``SqlMetadataStore``, the stage
entities) still import from here for one release, with a ``DeprecationWarning`` naming
their new home.
"""

from __future__ import annotations

from typing import Any

from cycleml.store._artifacts import (
    ArtifactBackend,
    ArtifactStore,
    Blob,
    open_artifact_store,
    register_artifact_backend,
    safe_relpath,
)
from cycleml.store._database import (
    Database,
    Direction,
    SqlRepository,
    acting_as,
    claimed_actor,
    database_of,
    dialect_insert,
    open_database,
)
from cycleml.store._engine import driver_sql
from cycleml.store._events import (
    DatasetRead,
    Subscription,
    notify_dataset_read,
    subscribe_dataset_reads,
)
from cycleml.store._http import RestRepository, url_segment
from cycleml.store._journal import json_safe, now_ms, record_audit, record_edges
from cycleml.store._migrate import head_revisions
from cycleml.store._pages import MAX_PAGE, check_page_size, decode_page_token, encode_page_token
from cycleml.store._records import ArtifactEntry, AuditRecord, LineageEdge, LineageGraph
from cycleml.store._requests import REQUEST_ID_TTL_MS, RequestLog
from cycleml.store._tables import ID_LEN, KEY_LEN, NAME_LEN, AutoId, table_metadata
from cycleml.store._uris import DatasetUri, ModelUri, RunUri, parse_dataset_uri, parse_uri

__all__ = [
    "ID_LEN",
    "KEY_LEN",
    "MAX_PAGE",
    "NAME_LEN",
    "REQUEST_ID_TTL_MS",
    "ArtifactBackend",
    "ArtifactEntry",
    "ArtifactStore",
    "AuditRecord",
    "AutoId",
    "Blob",
    "Database",
    "DatasetRead",
    "DatasetUri",
    "Direction",
    "LineageEdge",
    "LineageGraph",
    "ModelUri",
    "RequestLog",
    "RestRepository",
    "RunUri",
    "SqlRepository",
    "Subscription",
    "acting_as",
    "check_page_size",
    "claimed_actor",
    "database_of",
    "decode_page_token",
    "dialect_insert",
    "driver_sql",
    "encode_page_token",
    "head_revisions",
    "json_safe",
    "notify_dataset_read",
    "now_ms",
    "open_artifact_store",
    "open_database",
    "parse_dataset_uri",
    "parse_uri",
    "record_audit",
    "record_edges",
    "register_artifact_backend",
    "safe_relpath",
    "subscribe_dataset_reads",
    "table_metadata",
    "url_segment",
]


def __getattr__(name: str) -> Any:
    """The names that moved to the stages, for one release, with a DeprecationWarning."""
    from cycleml.lifecycle import _legacy_store

    return _legacy_store.moved(name, module=__name__)
