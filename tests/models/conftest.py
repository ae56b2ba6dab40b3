"""Fixtures for the model packaging tests: real datasets, fitted models, a SQLite project.

``project`` points the default tracker (``cycleml.start_run`` ...) at the root
``sqlite_settings`` and resets it afterwards; packaging does not depend on the backend.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from cycleml.settings import Settings
from cycleml.tracking import Tracker


@pytest.fixture(scope="session")
def cancer_with_size(cancer: tuple[pd.DataFrame, pd.Series]) -> tuple[pd.DataFrame, pd.Series]:
    """The root ``cancer`` features with an added categorical column, and the 0/1 target."""
    X, y = cancer
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
def project(sqlite_settings: Settings, default_tracker: Callable[..., Tracker]) -> Settings:
    """The default tracker configured on ``sqlite_settings``; reset afterwards."""
    default_tracker(settings=sqlite_settings)
    return sqlite_settings
