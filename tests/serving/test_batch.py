"""Batch scoring: chunks from Parquet, CSV and dataset versions; lineage; nothing half-written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner

from cycleml.cli import app
from cycleml.errors import InvalidInput, SignatureError
from cycleml.serving import score_batch
from cycleml.settings import resolve_settings
from cycleml.store import open_database


def test_parquet_in_chunks_matches_the_model_and_records_lineage(
    forest_folder: Path, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, pd.Series],
    tmp_path: Path,
) -> None:  # fmt: skip
    x, _ = cancer
    source = tmp_path / "patients.parquet"
    x.to_parquet(source, row_group_size=100)
    settings = resolve_settings(home=tmp_path)
    seen: list[tuple[int, int | None]] = []
    report = score_batch(str(forest_folder), source, tmp_path / "out" / "scored.parquet",
                         settings=settings, chunk_rows=50,
                         progress=lambda done, total: seen.append((done, total)))  # fmt: skip
    scored = pq.read_table(report.output).to_pandas()
    assert report.rows == len(x) == len(scored)
    assert scored["prediction"].tolist() == forest.predict(x).tolist()
    np.testing.assert_allclose(scored[["proba_0", "proba_1"]], forest.predict_proba(x))
    assert list(scored.columns[: len(x.columns)]) == list(x.columns)
    assert seen[-1] == (len(x), len(x))
    assert len(seen) == -(-len(x) // 50)
    with open_database(settings) as db:
        edges = db.lineage_edges("batch_prediction", report.id)
    sources = {(e.src_kind, e.src_id) for e in edges}
    assert ("file", str(source.resolve())) in sources


def test_csv_input_and_the_cli_with_a_dataset_version(
    forest_folder: Path, forest: RandomForestClassifier, cancer: tuple[pd.DataFrame, pd.Series],
    tmp_path: Path,
) -> None:  # fmt: skip
    x, _ = cancer
    csv = tmp_path / "patients.csv"
    x.head(40).to_csv(csv, index=False)
    report = score_batch(str(forest_folder), csv, tmp_path / "csv.parquet",
                         settings=resolve_settings(home=tmp_path))  # fmt: skip
    assert pq.read_table(report.output).column("prediction").to_pylist() == (
        forest.predict(x.head(40)).tolist()
    )
    from cycleml.data import Datasets, FrameSource

    datasets = Datasets(resolve_settings(home=tmp_path))
    datasets.ingest("patients", FrameSource(x))
    datasets.close()
    result = CliRunner().invoke(app, ["--home", str(tmp_path), "predict", str(forest_folder),
                                      "--input", "datasets:/patients/1",
                                      "--output", str(tmp_path / "ds.parquet")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Scored 569 rows" in result.output
    assert pq.read_metadata(tmp_path / "ds.parquet").num_rows == len(x)


def test_destination_by_keyword_and_the_deprecated_output_keyword(
    forest_folder: Path, cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, _ = cancer
    source = tmp_path / "patients.parquet"
    x.head(20).to_parquet(source)
    settings = resolve_settings(home=tmp_path)
    report = score_batch(str(forest_folder), source, destination=tmp_path / "a.parquet",
                         settings=settings)  # fmt: skip
    assert (report.output, report.rows) == (tmp_path / "a.parquet", 20)
    with pytest.warns(DeprecationWarning, match=r"score_batch\(output=\.\.\.\) is deprecated.*"
                      r"use score_batch\(destination=\.\.\.\)"):  # fmt: skip
        old = score_batch(str(forest_folder), source, output=tmp_path / "b.parquet",
                          settings=settings)  # fmt: skip
    assert (old.output, old.rows) == (tmp_path / "b.parquet", 20)
    assert pq.read_table(old.output).equals(pq.read_table(report.output))
    with (
        pytest.warns(DeprecationWarning, match="output"),
        pytest.raises(InvalidInput, match="both destination= and output="),
    ):
        score_batch(str(forest_folder), source, tmp_path / "c.parquet",
                    output=tmp_path / "d.parquet", settings=settings)  # fmt: skip
    with pytest.raises(InvalidInput, match="needs the Parquet file to write"):
        score_batch(str(forest_folder), source, settings=settings)
    assert not (tmp_path / "c.parquet").exists()
    assert not (tmp_path / "d.parquet").exists()


def test_bad_input_leaves_no_output(
    forest_folder: Path, cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    x, _ = cancer
    settings = resolve_settings(home=tmp_path)
    out = tmp_path / "scored.parquet"
    with pytest.raises(InvalidInput, match="not found"):
        score_batch(str(forest_folder), tmp_path / "missing.parquet", out, settings=settings)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="Parquet"):
        score_batch(str(forest_folder), tmp_path / "notes.txt", out, settings=settings)
    broken = x.copy()
    broken.loc[150, "mean radius"] = np.nan  # a null in a column that allows none
    broken.to_parquet(tmp_path / "broken.parquet", row_group_size=100)
    with pytest.raises(SignatureError, match="Rows from 101"):
        score_batch(str(forest_folder), tmp_path / "broken.parquet", out, settings=settings,
                    chunk_rows=100)  # fmt: skip
    with pytest.raises(InvalidInput, match="chunk_rows"):
        score_batch(str(forest_folder), tmp_path / "broken.parquet", out, chunk_rows=0)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
