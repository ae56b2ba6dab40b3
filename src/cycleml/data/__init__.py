"""Data (lifecycle stages 2, 3 and 5): sources, versioned datasets, validation, profiles.

    import cycleml.data as data

    version = data.ingest("churn", "raw/churn-*.csv")          # a new immutable version
    frame = data.load("datasets:/churn/latest", output="pandas")

Everything streams through Arrow and DuckDB in bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cycleml.data._compare import Alert, ColumnProfile, Profile, ProfileComparison
from cycleml.data._compare import compare as compare_profiles
from cycleml.data._entities import DatasetPart, DatasetVersion
from cycleml.data._profile import profile
from cycleml.data._repository import DatasetRepository, SqlDatasetRepository
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
    Output,
    as_source,
    canonical_digest,
)
from cycleml.spec import Policy, load_project

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


def ingest(
    name: str,
    source: Any,
    *,
    mode: Literal["replace", "append"] = "replace",
    watermark: str | None = None,
    tags: Sequence[str] = (),
    rules: Any = None,
    policy: Policy | None = None,
) -> IngestResult:
    """Ingest a source into a new version of ``name`` in the current project.

    See :meth:`Datasets.ingest`; ``source`` may be a path, glob, folder, URI, an in-memory
    table or a :class:`Source`. Without ``rules``, the spec's ``validation.<name>`` rules
    and policy apply (when the project declares them).
    """
    settings, spec = load_project()
    declared = spec.validation.get(name) if spec is not None else None
    if rules is None and declared is not None:
        rules, policy = declared.rules, policy or declared.policy
    datasets = Datasets(settings)
    try:
        return datasets.ingest(
            name,
            source,
            mode=mode,
            watermark=watermark,
            tags=tags,
            rules=rules,
            policy=policy or "fail",
        )
    finally:
        datasets.close()


def load(
    ref: str | DatasetVersion, *, output: Output = "arrow", columns: Sequence[str] | None = None
) -> Any:
    """Load ``datasets:/name/N`` (or ``@tag``, ``/latest``, a bare name) of the current project.

    Inside an active run the read is recorded as the run's input.
    """
    datasets = Datasets()
    try:
        return datasets.load(ref, output=output, columns=columns)
    finally:
        datasets.close()
