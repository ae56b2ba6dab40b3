"""Fixtures for the model-server tests: real models on scikit-learn's bundled data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from cycleml.models import PythonModel, PythonModelContext, save_model


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture(scope="session")
def forest(cancer: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    x, y = cancer
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)


@pytest.fixture(scope="session")
def forest_folder(
    tmp_path_factory: pytest.TempPathFactory,
    forest: RandomForestClassifier,
    cancer: tuple[pd.DataFrame, pd.Series],
) -> Path:
    x, _ = cancer
    return save_model(forest, tmp_path_factory.mktemp("models") / "forest", input_example=x.head())


@pytest.fixture(scope="session")
def logistic_folder(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    x, y = cancer
    model = LogisticRegression(max_iter=5000).fit(x, y)
    return save_model(model, tmp_path_factory.mktemp("models") / "logistic",
                      input_example=x.head())  # fmt: skip


class Exploding(PythonModel):
    """Predicts ``mean radius * 2`` and raises on a negative radius (a model bug)."""

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> object:
        if (model_input["mean radius"] < 0).any():
            raise RuntimeError("negative radius breaks this model")
        return (model_input["mean radius"] * 2).to_numpy()


@pytest.fixture(scope="session")
def exploding_folder(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    x, _ = cancer
    return save_model(Exploding(), tmp_path_factory.mktemp("models") / "exploding",
                      input_example=x.head())  # fmt: skip
