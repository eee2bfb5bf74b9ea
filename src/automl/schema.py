"""The feature schema: what the input columns of a model are, as seen in the training file.

It is inferred once when the data is prepared, drives featurization, travels inside the model
artifact, and lets the serving layer validate requests before they reach the pipeline.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

ColumnKind = Literal["numeric", "categorical", "datetime", "dropped"]

# A categorical column with more distinct values than this is "high cardinality": it is
# ordinal- or target-encoded instead of one-hot encoded.
ONE_HOT_MAX_CATEGORIES = 16
# At most this many categories are remembered in the schema (the rest count as unseen).
SCHEMA_MAX_CATEGORIES = 256
# A string column whose values parse as dates for at least this share is a datetime column.
DATETIME_PARSE_SHARE = 0.9


class ColumnSchema(BaseModel):
    name: str
    dtype: str = Field(description="pandas dtype as read from the training file")
    kind: ColumnKind
    reason: str | None = Field(default=None, description="why a dropped column is dropped")
    missing_share: float = 0.0
    n_unique: int = 0
    categories: list[str] | None = Field(
        default=None, description="most frequent categories seen in training (categorical only)"
    )

    @property
    def high_cardinality(self) -> bool:
        return self.kind == "categorical" and self.n_unique > ONE_HOT_MAX_CATEGORIES

    @property
    def v2_datatype(self) -> str:
        """The Open Inference Protocol datatype a client should send for this column."""
        if self.kind == "numeric":
            return "BOOL" if self.dtype == "bool" else ("INT64" if "int" in self.dtype else "FP64")
        return "BYTES"


class FeatureSchema(BaseModel):
    label: str
    columns: list[ColumnSchema]

    @property
    def input_columns(self) -> list[str]:
        """Every column a prediction request must carry (dropped ones are accepted and ignored)."""
        return [c.name for c in self.columns if c.kind != "dropped"]

    def of_kind(self, kind: ColumnKind) -> list[ColumnSchema]:
        return [c for c in self.columns if c.kind == kind]

    def column(self, name: str) -> ColumnSchema:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _looks_like_datetime(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(500)
    if sample.empty or sample.str.fullmatch(r"[-+]?\d+(\.\d+)?").mean() > 0.5:
        return False  # plain numbers are not dates
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= DATETIME_PARSE_SHARE)


def _is_id_like(values: pd.Series, n_rows: int) -> bool:
    """Unique per row and not a measurement: integer or string keys such as customer ids."""
    non_null = values.dropna()
    if n_rows < 50 or non_null.nunique() < 0.95 * n_rows:
        return False
    return not (pd.api.types.is_float_dtype(values) and not np.allclose(non_null, np.round(non_null)))


def infer_column(values: pd.Series, drop_reason: str | None = None) -> ColumnSchema:
    n_rows = len(values)
    n_unique = int(values.nunique(dropna=True))
    base: dict[str, Any] = {
        "name": str(values.name),
        "dtype": str(values.dtype),
        "missing_share": float(values.isna().mean()) if n_rows else 0.0,
        "n_unique": n_unique,
    }
    if drop_reason:
        return ColumnSchema(kind="dropped", reason=drop_reason, **base)
    if n_unique <= 1:
        reason = "all values missing" if n_unique == 0 else "constant"
        return ColumnSchema(kind="dropped", reason=reason, **base)
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        if pd.api.types.is_integer_dtype(values) and _is_id_like(values, n_rows):
            return ColumnSchema(kind="dropped", reason="ID-like (a distinct integer per row)", **base)
        return ColumnSchema(kind="numeric", **base)
    if pd.api.types.is_datetime64_any_dtype(values) or _looks_like_datetime(values):
        return ColumnSchema(kind="datetime", **base)
    if _is_id_like(values, n_rows):
        return ColumnSchema(kind="dropped", reason="ID-like (a distinct value per row)", **base)
    counts = values.dropna().astype(str).value_counts()
    categories = [str(c) for c in counts.index[:SCHEMA_MAX_CATEGORIES]]
    return ColumnSchema(kind="categorical", categories=categories, **base)


def infer_schema(features: pd.DataFrame, label: str, drop_columns: list[str] | tuple[str, ...] = ()) -> FeatureSchema:
    columns = [
        infer_column(features[name], "dropped by data.dropColumns" if name in drop_columns else None)
        for name in features.columns
    ]
    return FeatureSchema(label=label, columns=columns)
