"""Request bodies in, a validated DataFrame out; predictions in, response bodies out.

Every protocol (Open Inference Protocol v2, KServe v1, plain records) is first reduced to one
shape — a dict of column name to a list of values, all of the same length — and then checked
once against the model's feature schema by :class:`InputSchema`. The checks are the ones a
client can act on, and each message names the column (and the row, where there is one):

- a column the model needs is absent from every row: 422 ``missing_column``. A key absent
  from only some records is a missing value for those rows, as pandas reads such records.
- a numeric column with a value that is not a number (``"3"`` counts as the number 3, as it
  does in a CSV file; ``"abc"``, a list or an object do not): 422 ``wrong_type``.
- a categorical column with a list or an object: 422 ``wrong_type``; numbers are accepted and
  read as their text (``3`` and ``"3"`` are the same category, as in training).
- a datetime column with text that does not parse as a date/time: 422 ``wrong_type``.
- ``+/-Infinity`` in a numeric column: 422 ``infinite``; the pipeline has no meaning for it.
- ``null`` or ``NaN`` (the token Python's json module writes): a *missing value*, accepted and
  imputed exactly as missing values in the training file were (the pipeline's own imputation).
- a category never seen in training: accepted; the pipeline treats it as it does a missing
  category (tree and boosting models) or as an infrequent one (linear models).
- columns the model does not use (dropped in training, or unknown): accepted and ignored, so a
  client may send a whole row of the training file, label included.
- more rows than ``max_rows``: 413.

Decoding works on plain Python lists (what the JSON parser gives) and builds numpy arrays
column by column; that is several times faster than ``pd.DataFrame(records)`` on small
requests, which matters because a single-row request must cost little more than the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from automl.schema import FeatureSchema
from automl.serving.errors import BadRequest, InvalidInput, PayloadTooLarge
from automl.spec import Task

V2_DATATYPES = frozenset(
    {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    }
)
_SCALARS = (str, int, float, bool)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # numeric | categorical | datetime
    datatype: str  # the V2 datatype a client should send


class InputSchema:
    """The feature schema compiled for fast request checking."""

    def __init__(self, schema: FeatureSchema, max_rows: int) -> None:
        self.columns = [Column(c.name, c.kind, c.v2_datatype) for c in schema.columns if c.kind != "dropped"]
        self.names = [c.name for c in self.columns]
        # Positional rows may list every column of the training file or only the used ones.
        self.all_names = [c.name for c in schema.columns]
        self.max_rows = max_rows

    # -- shapes every protocol reduces to -------------------------------------------------

    def check_rows(self, n_rows: int) -> None:
        if n_rows > self.max_rows:
            raise PayloadTooLarge(
                f"{n_rows} rows in one request; at most {self.max_rows} are accepted "
                "(split the request, or raise --max-rows)"
            )
        if n_rows == 0:
            raise InvalidInput("the request has no rows", kind="empty")

    def from_records(self, records: Any, where: str = "body") -> pd.DataFrame:
        """A list of objects keyed by column name (or lists in column order)."""
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list):
            raise BadRequest(f"{where}: expected a list of records (objects keyed by column name)")
        self.check_rows(len(records))
        first = records[0]
        if isinstance(first, list):
            return self.from_positional(records, where)
        columns: dict[str, list[Any]] = {}
        for name in self.names:
            values: list[Any] = []
            append = values.append
            try:
                for record in records:
                    append(record.get(name))
            except AttributeError:
                bad = next(i for i, r in enumerate(records) if not isinstance(r, dict))
                raise BadRequest(
                    f"{where}: row {bad} is a {type(records[bad]).__name__}, expected an object keyed by column name"
                ) from None
            if all(v is None for v in values) and not any(name in r for r in records):
                continue  # absent everywhere: reported as a missing column by to_frame
            columns[name] = values
        return self.to_frame(columns, len(records))

    def from_positional(self, rows: list[Any], where: str = "body") -> pd.DataFrame:
        """Rows as lists, in the column order of the training file (with or without dropped columns)."""
        self.check_rows(len(rows))
        width = len(rows[0]) if isinstance(rows[0], list) else -1
        if width == len(self.all_names):
            names = self.all_names
        elif width == len(self.names):
            names = self.names
        else:
            raise InvalidInput(
                f"{where}: row 0 has {width if width >= 0 else 'no list of'} values; positional rows take "
                f"{len(self.names)} values in the order {self.names}"
                + (f" (or {len(self.all_names)}: {self.all_names})" if self.all_names != self.names else ""),
                kind="wrong_shape",
            )
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise InvalidInput(
                    f"{where}: row {i} does not have {width} values like row 0", kind="wrong_shape"
                )
        columns = {name: [row[j] for row in rows] for j, name in enumerate(names)}
        return self.to_frame(columns, len(rows))

    # -- the checks -----------------------------------------------------------------------

    def to_frame(self, columns: dict[str, list[Any]], n_rows: int) -> pd.DataFrame:
        missing = [c.name for c in self.columns if c.name not in columns]
        if missing:
            raise InvalidInput(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
                f"the model takes {self.names}",
                kind="missing_column",
            )
        self.check_rows(n_rows)
        data: dict[str, Any] = {}
        for col in self.columns:
            values = columns[col.name]
            if len(values) != n_rows:
                raise InvalidInput(
                    f"column {col.name!r} has {len(values)} values, other columns have {n_rows}",
                    kind="wrong_shape",
                )
            if col.kind == "numeric":
                data[col.name] = _numeric(col.name, values)
            elif col.kind == "categorical":
                data[col.name] = _categorical(col.name, values)
            else:
                data[col.name] = _datetime(col.name, values)
        return pd.DataFrame(data, copy=False)


def _numeric(name: str, values: list[Any]) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 1:
        for row, value in enumerate(values):
            if value is None or isinstance(value, (int, float)):
                continue
            if isinstance(value, str):
                try:
                    float(value)
                    continue
                except ValueError:
                    pass
            raise InvalidInput(
                f"column {name!r}: row {row}: expected a number, got {_show(value)}", kind="wrong_type"
            )
        raise InvalidInput(f"column {name!r}: expected one number per row", kind="wrong_type")
    if np.isinf(array).any():
        row = int(np.flatnonzero(np.isinf(array))[0])
        raise InvalidInput(
            f"column {name!r}: row {row}: {array[row]} is not a usable value (send null for a missing value)",
            kind="infinite",
        )
    return array


def _categorical(name: str, values: list[Any]) -> np.ndarray:
    for row, value in enumerate(values):
        if value is not None and not isinstance(value, _SCALARS):
            raise InvalidInput(
                f"column {name!r}: row {row}: expected a category (text or number), got {_show(value)}",
                kind="wrong_type",
            )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _datetime(name: str, values: list[Any]) -> np.ndarray:
    for row, value in enumerate(values):
        if value is not None and not isinstance(value, str):
            raise InvalidInput(
                f"column {name!r}: row {row}: expected a date/time as text, got {_show(value)}",
                kind="wrong_type",
            )
    out = np.empty(len(values), dtype=object)
    out[:] = values
    present = [i for i, v in enumerate(values) if v]
    if present:
        parsed = pd.to_datetime(
            pd.Series(out[present], dtype=object), errors="coerce", format="mixed", utc=True
        )
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if len(bad):
            row = present[int(bad[0])]
            raise InvalidInput(
                f"column {name!r}: row {row}: {values[row]!r} is not a date/time", kind="wrong_type"
            )
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- Open Inference Protocol v2 --------------------------------------------------------------


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [v for row in data for v in (_flatten(row) if isinstance(row, list) else [row])]
    return data if isinstance(data, list) else [data]


def v2_columns(body: Any, schema: InputSchema) -> pd.DataFrame:
    """The ``inputs`` of a v2 infer request as a frame.

    Two layouts are accepted: one input per column, named after it (what MLServer's pandas
    codec sends, with ``parameters.content_type = "pd"``), or a single 2-D tensor of shape
    ``[rows, columns]`` whose columns are in the training file's order.
    """
    if not isinstance(body, dict):
        raise BadRequest("an inference request is a JSON object with an 'inputs' list")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise BadRequest("an inference request needs a non-empty 'inputs' list")
    tensors: dict[str, list[Any]] = {}
    shapes: dict[str, list[int]] = {}
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise BadRequest(f"inputs[{i}] needs a 'name'")
        name = tensor["name"]
        datatype = tensor.get("datatype")
        if datatype not in V2_DATATYPES:
            raise BadRequest(f"input {name!r}: datatype {datatype!r} is not one of {sorted(V2_DATATYPES)}")
        shape = tensor.get("shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape) or not shape:
            raise BadRequest(f"input {name!r}: 'shape' must be a list of non-negative integers")
        if "data" not in tensor:
            raise BadRequest(f"input {name!r} has no 'data'")
        data = _flatten(tensor["data"])
        if len(data) != math.prod(shape):
            raise BadRequest(
                f"input {name!r}: shape {shape} holds {math.prod(shape)} values, 'data' has {len(data)}"
            )
        tensors[name] = data
        shapes[name] = shape
    if len(tensors) == 1:
        ((name, data),) = tensors.items()
        shape = shapes[name]
        if name not in schema.names and len(shape) == 2:
            schema.check_rows(shape[0])
            width = shape[1]
            matrix = [data[r * width : (r + 1) * width] for r in range(shape[0])]
            return schema.from_positional(matrix, where=f"input {name!r}")
    n_rows = {name: shape[0] for name, shape in shapes.items()}
    known = {name: n for name, n in n_rows.items() if name in schema.names}
    counts = set(known.values())
    if len(counts) > 1:
        detail = ", ".join(f"{k!r}: {v}" for k, v in known.items())
        raise InvalidInput(f"inputs have different numbers of rows ({detail})", kind="wrong_shape")
    rows = counts.pop() if counts else 0
    for name in known:
        if math.prod(shapes[name][1:]) != 1:
            raise InvalidInput(
                f"input {name!r}: shape {shapes[name]}: a column takes one value per row", kind="wrong_shape"
            )
    return schema.to_frame({k: v for k, v in tensors.items() if k in known}, rows)


def label_datatype(classes: list[Any]) -> str:
    if classes and all(isinstance(c, bool) for c in classes):
        return "BOOL"
    if classes and all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return "INT64"
    if classes and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in classes):
        return "FP64"
    return "BYTES"


@dataclass
class Prediction:
    """What one request gets back: labels or values, and class probabilities."""

    task: Task
    values: Any  # labels (a list of plain values) or regression values (a float array)
    proba: np.ndarray | None  # [rows, classes] for classification

    def __len__(self) -> int:
        return len(self.values)


def v2_outputs(pred: Prediction, label_type: str, requested: Any) -> list[dict[str, Any]]:
    outputs: dict[str, dict[str, Any]] = {
        "predict": {
            "name": "predict",
            "shape": [len(pred)],
            "datatype": label_type if pred.task is Task.classification else "FP64",
            "data": pred.values,
        }
    }
    if pred.proba is not None:
        outputs["predict_proba"] = {
            "name": "predict_proba",
            "shape": list(pred.proba.shape),
            "datatype": "FP64",
            "data": pred.proba.ravel(),
        }
    if requested is None:
        return list(outputs.values())
    if not isinstance(requested, list) or not all(isinstance(o, dict) and "name" in o for o in requested):
        raise BadRequest("'outputs' must be a list of objects with a 'name'")
    chosen = []
    for item in requested:
        if item["name"] not in outputs:
            raise BadRequest(f"unknown output {item['name']!r}; this model has {sorted(outputs)}")
        chosen.append(outputs[item["name"]])
    return chosen
