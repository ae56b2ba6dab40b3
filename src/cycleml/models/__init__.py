"""Model packaging with signatures (lifecycle stage 8).

    from cycleml.models import infer_signature, load_model, log_model, register_model

    with cycleml.start_run():
        model.fit(X_train, y_train)
        info = log_model(model, "model", input_example=X_train.head(),
                         registered_model_name="churn")
    champion = load_model("models:/churn/1")         # checks every file's sha256
    champion.predict(records)                        # checks the signature first
    register_model(f"runs:/{run_id}/model", "churn")  # a logged model, registered later

A model folder holds ``model.yaml`` (flavor, signature, input example, pinned
requirements, sha256 of every file) and the model's files: scikit-learn estimators and
pipelines are saved with skops (never pickle unless ``trusted=True``), XGBoost and
LightGBM in their own formats, and anything else through a :class:`PythonModel` subclass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cycleml._lazy import lazy_exports
from cycleml.errors import ModelIntegrityError, SignatureError

if TYPE_CHECKING:
    from cycleml.models._autolog import autolog
    from cycleml.models._flavors import FLAVORS
    from cycleml.models._loading import (
        MODEL_FILE,
        FetchedModel,
        LoadedModel,
        fetch_model,
        load_model,
        read_model_file,
        verify_model_folder,
    )
    from cycleml.models._package import ModelInfo, log_model, save_model
    from cycleml.models._python import PythonModel, PythonModelContext
    from cycleml.models._registering import register_model
    from cycleml.models._signature import (
        COLUMN_TYPES,
        ColumnSpec,
        ColumnType,
        Signature,
        infer_signature,
    )

__all__ = [
    "COLUMN_TYPES",
    "FLAVORS",
    "MODEL_FILE",
    "ColumnSpec",
    "ColumnType",
    "FetchedModel",
    "LoadedModel",
    "ModelInfo",
    "ModelIntegrityError",
    "PythonModel",
    "PythonModelContext",
    "Signature",
    "SignatureError",
    "autolog",
    "fetch_model",
    "infer_signature",
    "load_model",
    "log_model",
    "read_model_file",
    "register_model",
    "save_model",
    "verify_model_folder",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(["autolog"], "cycleml.models._autolog"),
        **dict.fromkeys(["FLAVORS"], "cycleml.models._flavors"),
        **dict.fromkeys(
            [
                "FetchedModel",
                "LoadedModel",
                "MODEL_FILE",
                "fetch_model",
                "load_model",
                "read_model_file",
                "verify_model_folder",
            ],
            "cycleml.models._loading",
        ),
        **dict.fromkeys(["ModelInfo", "log_model", "save_model"], "cycleml.models._package"),
        **dict.fromkeys(["PythonModel", "PythonModelContext"], "cycleml.models._python"),
        **dict.fromkeys(["register_model"], "cycleml.models._registering"),
        **dict.fromkeys(
            ["COLUMN_TYPES", "ColumnSpec", "ColumnType", "Signature", "infer_signature"],
            "cycleml.models._signature",
        ),
    },
)
