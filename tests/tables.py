"""Every table cycleml creates: the kernel's and each stage's (for fixtures that reset or count)."""

from __future__ import annotations

from sqlalchemy import MetaData, Table

from cycleml.data._tables import metadata as data_tables
from cycleml.monitoring._tables import metadata as monitoring_tables
from cycleml.registry._tables import metadata as registry_tables
from cycleml.server._auth_tables import metadata as auth_tables
from cycleml.serving._tables import metadata as serving_tables
from cycleml.store._tables import metadata as kernel_tables
from cycleml.tracking._tables import metadata as tracking_tables

#: Each branch's table metadata, by branch name.
BRANCH_METADATA: dict[str, MetaData] = {
    "kernel": kernel_tables,
    "tracking": tracking_tables,
    "registry": registry_tables,
    "data": data_tables,
    "serving": serving_tables,
    "monitoring": monitoring_tables,
    "server": auth_tables,
}


def all_tables() -> list[Table]:
    """Every table, parents before children within each branch."""
    return [table for metadata in BRANCH_METADATA.values() for table in metadata.sorted_tables]


def table(name: str) -> Table:
    """One table by name, from whichever branch owns it."""
    for metadata in BRANCH_METADATA.values():
        if name in metadata.tables:
            return metadata.tables[name]
    raise KeyError(name)
