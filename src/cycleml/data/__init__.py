"""Data (lifecycle stages 2, 3 and 5): sources, versioned datasets, validation, profiles.

Work in progress: the public names are re-exported here as the stage lands.
"""

from __future__ import annotations

from cycleml.data._versions import CANONICAL_BATCH_ROWS, Datasets, IngestResult, canonical_digest
from cycleml.store import DatasetVersion

__all__ = [
    "CANONICAL_BATCH_ROWS",
    "DatasetVersion",
    "Datasets",
    "IngestResult",
    "canonical_digest",
]
