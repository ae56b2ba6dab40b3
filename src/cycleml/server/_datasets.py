"""cycleml's data API (``/api/v1/datasets``): dataset versions over HTTP.

Every operation of :class:`cycleml.data.DatasetRepository` has one route, and
:class:`cycleml.data.RestDatasetRepository` calls them, so :class:`~cycleml.data.Datasets`
works against the server unchanged. The handlers are thin: pydantic checks a body's
structure, the stage's :class:`~cycleml.data.SqlDatasetRepository` on the worker's database
does the rest (names and aliases are checked there, with its own messages), and the entities
answer as their ``to_dict``. The rows themselves are Parquet blobs in the artifact store: a
version only lists their digests.

* **Resources by name**: ``/datasets/{name}/versions/{version}`` (``latest`` for the
  newest), ``/datasets/{name}/aliases/{alias}``; ``datasets:/`` URIs resolve at
  ``GET /resolve/dataset-uri?uri=`` (not under ``/datasets/``, where any word could be a
  dataset's name).
* **Creating a version is idempotent by content**: a dataset holds one version per digest,
  so ``POST /datasets/{name}/versions`` with a digest the dataset already has answers that
  version (200, ``"created": false``) and writes nothing; a new one answers 201. A retry
  of a request whose answer was lost therefore answers ``"created": false``.
* **Watermarks are typed**: ``{"type": "timestamp", "value": "2026-01-02T03:04:05+00:00"}``
  (also ``date``, ``time``, ``int``, ``float``, ``decimal``, ``string``, ``bool``,
  ``bytes``; :func:`cycleml.data._entities.watermark_to_json`), so a timestamp reads back
  as a timestamp.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel, Field, StrictInt, WithJsonSchema

from cycleml.data import DatasetPart, SqlDatasetRepository
from cycleml.data._entities import WATERMARK_TYPES, watermark_from_json
from cycleml.errors import InvalidInput
from cycleml.server._app import ServerState, server_state
from cycleml.server._auth import grant_creator, readable
from cycleml.server._routes import StrictBody, json_response, v1_router

__all__ = ["router"]


router = v1_router("datasets")

#: A watermark in its typed encoding (read by the stage's ``watermark_from_json``).
Watermark = Annotated[
    Any,
    WithJsonSchema(
        {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["type", "value"],
                    "properties": {
                        "type": {"type": "string", "enum": list(WATERMARK_TYPES)},
                        "value": {"description": "ISO-8601 text for times, base64 for bytes."},
                        "tz": {"type": "string", "description": "A time zone's IANA name."},
                        "unit": {"type": "string", "enum": ["ns"]},
                    },
                },
                {"type": "null"},
            ]
        }
    ),
]
_VERSION = re.compile(r"-?[0-9]+")
# The columns' ranges (Integer versions, BigInteger counts): PostgreSQL refuses a bigger
# number with a driver error, so it is refused here, as bad input.
_INT32 = 2**31 - 1
VersionNumber = Annotated[StrictInt, Field(ge=-_INT32 - 1, le=_INT32)]
Count = Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


def _repository(state: ServerState = Depends(server_state)) -> SqlDatasetRepository:
    return SqlDatasetRepository(state.db)


Repository = Annotated[SqlDatasetRepository, Depends(_repository)]


# ---- bodies and answers -----------------------------------------------------------------
class DatasetPartModel(StrictBody):
    """One Parquet blob of a version, by its digest in the artifact store."""

    digest: str = Field(description="The blob's BLAKE3 digest (64 hex characters).")
    row_count: Count
    bytes: Count


class DatasetVersionOut(BaseModel):
    """An immutable, content-addressed version of a dataset."""

    name: str
    version: int
    version_id: str
    digest: str = Field(description="BLAKE3 over the version's schema and rows.")
    schema_: list[dict[str, Any]] = Field(alias="schema", description="Columns: name, type.")
    row_count: int
    bytes: int
    source: dict[str, Any] = Field(description="Where the rows came from.")
    parent_version: int | None = Field(description="The version an append grew from.")
    watermark_column: str | None
    watermark_value: Watermark = Field(description="How far ingestion got, typed.")
    files: list[dict[str, Any]] = Field(description="The source files read so far.")
    validation: dict[str, Any] | None = Field(description="The validation report, if any.")
    user_id: str
    creation_time: int = Field(description="Milliseconds since the epoch.")
    parts: list[DatasetPartModel] = Field(description="Its Parquet blobs, in row order.")
    tags: list[str] = Field(description="The aliases pointing at it.")
    uri: str = Field(description="`datasets:/<name>/<version>`.")


class CreatedVersion(BaseModel):
    """The version a create request names, and whether the request created it."""

    created: bool = Field(description="False when the dataset already had this digest.")
    version: DatasetVersionOut


class DatasetList(BaseModel):
    """The latest version of every dataset, by name."""

    datasets: list[DatasetVersionOut]


class DatasetVersionList(BaseModel):
    """Versions of a dataset, oldest first."""

    versions: list[DatasetVersionOut]


class CreateVersion(StrictBody):
    """A new version of a dataset (the dataset is created when missing)."""

    digest: str = Field(description="BLAKE3 over the schema and rows; one version per digest.")
    schema_: list[dict[str, Any]] = Field(alias="schema", description="Columns: name, type.")
    parts: list[DatasetPartModel] = Field(description="Blobs already in the artifact store.")
    source: dict[str, Any] = Field(description="Where the rows came from.")
    source_identity: str | None = Field(
        None, description="Recorded as the lineage edge `source -> ingested_into -> version`."
    )
    parent_version: VersionNumber | None = None
    watermark_column: str | None = None
    watermark_value: Watermark = None
    files: list[dict[str, Any]] = Field(default_factory=list)
    validation: dict[str, Any] | None = None
    edges: list[tuple[str, str, str, str, str]] = Field(
        default_factory=list,
        description="More lineage edges: [src_kind, src_id, relation, dst_kind, dst_id].",
    )


class SetAlias(StrictBody):
    """The version an alias points at."""

    version: VersionNumber


def _version_number(version: str) -> int | None:
    """A version in a path: a number, or ``latest`` (None)."""
    if version == "latest":
        return None
    if not _VERSION.fullmatch(version):
        raise InvalidInput(
            f"Invalid dataset version {version!r}: expected a version number or 'latest'."
        )
    number = int(version)
    if abs(number) > _INT32:
        raise InvalidInput(f"Invalid dataset version {version}: versions are at most {_INT32}.")
    return number


# ---- versions -----------------------------------------------------------------------------
@router.post(
    "/datasets/{name}/versions",
    status_code=201,
    response_model=CreatedVersion,
    responses={200: {"model": CreatedVersion, "description": "The version already existed"}},
    summary="Create a dataset version",
)
def create_version(name: str, body: CreateVersion, repo: Repository, request: Request) -> Response:
    """Record a version whose parts are in the artifact store (201); when the dataset
    already has a version with this digest, that version (200, nothing written)."""
    watermark = watermark_from_json(body.watermark_value)
    version, created = repo.create_dataset_version(
        name,
        digest=body.digest,
        schema=body.schema_,
        parts=[DatasetPart(p.digest, p.row_count, p.bytes) for p in body.parts],
        source=body.source,
        source_identity=body.source_identity,
        parent_version=body.parent_version,
        watermark_column=body.watermark_column,
        watermark_value=watermark,
        files=body.files,
        validation=body.validation,
        edges=body.edges,
    )
    if created and version.version == 1:  # the dataset's first version: its creator manages it
        grant_creator(request, "dataset", version.name)
    return json_response(
        {"created": created, "version": version.to_dict()}, 201 if created else 200
    )


@router.get("/datasets", response_model=DatasetList, summary="List datasets")
def list_datasets(repo: Repository, request: Request) -> Response:
    """The latest version of every dataset, by name."""
    found = repo.list_datasets()
    allowed = readable(request, "dataset", (v.name for v in found))
    return json_response({"datasets": [v.to_dict() for v in found if v.name in allowed]})


@router.get("/datasets/{name}/versions", response_model=DatasetVersionList, summary="List versions")
def list_versions(name: str, repo: Repository) -> Response:
    """Every version of the dataset, oldest first (404 when it is missing)."""
    return json_response({"versions": [v.to_dict() for v in repo.list_dataset_versions(name)]})


@router.get(
    "/datasets/{name}/versions/{version}",
    response_model=DatasetVersionOut,
    summary="Get a dataset version",
)
def get_version(name: str, version: str, repo: Repository) -> Response:
    """One version, or the newest for ``latest`` (400 for anything else that is not a
    number, 404 when missing)."""
    return json_response(repo.get_dataset_version(name, _version_number(version)).to_dict())


# ---- aliases ------------------------------------------------------------------------------
@router.put(
    "/datasets/{name}/aliases/{alias}", response_model=DatasetVersionOut, summary="Set an alias"
)
def set_alias(name: str, alias: str, body: SetAlias, repo: Repository) -> Response:
    """Point ``datasets:/name@alias`` at a version (moving it if it pointed elsewhere); the
    version."""
    return json_response(repo.set_dataset_alias(name, body.version, alias).to_dict())


# ---- URIs ---------------------------------------------------------------------------------
@router.get(
    "/resolve/dataset-uri", response_model=DatasetVersionOut, summary="Resolve a datasets:/ URI"
)
def resolve_dataset_uri(
    repo: Repository,
    uri: Annotated[str, Query(description="`datasets:/name/3`, `datasets:/name@alias`, ...")],
) -> Response:
    """The version ``datasets:/name/3``, ``datasets:/name/latest`` or ``datasets:/name@alias``
    names."""
    return json_response(repo.resolve_dataset_uri(uri).to_dict())
