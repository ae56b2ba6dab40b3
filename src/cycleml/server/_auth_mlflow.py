"""The permission each MLflow route needs, and on what (MLflow's own table, in cycleml's terms).

MLflow's basic-auth app checks experiments and registered models at READ, EDIT (change)
and MANAGE (delete, rename, and here also stage transitions). A run's resource is its
experiment, a logged model's too; a model version's is its registered model. Creating an
experiment or a registered model needs only a signed-in user, who then holds MANAGE on it;
searches read only what the user may read (:func:`._auth.readable` in the handlers).
"""

from __future__ import annotations

from collections.abc import Callable

from cycleml.ids import is_id
from cycleml.server._auth import checks_apply, require, require_admin
from cycleml.server._mlflow_protocol import Call
from cycleml.server._users import Permission

__all__ = ["authorize_mlflow"]

READ, EDIT, MANAGE = Permission.READ, Permission.EDIT, Permission.MANAGE
Resolver = Callable[[Call], tuple[str, set[str]]]


def _experiment(call: Call) -> tuple[str, set[str]]:
    return "experiment", {call.experiments.to_cycleml(call.fields.required_text("experiment_id"))}


def _experiment_by_name(call: Call) -> tuple[str, set[str]]:
    found = call.runs.get_experiment_by_name(call.fields.required_text("experiment_name"))
    return "experiment", ({found.experiment_id} if found is not None else set())


def _experiments(call: Call) -> tuple[str, set[str]]:
    ids = call.fields.texts("experiment_ids")
    return "experiment", {call.experiments.to_cycleml(i) for i in ids}


def _run(call: Call) -> tuple[str, set[str]]:
    run_id = call.fields.run_id()
    if not is_id(run_id):
        return "experiment", set()  # the handler answers 404, as without auth
    return "experiment", {call.runs.get_run(run_id).info.experiment_id}


def _runs(call: Call) -> tuple[str, set[str]]:
    found = call.runs.get_runs([r for r in call.fields.texts("run_ids") if is_id(r)])
    return "experiment", {run.info.experiment_id for run in found}


def _logged_model(call: Call) -> tuple[str, set[str]]:
    model = call.runs.get_logged_model(call.fields.required_text("model_id"))
    return "experiment", {model.experiment_id}


def _model(call: Call) -> tuple[str, set[str]]:
    return "registered_model", {call.fields.required_text("name")}


def _nothing(call: Call) -> tuple[str, set[str]]:
    return "experiment", set()


#: MLflow path (below ``/api/2.0/mlflow/``) and method -> what it touches and the level.
RULES: dict[tuple[str, str], tuple[Resolver, Permission]] = {
    ("experiments/get", "GET"): (_experiment, READ),
    ("experiments/get-by-name", "GET"): (_experiment_by_name, READ),
    ("experiments/update", "POST"): (_experiment, EDIT),
    ("experiments/delete", "POST"): (_experiment, MANAGE),
    ("experiments/restore", "POST"): (_experiment, MANAGE),
    ("experiments/set-experiment-tag", "POST"): (_experiment, EDIT),
    ("experiments/delete-experiment-tag", "POST"): (_experiment, EDIT),
    ("runs/create", "POST"): (_experiment, EDIT),
    ("runs/get", "GET"): (_run, READ),
    ("runs/update", "POST"): (_run, EDIT),
    ("runs/delete", "POST"): (_run, MANAGE),
    ("runs/restore", "POST"): (_run, MANAGE),
    ("runs/search", "POST"): (_experiments, READ),
    ("runs/log-metric", "POST"): (_run, EDIT),
    ("runs/log-parameter", "POST"): (_run, EDIT),
    ("runs/set-tag", "POST"): (_run, EDIT),
    ("runs/delete-tag", "POST"): (_run, EDIT),
    ("runs/log-batch", "POST"): (_run, EDIT),
    ("runs/log-inputs", "POST"): (_run, EDIT),
    ("runs/outputs", "POST"): (_run, EDIT),
    ("metrics/get-history", "GET"): (_run, READ),
    ("metrics/get-history-bulk-interval", "GET"): (_runs, READ),
    ("logged-models", "POST"): (_experiment, EDIT),
    ("logged-models/search", "POST"): (_experiments, READ),
    ("logged-models/{model_id}", "GET"): (_logged_model, READ),
    ("logged-models/{model_id}", "PATCH"): (_logged_model, EDIT),
    ("logged-models/{model_id}", "DELETE"): (_logged_model, MANAGE),
    ("logged-models/{model_id}/tags", "PATCH"): (_logged_model, EDIT),
    ("logged-models/{model_id}/tags/{tag_key}", "DELETE"): (_logged_model, EDIT),
    ("logged-models/{model_id}/params", "POST"): (_logged_model, EDIT),
    ("logged-models/{model_id}/artifacts/directories", "GET"): (_logged_model, READ),
    ("registered-models/get", "GET"): (_model, READ),
    ("registered-models/update", "PATCH"): (_model, EDIT),
    ("registered-models/rename", "POST"): (_model, MANAGE),
    ("registered-models/delete", "DELETE"): (_model, MANAGE),
    ("registered-models/set-tag", "POST"): (_model, EDIT),
    ("registered-models/delete-tag", "DELETE"): (_model, EDIT),
    ("registered-models/alias", "POST"): (_model, EDIT),
    ("registered-models/alias", "DELETE"): (_model, EDIT),
    ("registered-models/alias", "GET"): (_model, READ),
    ("registered-models/get-latest-versions", "GET"): (_model, READ),
    ("registered-models/get-latest-versions", "POST"): (_model, READ),
    ("model-versions/create", "POST"): (_model, EDIT),
    ("model-versions/get", "GET"): (_model, READ),
    ("model-versions/update", "PATCH"): (_model, EDIT),
    ("model-versions/delete", "DELETE"): (_model, MANAGE),
    ("model-versions/transition-stage", "POST"): (_model, MANAGE),
    ("model-versions/get-download-uri", "GET"): (_model, READ),
    ("model-versions/set-tag", "POST"): (_model, EDIT),
    ("model-versions/delete-tag", "DELETE"): (_model, EDIT),
    # Creating needs a signed-in user only; searches filter what they answer.
    ("experiments/create", "POST"): (_nothing, READ),
    ("experiments/search", "GET"): (_nothing, READ),
    ("experiments/search", "POST"): (_nothing, READ),
    ("registered-models/create", "POST"): (_nothing, READ),
    ("registered-models/search", "GET"): (_nothing, READ),
    ("model-versions/search", "GET"): (_nothing, READ),
}


def authorize_mlflow(call: Call, path: str, method: str) -> None:
    """Raise :class:`PermissionDenied` unless the user may call ``method path`` on its target.

    A route missing from :data:`RULES` is refused for non-admins: a new route must say what
    it needs (a test holds every MLflow route to that).
    """
    if call.request is None or not checks_apply(call.request):
        return  # nothing to look up: auth is off or the user is an admin
    rule = RULES.get((path, method))
    if rule is None:
        require_admin(call.request, f"{method} {path}")
        return
    resolve, level = rule
    kind, ids = resolve(call)
    require(call.request, kind, ids, level, f"{method} {path}")
