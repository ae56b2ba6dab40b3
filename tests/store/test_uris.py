"""``runs:/`` and ``models:/`` URIs: parsing (no database) and resolving (both backends)."""

from __future__ import annotations

from typing import Any

import pytest

from cycleml.errors import InvalidInput, NotFound
from cycleml.registry import ModelRepository
from cycleml.store import ArtifactEntry, ModelUri, RunUri, parse_uri
from cycleml.tracking import RunRepository
from cycleml.tracking._entities import Experiment, Run

RID = "0123456789abcdef0123456789abcdef"
DIGEST = "d" * 64

# ---- parse_uri ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"runs:/{RID}", RunUri(RID, "")),
        (f"runs:/{RID}/", RunUri(RID, "")),
        (f"runs:/{RID}/model", RunUri(RID, "model")),
        (f"runs:/{RID}/model/weights.bin", RunUri(RID, "model/weights.bin")),
        (f"runs:/{RID}/model/", RunUri(RID, "model")),
        (f"runs:/{RID}//model//sub///", RunUri(RID, "model/sub")),
        (f"runs:/{RID}/./model/./x", RunUri(RID, "model/x")),
        (f"runs:/{RID}/.", RunUri(RID, "")),
        (f"runs:/{RID}/model\\x", RunUri(RID, "model/x")),
        (f"runs:/{RID}/with space/ü.txt", RunUri(RID, "with space/ü.txt")),
        (f"runs:/{RID}/a@b", RunUri(RID, "a@b")),
        ("models:/churn/1", ModelUri("churn", version=1)),
        ("models:/churn/12", ModelUri("churn", version=12)),
        ("models:/churn/007", ModelUri("churn", version=7)),
        ("models:/churn/latest", ModelUri("churn", latest=True)),
        ("models:/churn/LATEST", ModelUri("churn", latest=True)),
        ("models:/churn/Production", ModelUri("churn", stage="Production")),
        ("models:/churn/staging", ModelUri("churn", stage="staging")),
        ("models:/churn@champion", ModelUri("churn", alias="champion")),
        ("models:/my.model-v2_x@c-1", ModelUri("my.model-v2_x", alias="c-1")),
    ],
)
def test_parse_valid_uris(uri: str, expected: RunUri | ModelUri) -> None:
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "runs:/",
        "runs:/abc/model",  # short id
        f"runs:/{RID.upper()}/model",  # upper-case hex
        f"runs:/{RID}0/model",  # 33 characters
        f"runs:/{RID}model",  # no separator
        f"runs://{RID}/model",  # an extra slash before the id
        f"runs:/{RID}\n",  # a trailing newline is not ignored
        f"runs:/{RID}/../other",  # path tricks
        f"runs:/{RID}/model/../../etc/passwd",
        f"runs:/{RID}/a/..",
        f"runs:/{RID}/..\\x",
        f"runs:/{RID}/a\x00b",
        f"RUNS:/{RID}/model",  # schemes are lower-case
        f"run:/{RID}",
        f"file:///{RID}",
        "models:/",
        "models:/churn",
        "models:/churn/",
        "models:/churn/0",
        "models:/churn/00",
        "models:/churn/1/extra",
        "models:/churn@",
        "models:/@champion",
        "models://churn/1",
        "models:/churn@a@b",
        "models:/churn@champion/1",
        "models:/churn/1@champion",
        "models:/churn/1\n/x",
        "datasets:/x/1",
        "not a uri",
    ],
)
def test_parse_invalid_uris(uri: str) -> None:
    with pytest.raises(InvalidInput, match="Invalid URI") as info:
        parse_uri(uri)
    assert "runs:/<run_id>" in str(info.value)  # the message shows the accepted forms
    assert info.value.details == {"uri": uri}


@pytest.mark.parametrize("uri", [None, 42, b"runs:/x"])
def test_parse_non_strings(uri: Any) -> None:
    with pytest.raises(InvalidInput):
        parse_uri(uri)


def test_parse_other_scripts_digits_is_not_a_version() -> None:
    # int() reads '²' and Arabic-Indic digits; a URI version must be ASCII digits.
    for ref in ("²", "\u0661\u0662", "\uff13"):  # superscript, Arabic-Indic, full-width
        parsed = parse_uri(f"models:/churn/{ref}")
        assert isinstance(parsed, ModelUri)
        assert parsed.version is None


# ---- resolving ------------------------------------------------------------------------------


@pytest.fixture
def registry(
    run_repo: RunRepository, model_repo: ModelRepository, experiment: Experiment, run: Run
) -> dict[str, Any]:
    """Model ``churn``: v1 (run one, Production, @champion), v2 (run two, Staging), v3 (run two)."""
    two = run_repo.create_run(experiment_id=experiment.experiment_id).run_id
    run_repo.record_artifacts(
        run.run_id,
        [ArtifactEntry("model/model.pkl", DIGEST, 3), ArtifactEntry("model/meta.json", DIGEST, 3)],
    )
    run_repo.record_artifacts(
        two,
        [ArtifactEntry("model/model.pkl", "e" * 64, 4), ArtifactEntry("notes.txt", DIGEST, 3)],
    )
    model_repo.create_registered_model("churn")
    model_repo.create_model_version("churn", source=f"runs:/{run.run_id}/model", run_id=run.run_id)
    model_repo.create_model_version("churn", source=f"runs:/{two}/model", run_id=two)
    model_repo.create_model_version("churn", source=f"runs:/{two}/model", run_id=two)
    model_repo.transition_stage("churn", 1, to_stage="Production")
    model_repo.transition_stage("churn", 2, to_stage="Staging")
    model_repo.set_alias("churn", 1, "champion")
    model_repo.create_registered_model("external")
    model_repo.create_model_version("external", source="s3://bucket/model")
    return {"one": run.run_id, "two": two}


def test_resolve_run_uris(model_repo: ModelRepository, registry: dict[str, Any]) -> None:
    one = registry["one"]
    whole = model_repo.resolve_artifact_uri(f"runs:/{one}")
    assert whole.run_id == one
    assert whole.path == ""
    assert [e.path for e in whole.entries] == ["model/meta.json", "model/model.pkl"]
    assert whole.model_version is None

    folder = model_repo.resolve_artifact_uri(f"runs:/{one}/model/")
    assert folder.path == "model"
    assert len(folder.entries) == 2
    assert folder.uri == f"runs:/{one}/model/"

    single = model_repo.resolve_artifact_uri(f"runs:/{one}/model/model.pkl")
    assert single.entries == (ArtifactEntry("model/model.pkl", DIGEST, 3),)


MODEL_URIS = [
    # uri, version, run that produced it
    ("models:/churn/1", 1, "one"),
    ("models:/churn/2", 2, "two"),
    ("models:/churn@champion", 1, "one"),
    ("models:/churn/latest", 3, "two"),
    ("models:/churn/Production", 1, "one"),
    ("models:/churn/production", 1, "one"),
    ("models:/churn/STAGING", 2, "two"),
    ("models:/churn/None", 3, "two"),  # the newest version in stage None
]


def test_resolve_model_uris(
    model_repo: ModelRepository, registry: dict[str, Any], subtests: pytest.Subtests
) -> None:
    files = {"one": ["model/meta.json", "model/model.pkl"], "two": ["model/model.pkl"]}
    for uri, version, owner in MODEL_URIS:
        with subtests.test(uri=uri):
            location = model_repo.resolve_artifact_uri(uri)
            assert location.model_version is not None
            assert location.model_version.name == "churn"
            assert location.model_version.version == version
            assert location.run_id == registry[owner]
            assert location.path == "model"
            assert [e.path for e in location.entries] == files[owner]
            assert model_repo.resolve_model_uri(uri).version == version


def test_alias_moves_change_resolution(
    model_repo: ModelRepository, registry: dict[str, Any]
) -> None:
    model_repo.set_alias("churn", 3, "champion")
    moved = model_repo.resolve_artifact_uri("models:/churn@champion").model_version
    assert moved is not None
    assert moved.version == 3


MISSING = [
    f"runs:/{RID}",  # unknown run
    f"runs:/{RID}/model",
    "runs:/{one}/missing",
    "runs:/{one}/model/model",  # a prefix of a file name is not a folder
    "runs:/{one}/mod",
    "models:/churn/9",
    "models:/nope/1",
    "models:/nope/latest",
    "models:/nope@champion",
    "models:/churn@challenger",
    "models:/churn/Archived",  # nothing archived
    "models:/external/1",  # its source is not a run
    "models:/churn@latest",  # 'latest' can never be an alias
]
INVALID = [
    "models:/churn/Deployed",  # unknown stage
    "models:/churn/\u00b2",  # a superscript two is not a version
    "models:/churn/0",
    "runs:/{one}/../x",
    "runs:/{one}/model/../../x",
    "runs:/short",
    "https://example.com/model",
]


def test_resolve_missing(
    model_repo: ModelRepository, registry: dict[str, Any], subtests: pytest.Subtests
) -> None:
    for uri in MISSING:
        with subtests.test(uri=uri), pytest.raises(NotFound):
            model_repo.resolve_artifact_uri(uri.format(one=registry["one"]))


def test_resolve_invalid(
    model_repo: ModelRepository, registry: dict[str, Any], subtests: pytest.Subtests
) -> None:
    for uri in INVALID:
        with subtests.test(uri=uri), pytest.raises(InvalidInput):
            model_repo.resolve_artifact_uri(uri.format(one=registry["one"]))


def test_resolve_model_uri_needs_a_model_uri(
    model_repo: ModelRepository, registry: dict[str, Any]
) -> None:
    with pytest.raises(InvalidInput, match="models:/"):
        model_repo.resolve_model_uri(f"runs:/{registry['one']}/model")
    assert model_repo.resolve_model_uri(ModelUri("churn", version=2)).version == 2
