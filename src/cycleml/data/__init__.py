"""Data (lifecycle stages 2, 3 and 5): sources, versioned datasets, validation, profiles.

    import cycleml.data as data

    version = data.ingest("churn", "raw/churn-*.csv")          # a new immutable version
    frame = data.load("datasets:/churn/latest", output="pandas")

``ingest`` and ``load`` are exactly ``Datasets().ingest(...)`` and ``Datasets().load(...)``
on the current project; ``profile`` and ``validate`` work on in-memory tables and files
(``Datasets.profile`` and ``Datasets.validate`` take a stored version).

Everything streams through Arrow and DuckDB in bounded memory.
"""

from __future__ import annotations

from cycleml._api import shortcut
from cycleml.data._compare import Alert, ColumnProfile, Profile, ProfileComparison
from cycleml.data._compare import compare as compare_profiles
from cycleml.data._entities import DatasetPart, DatasetVersion
from cycleml.data._profile import profile
from cycleml.data._repository import DatasetRepository, SqlDatasetRepository
from cycleml.data._rest import RestDatasetRepository
from cycleml.data._sources import (
    FileEntry,
    FileSource,
    FrameSource,
    Source,
    SqlSource,
    source_from_spec,
)
from cycleml.data._sql_datasets import check_dataset_name
from cycleml.data._validate import RuleResult, ValidationReport, split_failing, validate
from cycleml.data._versions import (
    CANONICAL_BATCH_ROWS,
    Datasets,
    IngestResult,
    as_source,
    canonical_digest,
)

__all__ = [
    "CANONICAL_BATCH_ROWS",
    "Alert",
    "ColumnProfile",
    "DatasetPart",
    "DatasetRepository",
    "DatasetVersion",
    "Datasets",
    "FileEntry",
    "FileSource",
    "FrameSource",
    "IngestResult",
    "Profile",
    "ProfileComparison",
    "RestDatasetRepository",
    "RuleResult",
    "Source",
    "SqlDatasetRepository",
    "SqlSource",
    "ValidationReport",
    "as_source",
    "canonical_digest",
    "check_dataset_name",
    "compare_profiles",
    "ingest",
    "load",
    "profile",
    "source_from_spec",
    "split_failing",
    "validate",
]


#: ``Datasets().ingest(...)`` on the current project (see :meth:`Datasets.ingest`).
ingest = shortcut(Datasets, Datasets.ingest)
#: ``Datasets().load(...)`` on the current project (see :meth:`Datasets.load`).
load = shortcut(Datasets, Datasets.load)
