"""Loader errors: every SpecError names the file, the line, the field and the valid values."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleml.errors import InvalidInput, SpecError
from cycleml.spec import find_spec, list_metrics, load_spec, parse_spec


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cycleml.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> SpecError:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    err = info.value
    assert err.details["file"] == str(path)
    assert str(path) in str(err)
    return err


def test_spec_error_is_invalid_input_and_value_error() -> None:
    with pytest.raises(InvalidInput):
        parse_spec("name: [")
    with pytest.raises(ValueError, match="malformed YAML"):
        parse_spec("name: [")


def test_load_spec_accepts_folder(tmp_path: Path) -> None:
    write(tmp_path, "name: folder\n")
    assert load_spec(tmp_path).name == "folder"
    assert load_spec(str(tmp_path / "cycleml.yaml")).name == "folder"


def test_missing_file_names_path_and_hints_init(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cycleml.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(missing)
    assert str(missing) in str(info.value)
    assert info.value.hint is not None
    assert "cycleml init" in info.value.hint


def test_malformed_yaml_reports_line(tmp_path: Path) -> None:
    text = "name: demo\nproblem:\n  task: binary\n  target: [label\nmetrics: []\n"
    err = load_error(tmp_path, text)
    assert "malformed YAML" in str(err)
    assert isinstance(err.details["line"], int)
    assert err.details["line"] >= 4
    assert f":{err.details['line']}:" in str(err)


def test_bad_indentation_reports_its_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: demo\nproblem:\n  task: binary\n target: y\n")
    assert err.details["line"] == 4


def test_empty_file(tmp_path: Path) -> None:
    err = load_error(tmp_path, "# only a comment\n")
    assert "empty" in str(err)


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "- name: a\n- name: b\n")
    assert "mapping" in str(err)
    assert "got a list" in str(err)
    assert "name" in err.details["valid"]


def test_unknown_metric_lists_valid_names_and_suggests(tmp_path: Path) -> None:
    text = "name: demo\nmetrics:\n  - name: f1\n  - name: roc_aux\n    threshold: 0.9\n"
    err = load_error(tmp_path, text)
    assert err.details["line"] == 4
    assert err.details["field"] == "metrics[1].name"
    assert err.details["valid"] == list_metrics()
    message = str(err)
    assert f"{err.details['file']}:4: metrics[1].name" in message
    assert "did you mean 'roc_auc'?" in message
    for name in ("accuracy", "log_loss", "median_ae", "rmse"):
        assert name in message


def test_unknown_field_lists_allowed_fields(tmp_path: Path) -> None:
    text = "name: demo\nmetrics:\n  - name: f1\n    treshold: 0.5\n"
    err = load_error(tmp_path, text)
    assert err.details["line"] == 4
    assert err.details["field"] == "metrics[0].treshold"
    assert err.details["valid"] == ["name", "direction", "threshold", "applies_to"]
    assert "allowed fields: name, direction, threshold, applies_to" in str(err)
    assert "did you mean 'threshold'?" in str(err)


def test_unknown_top_level_field(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: demo\nowner: me\n")
    assert err.details["line"] == 2
    assert err.details["field"] == "owner"
    assert set(err.details["valid"]) == {
        "name",
        "description",
        "problem",
        "metrics",
        "storage",
        "sources",
        "validation",
    }


def test_wrong_type_says_expected_and_received(tmp_path: Path) -> None:
    text = "name: demo\nmetrics:\n  - name: accuracy\n    threshold: high\n"
    err = load_error(tmp_path, text)
    assert err.details["line"] == 4
    assert err.details["field"] == "metrics[0].threshold"
    assert "expected a number, got a string 'high'" in str(err)


def test_quoted_number_is_refused_with_fix(tmp_path: Path) -> None:
    text = "name: demo\nmetrics:\n  - name: accuracy\n    threshold: '0.9'\n"
    err = load_error(tmp_path, text)
    assert "remove the quotes" in str(err)


def test_bad_task_value_lists_tasks(tmp_path: Path) -> None:
    text = "name: demo\nproblem:\n  task: classification\n  target: y\n"
    err = load_error(tmp_path, text)
    assert err.details["line"] == 3
    assert err.details["field"] == "problem.task"
    assert err.details["valid"] == ["binary", "multiclass", "regression"]
    assert "valid values: binary, multiclass, regression" in str(err)


def test_bad_applies_to_stage(tmp_path: Path) -> None:
    text = "name: demo\nmetrics:\n  - name: f1\n    applies_to:\n      - train\n      - deplyo\n"
    err = load_error(tmp_path, text)
    assert err.details["line"] == 6
    assert err.details["field"] == "metrics[0].applies_to[1]"
    assert err.details["valid"] == ["train", "deploy", "monitor"]
    assert "did you mean 'deploy'?" in str(err)


def test_missing_required_field(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: demo\nproblem:\n  target: y\n")
    assert err.details["field"] == "problem.task"
    assert err.details["line"] == 2
    assert "required field is missing" in str(err)
    assert err.details["valid"] == ["binary", "multiclass", "regression"]


def test_missing_name(tmp_path: Path) -> None:
    err = load_error(tmp_path, "description: no name\n")
    assert err.details["field"] == "name"
    assert err.details["line"] == 1


def test_section_of_wrong_type(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: demo\nstorage: s3://bucket\n")
    assert err.details["field"] == "storage"
    assert err.details["valid"] == ["metadata_uri", "artifact_uri"]
    assert "expected a mapping" in str(err)


def test_positive_class_must_be_scalar(tmp_path: Path) -> None:
    text = "name: demo\nproblem:\n  task: binary\n  target: y\n  positive_class: [1, 2]\n"
    err = load_error(tmp_path, text)
    assert err.details["field"] == "problem.positive_class"
    assert err.details["line"] == 5
    assert len(err.details["errors"]) == 1


def test_unquoted_date_for_string_field(tmp_path: Path) -> None:
    text = "name: demo\nproblem:\n  task: binary\n  target: y\n  timestamp: 2024-01-01\n"
    err = load_error(tmp_path, text)
    assert "got a date 2024-01-01" in str(err)
    assert "quotes" in str(err)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: demo\ndescription: a\nname: other\n")
    assert err.details["field"] == "name"
    assert err.details["line"] == 3
    assert "first on line 1" in str(err)


def test_all_problems_reported_first_in_details(tmp_path: Path) -> None:
    text = (
        "name: demo\n"
        "problem:\n"
        "  task: binry\n"
        "  target: y\n"
        "metrics:\n"
        "  - name: roc_aux\n"
        "    threshold: high\n"
        "colour: blue\n"
    )
    err = load_error(tmp_path, text)
    fields = [e["field"] for e in err.details["errors"]]
    assert fields == ["problem.task", "metrics[0].name", "metrics[0].threshold", "colour"]
    assert [e["line"] for e in err.details["errors"]] == [3, 6, 7, 8]
    assert err.details["field"] == "problem.task"
    assert err.details["line"] == 3
    lines = str(err).splitlines()
    assert "4 problems" in lines[0]
    assert len(lines) == 5
    for line, field in zip(lines[1:], fields, strict=True):
        assert f"{err.details['file']}:" in line
        assert field in line


def test_parse_spec_default_source() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec("name: demo\nbogus: 1\n")
    assert "<string>:2: bogus" in str(info.value)


def test_find_spec_walks_up(tmp_path: Path) -> None:
    write(tmp_path, "name: demo\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_spec(nested) == (tmp_path / "cycleml.yaml").resolve()
    other = tmp_path / "x"
    other.mkdir()
    assert find_spec(other) == (tmp_path / "cycleml.yaml").resolve()


def test_find_spec_none_when_absent(tmp_path: Path) -> None:
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    found = find_spec(lonely)
    assert found is None or not found.is_relative_to(lonely)
