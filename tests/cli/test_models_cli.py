"""``cycleml models tag|untag|update|rename|delete``: the registry's edits from the terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleml.cli import main
from cycleml.registry import SqlModelRepository
from cycleml.settings import resolve_settings
from cycleml.store import open_database


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(["--home", str(home), *args])
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A project with model ``churn``, versions 1 and 2, ``@champion`` on 2."""
    with open_database(resolve_settings(home=tmp_path)) as db:
        models = SqlModelRepository(db)
        models.create_registered_model("churn")
        for _ in range(2):
            models.create_model_version("churn", source="s3://bucket/churn")
        models.set_alias("churn", 2, "champion")
    return tmp_path


def _stored(home: Path) -> SqlModelRepository:
    return SqlModelRepository(open_database(resolve_settings(home=home)))


def test_models_tag_untag_and_update(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    assert cli(capsys, home, "models", "tag", "churn", "team", "growth")[0] == 0
    code, out, _ = cli(capsys, home, "models", "tag", "churn", "stage/ok", "yes", "--version", "2")
    assert (code, out.strip()) == (0, "Tagged models:/churn/2: stage/ok=yes.")
    code, _, _ = cli(capsys, home, "models", "update", "churn", "--description", "churn model")
    assert code == 0
    cli(capsys, home, "models", "update", "churn", "--version", "1", "--description", "first")
    repo = _stored(home)
    try:
        model = repo.get_registered_model("churn")
        assert (model.tags, model.description) == ({"team": "growth"}, "churn model")
        assert repo.get_model_version("churn", 2).tags == {"stage/ok": "yes"}
        assert repo.get_model_version("churn", 1).description == "first"
    finally:
        repo.close()

    code, out, _ = cli(capsys, home, "models", "untag", "churn", "stage/ok", "--version", "2")
    assert (code, out.strip()) == (0, "Removed tag stage/ok of models:/churn/2.")
    assert cli(capsys, home, "models", "untag", "churn", "team")[0] == 0
    code, _, err = cli(capsys, home, "models", "untag", "churn", "team")
    assert code == 1
    assert "Model 'churn' has no tag 'team'" in err
    code, _, err = cli(capsys, home, "models", "tag", "churn", "bad key!", "v")
    assert (code, "Invalid tag key 'bad key!'" in err) == (1, True)


def test_models_rename_and_delete(capsys: pytest.CaptureFixture[str], home: Path) -> None:
    code, out, _ = cli(capsys, home, "models", "rename", "churn", "churn-v2")
    assert (code, out.strip()) == (0, "Renamed model churn to churn-v2 (latest version: 2).")
    code, _, err = cli(capsys, home, "models", "show", "churn")
    assert (code, "No registered model named 'churn'" in err) == (1, True)

    code, out, _ = cli(capsys, home, "models", "delete", "churn-v2", "--version", "2")
    assert (code, out.strip()) == (0, "Deleted models:/churn-v2/2.")
    repo = _stored(home)
    try:
        assert [v.version for v in repo.list_model_versions("churn-v2")] == [1]
        assert repo.get_registered_model("churn-v2").aliases == {}
    finally:
        repo.close()
    code, out, _ = cli(capsys, home, "models", "delete", "churn-v2")
    assert (code, out.strip()) == (0, "Deleted model churn-v2.")
    code, out, _ = cli(capsys, home, "models", "list", "--json")
    assert (code, out.strip()) == (0, "[]")
    code, _, err = cli(capsys, home, "models", "delete", "churn-v2")
    assert (code, "No registered model named 'churn-v2'" in err) == (1, True)
