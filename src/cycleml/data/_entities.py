"""Dataset versions and their parts as the dataset repository returns them.

Each entity's ``to_dict`` is its JSON on the wire (the team server's answer) and
``from_dict`` reads it back, so the router and :class:`~cycleml.data.RestDatasetRepository`
share one shape. A watermark may be a timestamp, a date, a number or text: it travels (and is
stored) in a typed encoding, ``{"type": "timestamp", "value": "2026-01-02T03:04:05+00:00"}``
(:func:`watermark_to_json`), which :func:`watermark_from_json` reads back to the same value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cycleml.errors import InvalidInput
from cycleml.store import json_safe

__all__ = [
    "WATERMARK_TYPES",
    "DatasetPart",
    "DatasetVersion",
    "watermark_from_json",
    "watermark_to_json",
]

#: The ``type`` of a watermark's typed encoding.
WATERMARK_TYPES = (
    "bool",
    "int",
    "float",
    "string",
    "timestamp",
    "date",
    "time",
    "decimal",
    "bytes",
)


def _zone_name(tzinfo: dt.tzinfo | None) -> str | None:
    """The IANA name of a named time zone (zoneinfo's ``key``, pytz's ``zone``), else None."""
    name = getattr(tzinfo, "key", None) or getattr(tzinfo, "zone", None)
    return str(name) if name else None


def watermark_to_json(value: Any) -> dict[str, Any] | None:
    """A watermark value as ``{"type": ..., "value": ...}`` (``None`` stays ``None``).

    Timestamps keep their offset, their time zone's name (``"tz"``) and, for a
    ``pandas.Timestamp`` (what Arrow gives for nanosecond columns), their nanoseconds
    (``"unit": "ns"``); floats JSON cannot hold are spelled ``"NaN"``, ``"Infinity"``.

    Raises:
        InvalidInput: The value is of no type a watermark can have.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return {"type": "bool", "value": value}
    if isinstance(value, numbers.Integral):
        return {"type": "int", "value": int(value)}
    if isinstance(value, float):
        return {"type": "float", "value": json_safe(float(value))}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, dt.datetime):
        typed: dict[str, Any] = {"type": "timestamp", "value": value.isoformat()}
        zone = _zone_name(value.tzinfo)
        if zone is not None:
            typed["tz"] = zone
        if hasattr(value, "nanosecond"):  # pandas.Timestamp: ISO text with 9 digits
            typed["unit"] = "ns"
        return typed
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, dt.time):
        return {"type": "time", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bytes):
        return {"type": "bytes", "value": base64.b64encode(value).decode("ascii")}
    raise InvalidInput(
        f"Invalid watermark value {value!r} ({type(value).__name__}): expected a timestamp, "
        "date, time, number, decimal, text or bytes.",
        hint="Pick a watermark column of one of those types.",
    )


def _timestamp(text: str, zone: str | None, unit: str | None) -> dt.datetime:
    if unit == "ns":
        import pandas as pd

        stamp = pd.Timestamp(text)
        return stamp.tz_convert(zone) if zone is not None else stamp
    value = dt.datetime.fromisoformat(text)
    if zone is not None:
        from zoneinfo import ZoneInfo

        value = value.astimezone(ZoneInfo(zone))
    return value


def watermark_from_json(data: Any) -> Any:
    """The value :func:`watermark_to_json` encoded (a plain JSON value, stored before the
    typed encoding existed, is returned as it is).

    Raises:
        InvalidInput: ``data`` is not a typed encoding this function can read.
    """
    if not isinstance(data, Mapping):
        return data
    kind, value = data.get("type"), data.get("value")
    readers: dict[str, tuple[type | tuple[type, ...], Any]] = {
        "bool": (bool, bool),
        "int": (int, int),
        "float": ((int, float, str), float),
        "string": (str, str),
        "timestamp": (str, lambda t: _timestamp(t, data.get("tz"), data.get("unit"))),
        "date": (str, dt.date.fromisoformat),
        "time": (str, dt.time.fromisoformat),
        "decimal": (str, Decimal),
        "bytes": (str, lambda t: base64.b64decode(t, validate=True)),
    }
    if not isinstance(kind, str) or kind not in readers:
        raise InvalidInput(
            f"Invalid watermark type {kind!r}: expected one of {', '.join(WATERMARK_TYPES)}.",
            details={"received": dict(data)},
        )
    accepted, read = readers[kind]
    if (isinstance(value, bool) and kind != "bool") or not isinstance(value, accepted):
        raise InvalidInput(f"Invalid {kind} watermark value {value!r}.")
    try:
        return read(value)
    except (ValueError, TypeError, KeyError, InvalidOperation, binascii.Error) as exc:
        raise InvalidInput(f"Invalid {kind} watermark value {value!r}: {exc}.") from exc


@dataclass(frozen=True)
class DatasetPart:
    """One Parquet blob of a dataset version."""

    digest: str
    row_count: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """The part as JSON."""
        return {"digest": self.digest, "row_count": self.row_count, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetPart:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(digest=data["digest"], row_count=data["row_count"], bytes=data["bytes"])


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
        """The version as JSON (the watermark in its typed encoding)."""
        return {
            "name": self.name,
            "version": self.version,
            "version_id": self.version_id,
            "digest": self.digest,
            "schema": [dict(field) for field in self.schema],
            "row_count": self.row_count,
            "bytes": self.bytes,
            "source": dict(self.source),
            "parent_version": self.parent_version,
            "watermark_column": self.watermark_column,
            "watermark_value": watermark_to_json(self.watermark_value),
            "files": [dict(entry) for entry in self.files],
            "validation": self.validation,
            "user_id": self.user_id,
            "creation_time": self.creation_time,
            "parts": [part.to_dict() for part in self.parts],
            "tags": list(self.tags),
            "uri": self.uri,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetVersion:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(
            name=data["name"],
            version=data["version"],
            version_id=data["version_id"],
            digest=data["digest"],
            schema=list(data["schema"]),
            row_count=data["row_count"],
            bytes=data["bytes"],
            source=dict(data["source"]),
            parent_version=data.get("parent_version"),
            watermark_column=data.get("watermark_column"),
            watermark_value=watermark_from_json(data.get("watermark_value")),
            files=list(data.get("files") or []),
            validation=data.get("validation"),
            user_id=data["user_id"],
            creation_time=data["creation_time"],
            parts=tuple(DatasetPart.from_dict(part) for part in data.get("parts") or ()),
            tags=tuple(data.get("tags") or ()),
        )
