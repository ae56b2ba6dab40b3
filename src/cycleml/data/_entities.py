"""Dataset versions and their parts as the dataset repository returns them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DatasetPart", "DatasetVersion"]


@dataclass(frozen=True)
class DatasetPart:
    """One Parquet blob of a dataset version."""

    digest: str
    row_count: int
    bytes: int


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable, content-addressed version of a dataset."""

    name: str
    version: int
    version_id: str
    digest: str
    schema: list[dict[str, Any]]
    row_count: int
    bytes: int
    source: dict[str, Any]
    parent_version: int | None
    watermark_column: str | None
    watermark_value: Any
    files: list[dict[str, Any]]
    validation: dict[str, Any] | None
    user_id: str
    creation_time: int
    parts: tuple[DatasetPart, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = {k: v for k, v in self.__dict__.items() if k != "parts"}
        data["parts"] = [part.__dict__ for part in self.parts]
        data["tags"] = list(self.tags)
        data["uri"] = self.uri
        return data
