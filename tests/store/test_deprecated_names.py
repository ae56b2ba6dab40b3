"""The names that moved out of ``cycleml.store`` still import from it, for one release."""

from __future__ import annotations

import importlib

import pytest

import cycleml.store
from cycleml.lifecycle._legacy_store import MOVED
from cycleml.store import head_revisions


@pytest.mark.parametrize(
    "name", sorted(n for n, home in MOVED.items() if home != "cycleml.lifecycle")
)
def test_a_moved_name_is_its_new_home_with_a_warning(name: str) -> None:
    home = MOVED[name]
    with pytest.warns(DeprecationWarning, match=rf"cycleml\.store\.{name} is deprecated.*{home}"):
        old = getattr(cycleml.store, name)
    assert old is getattr(importlib.import_module(home), name)


def test_the_old_store_class_answers_the_old_methods(metadata_uri: str) -> None:
    with pytest.warns(DeprecationWarning, match="SqlMetadataStore is deprecated"):
        from cycleml.store import SqlMetadataStore
    with SqlMetadataStore(metadata_uri, actor="old-code") as store:
        experiment = store.create_experiment("kept-working")
        run = store.create_run(experiment_id=experiment.experiment_id, run_name="r")
        store.create_registered_model("m")
        assert store.get_run(run.info.run_id).info.run_name == "r"
        assert [m.name for m in store.list_registered_models()] == ["m"]
        assert [a.actor for a in store.list_audit()] == ["old-code"] * 3
        with pytest.raises(AttributeError, match="no attribute 'fly'"):
            store.fly()  # type: ignore[attr-defined]


def test_open_metadata_store_and_head_revision_warn(metadata_uri: str) -> None:
    with pytest.warns(DeprecationWarning, match="open_database"):
        open_metadata_store = cycleml.store.open_metadata_store  # type: ignore[attr-defined]
    with open_metadata_store(metadata_uri, actor="x") as store:
        assert store.schema_revisions == head_revisions()
    with pytest.warns(DeprecationWarning, match="head_revisions"):
        head_revision = cycleml.store.head_revision  # type: ignore[attr-defined]
    assert head_revision().split() == sorted(head_revisions())


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        cycleml.store.Nope  # type: ignore[attr-defined]  # noqa: B018
