"""Fixed-width patterns agree with DuckDB's RE2 ``regexp_full_match`` on every value."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cycleml.data import validate
from cycleml.data._patterns import count_fixed_width_mismatches, fixed_width_tables

PATTERNS = [
    "[A-Z]{2}-[0-9]{4}",
    "^\\d{5}$",
    "[0-9a-f]{8}",
    "\\w\\w_[a-c]{0}x",
    "AB\\.\\-[]x]",
    "[-a][a-]z",
    "user_[0-9]{3}",
]
NOT_FIXED = [
    "[A-Z]+", "a{2,3}", "a|b", "(ab)", ".x", "[^a]", "\\s", "é{2}", "a?", "[[:alpha:]]",
    "", "^$", "[z-a]", "a{", "\\",
]  # fmt: skip


def duckdb_failures(values: list[str | None], pattern: str) -> int:
    con = duckdb.connect()
    con.register("data", pa.table({"v": pa.array(values, pa.string())}))
    quoted = pattern.replace("'", "''")
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE NOT regexp_full_match(v, '{quoted}')) FROM data"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("pattern", NOT_FIXED)
def test_patterns_outside_the_fixed_width_subset_are_left_to_the_regex_engine(
    pattern: str,
) -> None:
    assert fixed_width_tables(pattern) is None


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fixed_width_patterns_compile(pattern: str) -> None:
    assert fixed_width_tables(pattern) is not None


ALPHABET = "AZaz09-_.x]é\n "


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    values=st.lists(st.none() | st.text(alphabet=ALPHABET, max_size=9), max_size=40),
    slice_from=st.integers(0, 3),
)
def test_counts_equal_re2(pattern: str, values: list[str | None], slice_from: int) -> None:
    table = fixed_width_tables(pattern)
    assert table is not None
    array = pa.array(values, pa.string()).slice(min(slice_from, len(values)))
    expected = duckdb_failures(array.to_pylist(), pattern)
    assert count_fixed_width_mismatches(array, table) == expected
    large = pa.chunked_array([array.cast(pa.large_string()), array.cast(pa.large_string())])
    assert count_fixed_width_mismatches(large, table) == 2 * expected


def test_matching_values_of_the_exact_width_take_the_contiguous_path() -> None:
    table = fixed_width_tables("[A-Z]{2}-[0-9]{4}")
    assert table is not None
    good = pa.array(["AB-1234", "ZZ-0000"] * 1000)
    assert count_fixed_width_mismatches(good, table) == 0
    assert count_fixed_width_mismatches(pa.array(["AB-1234", "ab-1234", "AB-12345"]), table) == 2


def test_validate_reports_the_same_result_and_samples_either_way(tmp_path: object) -> None:
    values = ["AB-1234", None, "A1-0000", "CD-99999", "ÉF-1234", "XY-0001"]
    rule = {"rule": "regex", "column": "code", "pattern": "[A-Z]{2}-[0-9]{4}"}
    in_memory = validate(pa.table({"code": values}), [rule])
    result = in_memory.results[0]
    assert result.failing_count == 3
    assert [s["row"] for s in result.samples] == [3, 4, 5]
    relation = duckdb.sql("SELECT * FROM (VALUES ('AB-1234'), (NULL), ('A1-0000'), "
                          "('CD-99999'), ('ÉF-1234'), ('XY-0001')) t(code)")  # fmt: skip
    via_sql = validate(relation, [rule]).results[0]
    assert via_sql.failing_count == result.failing_count
    assert via_sql.samples == result.samples
