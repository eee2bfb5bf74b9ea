"""Step 1, prepare: read and check the data once, and write what every candidate needs.

Under the run location this writes ``prepared/train.parquet`` (features, label and the fold
of each row) and ``prepared/plan.json`` (feature schema, classes, validation plan, guardrail
findings). Candidates then read the prepared data instead of the user's file, so all of them
see the same rows and the same folds, locally and in pods alike.
"""

from __future__ import annotations

import io
import time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from automl import storage
from automl.data import read_table, split_label
from automl.schema import FeatureSchema, infer_schema
from automl.spec import AutoMLJobSpec, Task
from automl.validation import ValidationPlan, assign_folds, choose

FOLD_COLUMN = "__automl_fold__"
PLAN_FILE = "prepared/plan.json"
DATA_FILE = "prepared/train.parquet"


class Guardrail(BaseModel):
    """A data check, in Azure ML's terms: passed, done (we fixed it) or alerted (we could not)."""

    check: str
    result: str  # passed | done | alerted
    detail: str


class Plan(BaseModel):
    task: Task
    label: str
    metric: str
    n_rows: int
    n_features: int
    classes: list[Any] = Field(default_factory=list)
    class_counts: list[int] = Field(default_factory=list)
    feature_schema: FeatureSchema
    validation: ValidationPlan
    guardrails: list[Guardrail] = Field(default_factory=list)
    seed: int = 0
    prepare_seconds: float = 0.0

    @property
    def n_classes(self) -> int:
        return len(self.classes)


def _encode_classes(target: pd.Series) -> tuple[list[Any], np.ndarray, list[int]]:
    """Sorted class labels as plain JSON values, and each row's class index."""
    values = target.to_numpy(dtype=object)
    classes = sorted(pd.unique(values), key=lambda v: (str(type(v)), v))
    index = {c: i for i, c in enumerate(classes)}
    codes = np.fromiter((index[v] for v in values), dtype=np.int32, count=len(values))
    counts = np.bincount(codes, minlength=len(classes)).tolist()
    plain = [c.item() if hasattr(c, "item") else c for c in classes]
    return plain, codes, counts


def prepare(spec: AutoMLJobSpec, run_uri: str, guardrails: Any = None) -> Plan:
    """Read ``spec.data.train``, check it, and write the prepared data and plan."""
    started = time.monotonic()
    frame = read_table(spec.data.train, "data.train")
    features, target = split_label(frame, spec, spec.data.train)
    schema = infer_schema(features, spec.data.label, spec.data.drop_columns)
    if not schema.input_columns:
        from automl.errors import DataError

        dropped = "; ".join(f"{c.name}: {c.reason}" for c in schema.columns)
        raise DataError(f"{spec.data.train}: no usable feature columns ({dropped})")
    classes: list[Any] = []
    counts: list[int] = []
    if spec.task is Task.classification:
        classes, y, counts = _encode_classes(target)
    else:
        y = target.to_numpy(dtype=float)
    validation = choose(spec.validation, len(features))
    folds = assign_folds(validation, y, spec.task, spec.seed)
    plan = Plan(
        task=spec.task,
        label=spec.data.label,
        metric=spec.metric,
        n_rows=len(features),
        n_features=len(schema.input_columns),
        classes=classes,
        class_counts=counts,
        feature_schema=schema,
        validation=validation,
        seed=spec.seed,
    )
    if guardrails is not None:
        plan.guardrails = guardrails(features, target, plan)
    table = features[schema.input_columns].copy()
    for name in table.columns:
        if table[name].dtype == object:  # mixed Python objects do not map onto Parquet types
            table[name] = table[name].where(table[name].isna(), table[name].astype(str))
    table[plan.label] = y
    table[FOLD_COLUMN] = folds
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    storage.write_bytes(storage.join(run_uri, DATA_FILE), buffer.getvalue())
    plan.prepare_seconds = round(time.monotonic() - started, 3)
    storage.write_text(storage.join(run_uri, PLAN_FILE), plan.model_dump_json(indent=2))
    return plan


@lru_cache(maxsize=2)
def load_prepared(run_uri: str) -> tuple[Plan, pd.DataFrame, np.ndarray, np.ndarray]:
    """The plan, feature frame, encoded target and folds (cached per process)."""
    plan = Plan.model_validate_json(storage.read_text(storage.join(run_uri, PLAN_FILE)))
    table = pd.read_parquet(io.BytesIO(storage.read_bytes(storage.join(run_uri, DATA_FILE))))
    folds = table.pop(FOLD_COLUMN).to_numpy()
    y = table.pop(plan.label).to_numpy()
    return plan, table, y, folds
