"""The deployment rules on their own: configurations, replace/update, promote, rollback.

Pure functions of plain values (no database); the repository suite
(test_deployment_repository.py) checks that the store applies them inside its transactions.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from cycleml.errors import InvalidInput, InvalidState, NotFound
from cycleml.serving._deployment_rules import (
    CONFIG_FIELDS,
    ConfigChange,
    RollbackTarget,
    Target,
    check_description,
    check_percent,
    check_revision_number,
    config_targets,
    deployment_config,
    promote_config,
    recorded_config,
    replace_config,
    require_primary,
    rollback_target,
    update_config,
)

V1 = Target("models:/churn@champion", "churn", 1)
V2 = Target("models:/churn/2", "churn", 2)
V3 = Target("models:/churn/3", "churn", 3)
OTHER = Target("models:/other/1", "other", 1)


def _config(
    primary: Target = V1,
    canary: Target | None = None,
    percent: float | None = None,
    shadow: Target | None = None,
    description: str = "",
) -> dict[str, Any]:
    return deployment_config(primary, canary, percent, shadow, description)


# ---- input checks ----------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [0, 10, 33.5, 100])
def test_check_percent_takes_0_to_100(percent: float) -> None:
    assert check_percent(percent) == float(percent)
    assert isinstance(check_percent(percent), float)


@pytest.mark.parametrize("percent", [-1, 100.5, math.nan, math.inf, True, "10", None])
def test_check_percent_refuses_anything_else(percent: object) -> None:
    with pytest.raises(InvalidInput, match="Invalid canary percent") as info:
        check_percent(percent)
    assert info.value.hint == "For example 10 sends one request in ten to the canary."


def test_check_description() -> None:
    assert check_description("churn scoring") == "churn scoring"
    with pytest.raises(InvalidInput, match=r"Invalid description 3: expected a string\."):
        check_description(3)


@pytest.mark.parametrize("uri", ["models:/churn/1", ...])
def test_require_primary_accepts_a_uri_or_one_left_out(uri: object) -> None:
    require_primary("d", uri)
    require_primary("d", uri, existing=True)


@pytest.mark.parametrize("uri", [None, ""])
def test_require_primary_refuses_no_primary(uri: object) -> None:
    with pytest.raises(InvalidInput, match="a canary or shadow alone is not a deployment"):
        require_primary("d", uri)
    with pytest.raises(InvalidInput, match="needs a primary model; it cannot be removed") as info:
        require_primary("d", uri, existing=True)
    assert info.value.hint == "Pass another models:/ URI to replace it."


@pytest.mark.parametrize("revision", [None, 1, 7])
def test_check_revision_number_accepts(revision: int | None) -> None:
    assert check_revision_number(revision) == revision


@pytest.mark.parametrize("revision", [0, -2, True, 1.0, "2"])
def test_check_revision_number_refuses(revision: object) -> None:
    with pytest.raises(InvalidInput, match="expected a positive integer"):
        check_revision_number(revision)


# ---- a whole configuration -------------------------------------------------------------------


def test_deployment_config_records_every_field() -> None:
    config = _config(V1, V2, 10, OTHER, "crm")
    assert tuple(config) == CONFIG_FIELDS
    assert config == {
        "model_uri": "models:/churn@champion",
        "model_name": "churn",
        "model_version": 1,
        "canary_uri": "models:/churn/2",
        "canary_name": "churn",
        "canary_version": 2,
        "canary_percent": 10,
        "shadow_uri": "models:/other/1",
        "shadow_name": "other",
        "shadow_version": 1,
        "description": "crm",
    }
    assert config_targets(config) == (V1, V2, OTHER)


def test_deployment_config_canary_percent_defaults() -> None:
    assert _config(V1, V2)["canary_percent"] == 0.0  # a canary without a share gets none
    alone = _config(V1, percent=0)  # 0 without a canary is allowed: it sends nothing
    assert alone["canary_percent"] is None
    assert config_targets(alone) == (V1, None, None)


def test_deployment_config_refuses_a_percent_without_canary() -> None:
    with pytest.raises(InvalidInput, match=r"A canary percent \(10\) needs a canary model\."):
        _config(V1, percent=10)


def test_deployment_config_refuses_the_primary_as_canary() -> None:
    same = Target("models:/churn@champion", "churn", 1)
    with pytest.raises(InvalidInput, match="is the primary model itself") as info:
        _config(V1, same)
    assert info.value.hint == "A canary must be another model version."


@pytest.mark.parametrize(("shadow", "role"), [(V1, "primary"), (V2, "canary")])
def test_deployment_config_refuses_a_served_arm_as_shadow(shadow: Target, role: str) -> None:
    with pytest.raises(InvalidInput, match=f"is the {role} model"):
        _config(V1, V2, 5, shadow)


def test_recorded_config_fills_missing_fields() -> None:
    old = {"model_uri": "models:/churn/1", "model_name": "churn", "model_version": 1}
    config = recorded_config({**old, "unknown": "ignored"})
    assert tuple(config) == CONFIG_FIELDS
    assert config["canary_name"] is None
    assert "unknown" not in config


# ---- replace ---------------------------------------------------------------------------------


def test_replace_config_removes_arms_not_given_again() -> None:
    current = _config(V1, V2, 10, OTHER, "crm")
    change = replace_config(current, V3, None, None, None, None)
    assert change == ConfigChange(_config(V3, description="crm"), ("canary", "shadow"))


def test_replace_config_keeps_or_replaces_the_description() -> None:
    current = _config(V1, description="crm")
    assert replace_config(current, V1, None, None, None, "") == ConfigChange(_config(V1))
    kept = replace_config(current, V2, None, None, None, None)
    assert kept == ConfigChange(_config(V2, description="crm"))


def test_replace_config_unchanged_is_none() -> None:
    current = _config(V1, V2, 10, description="crm")
    assert replace_config(current, V1, V2, 10, None, None) is None
    assert replace_config(current, V1, V2, 10, None, "crm") is None


def test_replace_config_checks_the_new_configuration() -> None:
    with pytest.raises(InvalidInput, match="needs a canary model"):
        replace_config(_config(V1, V2, 10), V1, None, 10, None, None)


# ---- update ----------------------------------------------------------------------------------


def test_update_config_left_out_keeps_everything() -> None:
    current = _config(V1, V2, 10, OTHER, "crm")
    assert update_config(current) is None


def test_update_config_changes_only_what_is_given() -> None:
    current = _config(V1, V2, 10, OTHER, "crm")
    assert update_config(current, percent=50) == _config(V1, V2, 50, OTHER, "crm")
    assert update_config(current, primary=V3) == _config(V3, V2, 10, OTHER, "crm")
    assert update_config(current, description="new") == _config(V1, V2, 10, OTHER, "new")


def test_update_config_none_removes_an_arm() -> None:
    current = _config(V1, V2, 10, OTHER)
    assert update_config(current, canary=None) == _config(V1, None, None, OTHER)
    assert update_config(current, shadow=None) == _config(V1, V2, 10)


def test_update_config_new_canary_percent() -> None:
    current = _config(V1, V2, 10)
    # a replaced canary keeps the share, a first canary starts at 0
    assert update_config(current, canary=V3) == _config(V1, V3, 10)
    assert update_config(_config(V1), canary=V2) == _config(V1, V2, 0)
    assert update_config(current, percent=None) == _config(V1, V2, 0)


def test_update_config_refuses_what_deployment_config_refuses() -> None:
    with pytest.raises(InvalidInput, match="needs a canary model"):
        update_config(_config(V1), percent=10)
    with pytest.raises(InvalidInput, match="is the primary model itself"):
        update_config(_config(V1, V2, 10), primary=V2)
    with pytest.raises(InvalidInput, match="is the canary model"):
        update_config(_config(V1, V2, 10), shadow=V2)


# ---- promote ---------------------------------------------------------------------------------


def test_promote_config_makes_the_canary_primary() -> None:
    current = _config(V1, V2, 25, OTHER, "crm")
    assert promote_config("d", current) == _config(V2, None, None, OTHER, "crm")


def test_promote_config_refuses_without_canary() -> None:
    with pytest.raises(InvalidState, match=r"has no canary to promote") as info:
        promote_config("d", _config(V1))
    assert "it serves models:/churn/1 only" in info.value.message


# ---- rollback --------------------------------------------------------------------------------


def test_rollback_target_defaults_to_the_previous_revision() -> None:
    assert rollback_target("d", 3, {1: None, 2: None, 3: None}) == RollbackTarget(2, 2)


def test_rollback_target_walks_back_instead_of_toggling() -> None:
    # 4 restored 2, so the one before it is 1 (not 3, which would undo the rollback)
    history = {1: None, 2: None, 3: None, 4: 2}
    assert rollback_target("d", 4, history) == RollbackTarget(1, 1)


def test_rollback_target_to_a_rollback_restores_its_original() -> None:
    history = {1: None, 2: None, 3: 1, 4: None}
    assert rollback_target("d", 4, history, 3) == RollbackTarget(3, 1)
    assert rollback_target("d", 4, history, 2) == RollbackTarget(2, 2)


@pytest.mark.parametrize(
    ("current", "history"),
    [(1, {1: None}), (3, {1: None, 2: None, 3: 1})],
)
def test_rollback_target_refuses_without_earlier_configuration(
    current: int, history: dict[int, int | None]
) -> None:
    with pytest.raises(InvalidState, match="no earlier configuration to roll back to") as info:
        rollback_target("d", current, history)
    assert info.value.hint == "Change it with `cycleml deploy d --model URI` instead."


def test_rollback_target_refuses_an_unknown_revision() -> None:
    with pytest.raises(NotFound, match=r"has no revision 9 \(revisions 1-2\)"):
        rollback_target("d", 2, {1: None, 2: None}, 9)


def test_rollback_target_refuses_the_current_revision() -> None:
    with pytest.raises(InvalidInput, match="Revision 2 is the current revision"):
        rollback_target("d", 2, {1: None, 2: None}, 2)
