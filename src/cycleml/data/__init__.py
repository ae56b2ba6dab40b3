"""Data (lifecycle stages 2, 3 and 5): sources, versioned datasets, validation, profiles.

Work in progress: the public names are re-exported here as the stage lands.
"""

from __future__ import annotations

__all__: list[str] = []
