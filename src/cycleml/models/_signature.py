"""Model signatures: the input columns a model expects, inferred, stored and enforced.

A :class:`Signature` lists named, typed columns (:class:`ColumnSpec`). It is inferred from
an input example or training data (:func:`infer_signature`) and stored as plain JSON in
``model.yaml`` and in the registry. :meth:`Signature.enforce` checks and coerces a batch of
input column by column with vectorized pandas/numpy operations, and reports every failing
column at once in one :class:`~cycleml.errors.SignatureError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cycleml.errors import ExtraColumnsWarning, InvalidInput, SignatureError

__all__ = [
    "COLUMN_TYPES",
    "ColumnSpec",
    "ColumnType",
    "Signature",
    "as_frame",
    "infer_signature",
]

ColumnType = Literal["int", "float", "bool", "string", "datetime", "category"]
#: The column types a signature knows.
COLUMN_TYPES: tuple[str, ...] = get_args(ColumnType)

_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "string": "string",
    "datetime": "string",
    "category": "string",
}
_INFERRED = {  # pandas.api.types.infer_dtype of object/str columns -> column type
    "string": "string",
    "empty": "string",
    "mixed": "string",
    "mixed-integer": "string",
    "integer": "int",
    "floating": "float",
    "mixed-integer-float": "float",
    "decimal": "float",
    "boolean": "bool",
    "datetime": "datetime",
    "datetime64": "datetime",
    "date": "datetime",
}
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
_INPUT_FORMS = (
    "a pandas or polars DataFrame, a pyarrow Table, a 2-D numpy array, a list of records "
    "(dicts) or a dict of columns"
)


# ---- column specs and signatures ---------------------------------------------------------
@dataclass(frozen=True)
class ColumnSpec:
    """One named, typed column of a model's input or output.

    Attributes:
        name: The column name.
        type: ``int``, ``float``, ``bool``, ``string``, ``datetime`` or ``category``.
        nullable: Whether the column may hold nulls (NaN counts as null).
        categories: The vocabulary of a ``category`` column, as strings; ``None`` accepts
            any value.
    """

    name: str
    type: ColumnType
    nullable: bool = False
    categories: list[str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidInput(f"Invalid column name {self.name!r}: expected a non-empty string.")
        if self.type not in COLUMN_TYPES:
            raise InvalidInput(
                f"Invalid type {self.type!r} for column {self.name!r}: expected one of "
                f"{', '.join(COLUMN_TYPES)}."
            )
        if not isinstance(self.nullable, bool | np.bool_):
            raise InvalidInput(
                f"Invalid nullable {self.nullable!r} for column {self.name!r}: expected a bool."
            )
        object.__setattr__(self, "nullable", bool(self.nullable))
        if self.categories is not None:
            if self.type != "category":
                raise InvalidInput(
                    f"Column {self.name!r} of type {self.type} cannot have categories; "
                    "only category columns can."
                )
            clean = [str(c) for c in self.categories]
            if len(set(clean)) != len(clean):
                raise InvalidInput(f"Column {self.name!r} lists a category twice: {clean}.")
            object.__setattr__(self, "categories", clean)

    def describe(self) -> str:
        """The type as error messages show it, e.g. ``int`` or ``float (nullable)``."""
        return f"{self.type} (nullable)" if self.nullable else self.type

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form stored in ``model.yaml`` and the registry."""
        found: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            found["categories"] = list(self.categories)
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        """Read the form :meth:`to_dict` writes."""
        if not isinstance(data, Mapping) or "name" not in data or "type" not in data:
            raise InvalidInput(
                f"Invalid column spec {data!r}: expected a mapping with 'name' and 'type'."
            )
        unknown = set(data) - {"name", "type", "nullable", "categories"}
        if unknown:
            raise InvalidInput(f"Invalid column spec {data!r}: unknown keys {sorted(unknown)}.")
        categories = data.get("categories")
        if categories is not None and not isinstance(categories, list | tuple):
            raise InvalidInput(f"Invalid categories {categories!r}: expected a list.")
        return cls(
            name=data["name"],
            type=data["type"],
            nullable=data.get("nullable", False),
            categories=list(categories) if categories is not None else None,
        )

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one value of this column."""
        kind = _JSON_TYPES[self.type]
        schema: dict[str, Any] = {"type": [kind, "null"] if self.nullable else kind}
        if self.type == "datetime":
            schema["format"] = "date-time"
        if self.type == "category" and self.categories is not None:
            schema["enum"] = [*self.categories, None] if self.nullable else list(self.categories)
        return schema


def _check_columns(columns: Sequence[ColumnSpec], where: str) -> list[ColumnSpec]:
    found = list(columns)
    if not all(isinstance(c, ColumnSpec) for c in found):
        raise InvalidInput(f"Signature {where} must be ColumnSpec objects.")
    names = [c.name for c in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"Signature {where} name a column twice: {duplicates}.")
    return found


@dataclass(frozen=True)
class Signature:
    """The columns a model takes (and, optionally, returns).

    Attributes:
        inputs: The input columns, in the order the model receives them.
        outputs: The output columns of ``predict``, when known.
    """

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _check_columns(self.inputs, "inputs"))
        if self.outputs is not None:
            object.__setattr__(self, "outputs", _check_columns(self.outputs, "outputs"))

    @property
    def input_names(self) -> list[str]:
        """The input column names, in order."""
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-safe form stored in ``model.yaml`` and the registry."""
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": None if self.outputs is None else [c.to_dict() for c in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read the form :meth:`to_dict` writes."""
        if not isinstance(data, Mapping) or not isinstance(data.get("inputs"), list):
            raise InvalidInput(
                f"Invalid signature {data!r}: expected a mapping with an 'inputs' list."
            )
        outputs = data.get("outputs")
        if outputs is not None and not isinstance(outputs, list):
            raise InvalidInput(f"Invalid signature outputs {outputs!r}: expected a list.")
        return cls(
            inputs=[ColumnSpec.from_dict(c) for c in data["inputs"]],
            outputs=None if outputs is None else [ColumnSpec.from_dict(c) for c in outputs],
        )

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one input record: an object with a property per input column.

        Every column is required (a nullable one may be ``null``); extra properties are
        allowed because :meth:`enforce` drops them with a warning.
        """
        return {
            "type": "object",
            "properties": {c.name: c.json_schema() for c in self.inputs},
            "required": self.input_names,
            "additionalProperties": True,
        }

    def enforce(
        self, data: Any, *, on_extra: Callable[[list[str]], None] | None = None
    ) -> pd.DataFrame:
        """Check and coerce model input against the signature.

        Args:
            data: A pandas or polars DataFrame, a pyarrow Table, a 2-D numpy array
                (columns ``"0"``, ``"1"``, ...), a list of records or a dict of columns.
            on_extra: Called with the input's columns that the signature does not name
                (they are dropped); by default an
                :class:`~cycleml.errors.ExtraColumnsWarning` names them. Servers and batch
                scoring report them once instead of on every request or chunk.

        Returns:
            A new DataFrame with exactly the input columns, in signature order, with the
            dtypes of their types (see ``docs/models.md`` for the coercions).

        Raises:
            SignatureError: One entry per failing column in ``details["errors"]``.
            InvalidInput: The data is not a table at all.
        """
        frame = as_frame(data)
        report = on_extra or _warn_extra
        ready = self._already_conforming(frame, report)
        if ready is not None:
            return ready
        errors: list[dict[str, str]] = []
        columns: dict[str, pd.Series] = {}
        present = set(frame.columns)
        for spec in self.inputs:
            if spec.name not in present:
                errors.append(
                    _problem(spec, "missing", "nothing", f"Column {spec.name!r} is missing.")
                )
                continue
            converted, problem = _enforce_column(spec, frame[spec.name])
            if problem is not None:
                errors.append(problem)
            else:
                columns[spec.name] = converted
        if errors:
            summary = "; ".join(e["message"].rstrip(".") for e in errors)
            raise SignatureError(
                f"The input does not match the model signature: {len(errors)} column(s) "
                f"failed: {summary}.",
                hint=f"Send the {len(self.inputs)} columns {_listed(self.input_names)} with "
                "the types of the signature (see the model's JSON schema).",
                details={"errors": errors},
            )
        extra = [c for c in frame.columns if c not in {s.name for s in self.inputs}]
        if extra:
            report(extra)
        out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
        return out[self.input_names] if self.inputs else out

    def _already_conforming(
        self, frame: pd.DataFrame, report: Callable[[list[str]], None]
    ) -> pd.DataFrame | None:
        """The frame's signature columns as they are, when no column needs a coercion.

        Serving scores one row per request, where the per-column checks and the rebuilt
        frame would cost more than the model: a frame whose numeric and boolean columns
        already have their exact dtypes and no disallowed nulls is taken as it is. Anything
        else (strings, datetimes, categories, nulls) takes the full path, which also
        produces the precise errors.
        """
        names = self.input_names
        if not self.inputs or any(s.type not in _EXACT for s in self.inputs):
            return None
        columns = frame.columns.tolist()
        if columns == names:
            sub = frame
        elif set(names) <= set(columns):
            sub = frame[names]
        else:
            return None
        if sub.dtypes.tolist() != [_EXACT[s.type] for s in self.inputs]:
            return None
        # int64 and bool columns cannot hold nulls; float64 ones hold them as NaN.
        strict = [s.type == "float" and not s.nullable for s in self.inputs]
        if any(strict):
            values = sub.to_numpy() if all(strict) else sub.loc[:, strict].to_numpy()
            if np.isnan(values).any():
                return None
        if len(columns) != len(names):
            report([c for c in columns if c not in set(names)])
        if not isinstance(sub.index, pd.RangeIndex) or sub.index.start != 0:
            sub = sub.reset_index(drop=True)
        return sub


def _warn_extra(columns: list[str]) -> None:
    # stacklevel: this function, enforce (or _already_conforming, then enforce), the
    # caller of enforce; LoadedModel.predict's caller is close enough for a warning.
    warnings.warn(ExtraColumnsWarning(columns), stacklevel=4)


def _listed(names: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}{', …' if len(names) > most else ''}]"


_EXACT = {"float": np.dtype(np.float64), "int": np.dtype(np.int64), "bool": np.dtype(np.bool_)}


# ---- reading input -----------------------------------------------------------------------
def _numbered(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c) for c in range(frame.shape[1])]
    return frame


def as_frame(data: Any) -> pd.DataFrame:
    """Read any accepted model input as a DataFrame with string column names.

    Raises:
        InvalidInput: The data is not one of the accepted forms, or names a column twice.
    """
    frame: pd.DataFrame
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, pd.Series):
        frame = data.to_frame(name="0" if data.name is None else str(data.name))
    elif isinstance(data, pa.Table | pa.RecordBatch):
        frame = data.to_pandas()
    elif type(data).__module__.startswith("polars") and hasattr(data, "to_arrow"):
        frame = data.to_arrow().to_pandas()
    elif isinstance(data, np.ndarray):
        if data.ndim not in (1, 2):
            raise InvalidInput(
                f"Cannot read a {data.ndim}-D numpy array as model input: expected 1-D or 2-D."
            )
        frame = _numbered(pd.DataFrame(data.reshape(len(data), -1)))
    elif isinstance(data, Mapping):
        frame = _frame_from_mapping(data)
    elif isinstance(data, list | tuple):
        frame = _frame_from_rows(data)
    else:
        raise InvalidInput(
            f"Cannot read model input of type {type(data).__name__}: expected {_INPUT_FORMS}."
        )
    names = [str(c) for c in frame.columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InvalidInput(f"The model input names a column twice: {duplicates}.")
    if list(frame.columns) != names or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    return frame


def _is_column(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Series)


def _frame_from_mapping(data: Mapping[Any, Any]) -> pd.DataFrame:
    values = list(data.values())
    if values and not any(_is_column(v) for v in values):  # one record
        return pd.DataFrame({str(k): [v] for k, v in data.items()})
    if not all(_is_column(v) for v in values):
        raise InvalidInput(
            "Cannot read a dict that mixes lists and single values as model input.",
            hint="Pass a dict of equally long lists (columns) or a list of records.",
        )
    try:
        return pd.DataFrame({str(k): list(v) for k, v in data.items()})
    except ValueError as exc:
        lengths = {str(k): len(v) for k, v in data.items()}
        raise InvalidInput(
            f"Cannot read the dict of columns as model input: the columns differ in length "
            f"({lengths})."
        ) from exc


def _frame_from_rows(rows: Sequence[Any]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame()
    if all(isinstance(r, Mapping) for r in rows):
        return pd.DataFrame.from_records(list(rows))
    if all(isinstance(r, list | tuple | np.ndarray) for r in rows):
        if len({len(r) for r in rows}) != 1:
            raise InvalidInput("Cannot read rows of different lengths as model input.")
        return _numbered(pd.DataFrame([list(r) for r in rows]))
    raise InvalidInput(
        f"Cannot read this list as model input: expected a list of records (dicts) or a "
        f"list of rows (lists), got a {type(rows[0]).__name__} first.",
        hint=f"Pass {_INPUT_FORMS}.",
    )


# ---- inference ---------------------------------------------------------------------------
def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """Infer a signature from an input example or training data, and optionally outputs.

    Column types: pandas/numpy/Arrow integers -> ``int``; floats and decimals ->
    ``float``; booleans -> ``bool``; datetimes and dates -> ``datetime``; pandas
    ``Categorical`` and Arrow dictionaries -> ``category`` (with their vocabulary, as
    strings); other text columns -> ``string``. ``object`` columns are typed by their
    values. A column is nullable when it holds a null (or a NaN).

    A numpy array has no column names: its columns are named ``"0"``, ``"1"``, ...
    (the names :meth:`Signature.enforce` gives a numpy array's columns too).

    Args:
        model_input: A pandas or polars DataFrame, a pyarrow Table, a numpy array, a
            list of records or a dict of columns.
        model_output: What the model's ``predict`` returns for it: a 1-D array or a
            Series becomes one column named ``prediction``; a 2-D array or a DataFrame
            gives one column per column.
    """
    inputs = _infer_columns(model_input)
    outputs = None if model_output is None else _infer_outputs(model_output)
    return Signature(inputs=inputs, outputs=outputs)


def _infer_outputs(model_output: Any) -> list[ColumnSpec]:
    if isinstance(model_output, pd.Series):
        return [_infer_pandas("prediction", model_output.reset_index(drop=True))]
    if isinstance(model_output, list | tuple | np.ndarray) and not (
        len(model_output) and isinstance(model_output[0], Mapping)
    ):
        array = np.asarray(model_output)
        if array.ndim <= 1:
            return [_infer_pandas("prediction", pd.Series(array.reshape(-1)))]
    return _infer_columns(model_output)


def _infer_columns(data: Any) -> list[ColumnSpec]:
    if type(data).__module__.startswith("polars") and hasattr(data, "to_arrow"):
        data = data.to_arrow()
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return [_infer_arrow(name, data.column(name)) for name in data.column_names]
    frame = as_frame(data)
    return [_infer_pandas(name, frame[name]) for name in frame.columns]


def _unsupported(name: str, what: Any) -> InvalidInput:
    return InvalidInput(
        f"Cannot infer a signature type for column {name!r} of type {what}.",
        hint=f"Convert it to one of {', '.join(COLUMN_TYPES)}, or pass signature= explicitly.",
    )


def _arrow_type(name: str, kind: pa.DataType) -> ColumnType:
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "float"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "datetime"
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_null(kind)
        or (hasattr(pa.types, "is_string_view") and pa.types.is_string_view(kind))
    ):
        return "string"
    raise _unsupported(name, kind)


def _infer_arrow(name: str, column: pa.ChunkedArray) -> ColumnSpec:
    kind = column.type
    nullable = column.null_count > 0
    if pa.types.is_dictionary(kind):
        unified = column.unify_dictionaries()
        vocabulary = unified.chunk(0).dictionary.to_pylist() if unified.num_chunks else []
        return ColumnSpec(name, "category", nullable, [str(v) for v in vocabulary])
    found = _arrow_type(name, kind)
    if found == "float" and pa.types.is_floating(kind) and len(column):
        nullable = nullable or bool(pc.any(pc.is_nan(column)).as_py())
    return ColumnSpec(name, found, nullable)


def _infer_pandas(name: str, series: pd.Series) -> ColumnSpec:
    dtype = series.dtype
    nullable = bool(series.isna().any())
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnSpec(name, "category", nullable, [str(c) for c in dtype.categories])
    if isinstance(dtype, pd.ArrowDtype):
        return ColumnSpec(name, _arrow_type(name, dtype.pyarrow_dtype), nullable)
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnSpec(name, "bool", nullable)
    if pd.api.types.is_integer_dtype(dtype):
        return ColumnSpec(name, "int", nullable)
    if pd.api.types.is_float_dtype(dtype):
        return ColumnSpec(name, "float", nullable)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnSpec(name, "datetime", nullable)
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        kind = _INFERRED.get(pd.api.types.infer_dtype(series, skipna=True))
        if kind is None:
            raise _unsupported(name, f"{dtype} holding {pd.api.types.infer_dtype(series)} values")
        return ColumnSpec(name, cast(ColumnType, kind), nullable)
    raise _unsupported(name, dtype)


# ---- enforcement -------------------------------------------------------------------------
def _problem(spec: ColumnSpec, error: str, received: str, message: str) -> dict[str, str]:
    expected = spec.describe()
    if error == "category":
        shown = spec.categories or []
        expected = f"one of {shown[:20]}" + (" ..." if len(shown) > 20 else "")
    elif error == "null":
        expected = f"{spec.type} (not nullable)"
    return {
        "field": spec.name,
        "error": error,
        "expected": expected,
        "received": received,
        "message": message,
    }


def _first(mask: np.ndarray, series: pd.Series) -> tuple[int, int, Any]:
    """Count of the rows in ``mask``, the first one's position, and its value."""
    where = np.flatnonzero(mask)
    value = series.iloc[int(where[0])]
    return len(where), int(where[0]), value.item() if isinstance(value, np.generic) else value


def _bad_values(
    spec: ColumnSpec, series: pd.Series, mask: np.ndarray, why: str = "cannot be converted"
) -> dict[str, str]:
    count, at, value = _first(mask, series)
    received = f"{value!r} ({type(value).__name__}) at row {at}"
    more = f" ({count} values in total)" if count > 1 else ""
    return _problem(
        spec,
        "type",
        received,
        f"Column {spec.name!r} expects {spec.type}, but {value!r} at row {at} {why}{more}.",
    )


def _wrong_dtype(spec: ColumnSpec, series: pd.Series) -> dict[str, str]:
    return _problem(
        spec,
        "type",
        str(series.dtype),
        f"Column {spec.name!r} expects {spec.type}, but it has the dtype {series.dtype}.",
    )


def _enforce_column(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, dict[str, str] | None]:
    """Coerce one column; return it, or the column's first problem."""
    isnull = series.isna().to_numpy(dtype=bool)
    if not spec.nullable and isnull.any():
        count, at, _ = _first(isnull, series)
        return series, _problem(
            spec,
            "null",
            f"{count} null value(s), the first at row {at}",
            f"Column {spec.name!r} does not allow nulls, but it has {count} (the first at row "
            f"{at}).",
        )
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    converter = _CONVERTERS[spec.type]
    return converter(spec, series, isnull)


Converted = tuple[pd.Series, dict[str, str] | None]


def _numbers(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> tuple[Any, Any]:
    """The column as float64 (NaN for nulls), or a type problem."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None, _wrong_dtype(spec, series)
    if pd.api.types.is_numeric_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), None
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        return None, _wrong_dtype(spec, series)
    if pd.api.types.infer_dtype(series, skipna=True) == "boolean":
        return None, _wrong_dtype(spec, series)
    numeric = pd.to_numeric(series.astype(object), errors="coerce")
    values = np.asarray(numeric, dtype=np.float64)
    bad = np.isnan(values) & ~isnull
    if bad.any():
        return None, _bad_values(spec, series, bad, "is not a number")
    return values, None


def _to_int(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    if pd.api.types.is_integer_dtype(series.dtype) and not isnull.any():
        return pd.Series(series.to_numpy(dtype=np.int64)), None
    values, problem = _numbers(spec, series, isnull)
    if problem is not None:
        return series, problem
    with np.errstate(invalid="ignore"):
        fractional = ~isnull & ((values != np.floor(values)) | ~np.isfinite(values))
    if fractional.any():
        return series, _bad_values(spec, series, fractional, "is not a whole number")
    too_big = ~isnull & (np.abs(values) >= 2.0**63)
    if too_big.any():
        return series, _bad_values(spec, series, too_big, "does not fit in 64 bits")
    if isnull.any():  # ints with nulls: float64 with NaN, which every model library reads
        return pd.Series(values), None
    return pd.Series(values.astype(np.int64)), None


def _to_float(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    values, problem = _numbers(spec, series, isnull)
    if problem is not None:
        return series, problem
    return pd.Series(values), None


def _to_bool(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        flags = series.to_numpy(dtype=bool, na_value=False)
    elif pd.api.types.is_numeric_dtype(dtype):
        numbers = series.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~isnull & ~np.isin(numbers, [0.0, 1.0])
        if bad.any():
            return series, _bad_values(spec, series, bad, "is neither 0 nor 1")
        flags = numbers == 1.0
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return series, _wrong_dtype(spec, series)
    else:
        words = series.astype(object).where(~isnull, "").astype(str).str.strip().str.lower()
        mapped = words.map(_BOOL_WORDS)
        bad = ~isnull & mapped.isna().to_numpy(dtype=bool)
        if bad.any():
            return series, _bad_values(spec, series, bad, "is not a boolean")
        flags = mapped.eq(True).to_numpy(dtype=bool)
    if isnull.any():  # nullable booleans: pandas' "boolean" dtype keeps the nulls
        return pd.Series(pd.arrays.BooleanArray(flags & ~isnull, isnull.copy())), None
    return pd.Series(flags), None


def _to_string(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    values = series.astype(object).to_numpy(dtype=object, copy=True)
    keep = ~isnull
    if keep.any():
        values[keep] = series[keep].astype(str).to_numpy(dtype=object)
    values[isnull] = np.nan
    return pd.Series(values), None


def _to_datetime(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return series.reset_index(drop=True), None
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return series, _wrong_dtype(spec, series)
    raw = series.astype(object).where(~isnull, None)
    try:
        parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    except (ValueError, TypeError):  # mixed time zones: bring them to UTC
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601", utc=True)
        except (ValueError, TypeError):
            return series, _problem(
                spec,
                "type",
                str(dtype),
                f"Column {spec.name!r} expects datetime, but its values cannot be read as dates.",
            )
    bad = ~isnull & parsed.isna().to_numpy(dtype=bool)
    if bad.any():
        return series, _bad_values(spec, series, bad, "is not an ISO 8601 date or time")
    return pd.Series(parsed).reset_index(drop=True), None


def _to_category(spec: ColumnSpec, series: pd.Series, isnull: np.ndarray) -> Converted:
    converted, _ = _to_string(spec, series, isnull)
    if spec.categories is not None:
        unseen = ~isnull & ~converted.isin(spec.categories).to_numpy(dtype=bool)
        if unseen.any():
            count, at, value = _first(unseen, converted)
            more = f" ({count} values in total)" if count > 1 else ""
            return series, _problem(
                spec,
                "category",
                f"{value!r} at row {at}",
                f"Column {spec.name!r} has the unknown category {value!r} at row {at}{more}, "
                f"expected one of {spec.categories[:20]}.",
            )
    categorical = pd.Categorical(converted.where(~isnull, None), categories=spec.categories)
    return pd.Series(categorical), None


_CONVERTERS = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "string": _to_string,
    "datetime": _to_datetime,
    "category": _to_category,
}
