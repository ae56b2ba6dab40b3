"""Expanding the prediction log's JSON inputs and outputs into columns."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from cycleml.errors import InvalidInput
from cycleml.monitoring._logs import expand_log
from cycleml.serving import PREDICTION_LOG_SCHEMA


def _log(inputs: list[object], outputs: list[object]) -> pa.Table:
    n = len(inputs)
    return pa.table(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "time": pa.array(list(range(n)), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            "deployment": ["d"] * n,
            "model_name": ["m"] * n,
            "model_version": [1] * n,
            "arm": ["primary"] * n,
            "inputs": [None if v is None else json.dumps(v) for v in inputs],
            "outputs": [None if v is None else json.dumps(v) for v in outputs],
            "latency_ms": [1.0] * n,
        },
        schema=PREDICTION_LOG_SCHEMA,
    )


def test_inputs_become_columns_and_binary_scores_are_the_last_class() -> None:
    log = _log(
        [{"age": 40, "plan": "basic"}, {"age": 51.5, "plan": None}],
        [{"prediction": 1, "probabilities": [0.2, 0.8]},
         {"prediction": 0, "probabilities": [0.7, 0.3]}],
    )  # fmt: skip
    out = expand_log(log)
    assert out.column("age").to_pylist() == [40.0, 51.5]
    assert out.column("plan").to_pylist() == ["basic", None]
    assert out.column("prediction").to_pylist() == [1, 0]
    assert out.column("score").to_pylist() == pytest.approx([0.8, 0.3])
    assert out.column("request_id").to_pylist() == ["r0", "r1"]


def test_schema_casts_columns_of_a_window_that_reads_otherwise() -> None:
    log = _log([{"age": 40}, {"age": 41}], [{"prediction": 1}, {"prediction": 0}])
    out = expand_log(log, schema=pa.schema([pa.field("age", pa.float64())]))
    assert out.schema.field("age").type == pa.float64()
    assert "score" not in out.column_names  # no probabilities logged


def test_multiclass_keeps_the_probability_lists_without_a_score() -> None:
    log = _log([{"x": 1}], [{"prediction": "b", "probabilities": [0.1, 0.6, 0.3]}])
    out = expand_log(log)
    assert out.column("probabilities").to_pylist() == [[0.1, 0.6, 0.3]]
    assert "score" not in out.column_names


def test_an_input_named_like_a_log_column_is_kept_apart() -> None:
    out = expand_log(_log([{"time": 3, "x": 1}], [{"prediction": 1}]))
    assert out.column("input_time").to_pylist() == [3]


def test_labels_joined_to_the_log_are_kept() -> None:
    log = _log([{"x": 1}], [{"prediction": 1}]).append_column("label", pa.array([0]))
    assert expand_log(log).column("label").to_pylist() == [0]


def test_not_a_log_is_refused_and_an_empty_log_is_empty() -> None:
    with pytest.raises(InvalidInput, match="Not a prediction log"):
        expand_log(pa.table({"x": [1]}))
    assert expand_log(PREDICTION_LOG_SCHEMA.empty_table()).num_rows == 0
