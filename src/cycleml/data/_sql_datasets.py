"""Datasets in the SQL metadata store: immutable versions, their parts, tags, lineage.

The data stage (``cycleml.data``) stages and hashes the rows; this module records what it
decided in one transaction, so a version is either fully visible or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from cycleml._api import warn_renamed
from cycleml.data._entities import (
    DatasetPart,
    DatasetVersion,
    watermark_from_json,
    watermark_to_json,
)
from cycleml.data._tables import dataset_parts, dataset_tags, dataset_versions, datasets
from cycleml.errors import NotFound
from cycleml.ids import new_id
from cycleml.store import (
    DatasetUri,
    SqlRepository,
    json_safe,
    now_ms,
    parse_dataset_uri,
    record_audit,
    record_edges,
)
from cycleml.validation import check_label, check_name

__all__ = ["DatasetOps", "check_dataset_name"]


def check_dataset_name(name: str) -> str:
    """Validate a dataset name (letters, digits, ``_ - .``)."""
    return check_name(name, kind="dataset name", max_len=200, example="'churn' or 'churn.raw'")


def _check_tag(tag: str) -> str:
    return check_label(
        tag,
        kind="dataset tag",
        max_len=100,
        reserved="'latest' is reserved",
        example="'prod' or 'training-2026-11'",
    )


class DatasetOps(SqlRepository):
    """Dataset operations of the SQL metadata store."""

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
        """Record a new version (the dataset is created when missing).

        Versions are content-addressed: when the dataset already has a version with this
        digest, that version is returned and nothing is written. Returns the version and
        whether it was created.
        """
        check_dataset_name(name)
        mark = watermark_to_json(watermark_value)  # typed: a timestamp reads back as itself
        stamp = now_ms()

        def write(conn: Connection) -> tuple[int, bool]:
            existing = conn.execute(
                select(dataset_versions.c.version).where(
                    and_(dataset_versions.c.name == name, dataset_versions.c.digest == digest)
                )
            ).scalar()
            if existing is not None:
                return int(existing), False
            if conn.execute(select(datasets.c.name).where(datasets.c.name == name)).first():
                conn.execute(
                    update(datasets).where(datasets.c.name == name).values(last_updated_time=stamp)
                )
            else:
                conn.execute(
                    insert(datasets).values(
                        name=name, description="", creation_time=stamp, last_updated_time=stamp
                    )
                )
                record_audit(
                    conn,
                    actor=self.actor,
                    action="dataset.create",
                    entity_kind="dataset",
                    entity_id=name,
                    payload={},
                    at=stamp,
                )
            version = (
                int(
                    conn.execute(
                        select(func.coalesce(func.max(dataset_versions.c.version), 0)).where(
                            dataset_versions.c.name == name
                        )
                    ).scalar_one()
                )
                + 1
            )
            version_id = new_id()
            rows = sum(part.row_count for part in parts)
            size = sum(part.bytes for part in parts)
            conn.execute(
                insert(dataset_versions).values(
                    name=name,
                    version=version,
                    version_id=version_id,
                    digest=digest,
                    schema=[dict(field) for field in schema],
                    row_count=rows,
                    bytes=size,
                    source=json_safe(dict(source)),
                    parent_version=parent_version,
                    watermark_column=watermark_column,
                    watermark_value=mark,
                    files=[dict(f) for f in files],
                    validation=json_safe(dict(validation)) if validation is not None else None,
                    user_id=self.actor,
                    creation_time=stamp,
                )
            )
            if parts:
                conn.execute(
                    insert(dataset_parts),
                    [
                        {
                            "version_id": version_id,
                            "part_no": i,
                            "digest": p.digest,
                            "row_count": p.row_count,
                            "bytes": p.bytes,
                        }
                        for i, p in enumerate(parts)
                    ],
                )
            target = f"{name}/{version}"
            lineage = [*edges]
            if source_identity:
                lineage.append(
                    ("source", source_identity, "ingested_into", "dataset_version", target)
                )
            if parent_version is not None:
                lineage.append(
                    (
                        "dataset_version",
                        f"{name}/{parent_version}",
                        "parent_of",
                        "dataset_version",
                        target,
                    )
                )
            record_edges(conn, lineage, at=stamp)
            record_audit(
                conn,
                actor=self.actor,
                action="dataset_version.create",
                entity_kind="dataset_version",
                entity_id=target,
                payload={
                    "digest": digest,
                    "rows": rows,
                    "bytes": size,
                    "parts": len(parts),
                    "parent_version": parent_version,
                    "source": json_safe(dict(source)),
                },
                at=stamp,
            )
            return version, True

        version, created = self._write(write)
        return self.get_dataset_version(name, version), created

    # ---- reading -----------------------------------------------------------------------
    def _dataset_version_from_row(self, conn: Connection, row: Any) -> DatasetVersion:
        parts = conn.execute(
            select(dataset_parts.c.digest, dataset_parts.c.row_count, dataset_parts.c.bytes)
            .where(dataset_parts.c.version_id == row.version_id)
            .order_by(dataset_parts.c.part_no)
        ).all()
        tags = (
            conn.execute(
                select(dataset_tags.c.tag)
                .where(and_(dataset_tags.c.name == row.name, dataset_tags.c.version == row.version))
                .order_by(dataset_tags.c.tag)
            )
            .scalars()
            .all()
        )
        return DatasetVersion(
            name=row.name,
            version=row.version,
            version_id=row.version_id,
            digest=row.digest,
            schema=list(row.schema),
            row_count=int(row.row_count),
            bytes=int(row.bytes),
            source=dict(row.source),
            parent_version=row.parent_version,
            watermark_column=row.watermark_column,
            watermark_value=watermark_from_json(row.watermark_value),
            files=list(row.files or []),
            validation=row.validation,
            user_id=row.user_id,
            creation_time=row.creation_time,
            parts=tuple(DatasetPart(d, int(r), int(b)) for d, r, b in parts),
            tags=tuple(tags),
        )

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version of a dataset; ``None`` means the latest."""
        with self._read() as conn:
            query = select(dataset_versions).where(dataset_versions.c.name == name)
            if version is None:
                query = query.order_by(dataset_versions.c.version.desc()).limit(1)
            else:
                query = query.where(dataset_versions.c.version == version)
            row = conn.execute(query).first()
            if row is None:
                known = conn.execute(select(datasets.c.name).where(datasets.c.name == name)).first()
                if known is None:
                    raise NotFound(
                        f"No dataset named {name!r}.",
                        hint="List datasets with `cycleml data list`.",
                    )
                raise NotFound(
                    f"Dataset {name!r} has no version {version}.",
                    hint=f"List its versions with `cycleml data show {name}`.",
                )
            return self._dataset_version_from_row(conn, row)

    def resolve_dataset_uri(self, uri: str | DatasetUri) -> DatasetVersion:
        """Resolve ``datasets:/name/3``, ``datasets:/name/latest`` or ``datasets:/name@tag``."""
        parsed = parse_dataset_uri(uri) if isinstance(uri, str) else uri
        if parsed.tag is not None:
            with self._read() as conn:
                version = conn.execute(
                    select(dataset_tags.c.version).where(
                        and_(dataset_tags.c.name == parsed.name, dataset_tags.c.tag == parsed.tag)
                    )
                ).scalar()
            if version is None:
                self.get_dataset_version(parsed.name)  # NotFound for an unknown dataset
                raise NotFound(
                    f"Dataset {parsed.name!r} has no tag {parsed.tag!r}.",
                    hint=f"Tag a version with `cycleml data tag {parsed.name} VERSION TAG`.",
                )
            return self.get_dataset_version(parsed.name, int(version))
        return self.get_dataset_version(parsed.name, parsed.version)

    def list_datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        with self._read() as conn:
            names = conn.execute(select(datasets.c.name).order_by(datasets.c.name)).scalars().all()
        return [self.get_dataset_version(name) for name in names]

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        self.get_dataset_version(name)
        with self._read() as conn:
            rows = conn.execute(
                select(dataset_versions)
                .where(dataset_versions.c.name == name)
                .order_by(dataset_versions.c.version)
            ).all()
            return [self._dataset_version_from_row(conn, row) for row in rows]

    # ---- aliases -----------------------------------------------------------------------
    def set_dataset_alias(self, name: str, version: int, alias: str) -> DatasetVersion:
        """Point ``datasets:/name@alias`` at a version (moving the alias if it existed).

        Stored as the dataset's tags (table ``dataset_tags``, audit action
        ``dataset.set_tag``): the storage keeps its names.
        """
        _check_tag(alias)
        target = self.get_dataset_version(name, version)

        def write(conn: Connection) -> None:
            before = conn.execute(
                select(dataset_tags.c.version).where(
                    and_(dataset_tags.c.name == name, dataset_tags.c.tag == alias)
                )
            ).scalar()
            conn.execute(
                dataset_tags.delete().where(
                    and_(dataset_tags.c.name == name, dataset_tags.c.tag == alias)
                )
            )
            conn.execute(insert(dataset_tags).values(name=name, tag=alias, version=target.version))
            record_audit(
                conn,
                actor=self.actor,
                action="dataset.set_tag",
                entity_kind="dataset",
                entity_id=name,
                payload={"tag": alias, "version": target.version, "previous_version": before},
            )

        self._write(write)
        return self.get_dataset_version(name, target.version)

    def set_dataset_tag(self, name: str, tag: str, version: int) -> DatasetVersion:
        """Deprecated alias of :meth:`set_dataset_alias`, with the old argument order."""
        warn_renamed(
            f"{type(self).__name__}.set_dataset_tag(name, tag, version)",
            f"{type(self).__name__}.set_dataset_alias(name, version, alias)",
        )
        return self.set_dataset_alias(name, version, tag)

    set_dataset_tag.__deprecated__ = "set_dataset_alias"  # type: ignore[attr-defined]
