"""Fixtures for the model packaging tests: real datasets, fitted models, a SQLite project.

``project`` configures the default tracker (``cycleml.start_run`` ...) on a SQLite store
in ``tmp_path`` and resets it afterwards; packaging does not depend on the backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

import cycleml
import cycleml.tracking
from cycleml.settings import Settings


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    """Breast-cancer features with an added categorical column, and the 0/1 target."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.copy()
    X["size"] = pd.Categorical(
        np.where(
            X["mean radius"] > 15, "large", np.where(X["mean radius"] > 12, "medium", "small")
        ),
        categories=["small", "medium", "large"],
    )
    return X, y


@pytest.fixture(scope="session")
def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    """The diabetes regression data."""
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y


@pytest.fixture
def project_settings(tmp_path: Path) -> Settings:
    """Settings on a SQLite store in ``tmp_path``."""
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    return Settings(
        home=tmp_path,
        metadata_uri=uri,
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        tracking_uri=uri,
        actor="tester",
    )


@pytest.fixture
def project(project_settings: Settings) -> Iterator[Settings]:
    """The default tracker configured on ``project_settings``; reset afterwards."""
    cycleml.configure(settings=project_settings)
    try:
        yield project_settings
    finally:
        cycleml.tracking._default.replace(None)
