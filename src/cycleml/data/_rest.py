"""`RestDatasetRepository`: the dataset repository of a ``cycleml server``, over its ``/api/v1``.

The same protocol as :class:`~cycleml.data.SqlDatasetRepository`, so
:class:`~cycleml.data.Datasets` works against a server unchanged
(``CYCLEML_TRACKING_URI=http://host:port``), and the same repository tests run through it.
The transport (one keep-alive client, retries with backoff, errors re-raised as the class
the server raised) is the kernel's :class:`cycleml.store._http.ApiClient`. The rows are not
sent: a version lists the digests of Parquet blobs already in the artifact store.

Every request is retried: creating a version is idempotent by content (the server answers
the version a dataset already holds for a digest, writing nothing), and setting an alias is
a ``PUT`` of the same value. A retried create whose first answer was lost therefore reports
``created`` as false.

Names and aliases are refused here only when they cannot be a URL segment, and checked by
the server, with the same messages as the SQL repository. Watermarks travel in their typed
encoding (:func:`~cycleml.data._entities.watermark_to_json`), so a timestamp stays one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cycleml.data._entities import DatasetPart, DatasetVersion, watermark_to_json
from cycleml.data._repository import DatasetRepository
from cycleml.errors import InvalidInput
from cycleml.store import DatasetUri, RestRepository, json_safe, url_segment

__all__ = ["RestDatasetRepository"]


def _name(name: str) -> str:
    return url_segment(name, "dataset name")


def _version(version: int | None) -> str:
    if version is None:
        return "latest"
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(f"Invalid dataset version {version!r}: expected an integer.")
    return str(version)


def _dataset_uri_text(uri: DatasetUri) -> str:
    if uri.tag is not None:
        return f"datasets:/{uri.name}@{uri.tag}"
    return f"datasets:/{uri.name}/{uri.version if uri.version is not None else 'latest'}"


class RestDatasetRepository(RestRepository):
    """Datasets and their versions on a ``cycleml server``, through its REST API.

    Arguments as :class:`~cycleml.store.RestRepository` takes them.
    """

    def create_dataset_version(
        self,
        name: str,
        *,
        digest: str,
        schema: Sequence[Mapping[str, Any]],
        parts: Sequence[DatasetPart],
        source: Mapping[str, Any],
        source_identity: str | None = None,
        parent_version: int | None = None,
        watermark_column: str | None = None,
        watermark_value: Any = None,
        files: Sequence[Mapping[str, Any]] = (),
        validation: Mapping[str, Any] | None = None,
        edges: Sequence[tuple[str, str, str, str, str]] = (),
    ) -> tuple[DatasetVersion, bool]:
        """Record a new version (the dataset is created when missing); the version and
        whether it was created (false: the dataset already had this digest)."""
        body = {
            "digest": digest,
            "schema": [dict(field) for field in schema],
            "parts": [part.to_dict() for part in parts],
            # NaN and infinities as strings, as the SQL repository stores them.
            "source": json_safe(dict(source)),
            "source_identity": source_identity,
            "parent_version": parent_version,
            "watermark_column": watermark_column,
            "watermark_value": watermark_to_json(watermark_value),
            "files": json_safe([dict(entry) for entry in files]),
            "validation": json_safe(dict(validation)) if validation is not None else None,
            "edges": [list(edge) for edge in edges],
        }
        found = self._call("POST", f"/datasets/{_name(name)}/versions", body)
        return DatasetVersion.from_dict(found["version"]), bool(found["created"])

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version of a dataset; ``None`` means the latest."""
        path = f"/datasets/{_name(name)}/versions/{_version(version)}"
        return DatasetVersion.from_dict(self._call("GET", path))

    def resolve_dataset_uri(self, uri: str | DatasetUri) -> DatasetVersion:
        """Resolve ``datasets:/name/3``, ``datasets:/name/latest`` or ``datasets:/name@alias``."""
        text = uri if isinstance(uri, str) else _dataset_uri_text(uri)
        found = self._call("GET", "/resolve/dataset-uri", params={"uri": text})
        return DatasetVersion.from_dict(found)

    def list_datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        found = self._call("GET", "/datasets")
        return [DatasetVersion.from_dict(item) for item in found["datasets"]]

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        found = self._call("GET", f"/datasets/{_name(name)}/versions")
        return [DatasetVersion.from_dict(item) for item in found["versions"]]

    def set_dataset_alias(self, name: str, version: int, alias: str) -> DatasetVersion:
        """Point ``datasets:/name@alias`` at a version (moving the alias if it existed)."""
        path = f"/datasets/{_name(name)}/aliases/{url_segment(alias, 'dataset tag')}"
        return DatasetVersion.from_dict(self._call("PUT", path, {"version": version}))


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[DatasetRepository] = (
        RestDatasetRepository  # mypy: REST keeps the protocol
    )
