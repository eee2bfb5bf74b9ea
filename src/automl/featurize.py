"""Featurization as the first steps of every candidate's sklearn Pipeline.

The fitted pipeline takes raw rows exactly as they came in the training file (a CSV read by
pandas, a JSON record): :class:`InputCoercer` first selects the schema's columns and coerces
their types, so ``"3"`` and ``3`` mean the same number and unseen categories become missing.
Then a ColumnTransformer encodes them in the style the algorithm needs:

- ``native`` (LightGBM, HistGradientBoosting): numbers pass through with their NaNs;
  categoricals become pandas ``category`` columns the boosters split on directly;
- ``tree`` (random forest, extra trees): numbers pass through (sklearn trees handle NaN);
  categoricals become ordinal codes;
- ``linear`` (linear models, k-NN, MLP): median imputation with missing indicators and
  scaling; one-hot for low-cardinality categoricals (rare ones grouped), target encoding
  for high-cardinality ones.

Datetime columns expand into calendar parts in every style.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from automl.schema import ONE_HOT_MAX_CATEGORIES, FeatureSchema

Style = Literal["native", "tree", "linear"]

# HistGradientBoosting splits on at most 255 bins, one of them for missing values.
NATIVE_MAX_CATEGORIES = 250
DATETIME_PARTS = ("year", "month", "day", "day_of_week", "hour", "day_of_year")


class InputCoercer(TransformerMixin, BaseEstimator):
    """Select the schema's columns and give each the type it had in training."""

    def __init__(self, numeric: list[str], categorical: list[str], datetime: list[str]) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.datetime = datetime

    def fit(self, X: pd.DataFrame, y: Any = None) -> InputCoercer:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("the model takes a pandas DataFrame with named columns")
        wanted = [*self.numeric, *self.categorical, *self.datetime]
        missing = [c for c in wanted if c not in X.columns]
        if missing:
            raise ValueError(f"input lacks the columns {missing}")
        # Numbers as one float block: per-column pandas calls dominate the cost of
        # predicting a single row, so columns that are already numeric skip them.
        frame = pd.DataFrame(_numeric_block(X, self.numeric), columns=self.numeric, index=X.index)
        if not self.categorical and not self.datetime:
            return frame
        others: dict[str, Any] = {}
        for name in self.categorical:
            others[name] = _as_category_text(X[name])
        for name in self.datetime:
            others[name] = pd.to_datetime(X[name], errors="coerce", format="mixed", utc=True)
        return pd.concat([frame, pd.DataFrame(others, index=X.index)], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([*self.numeric, *self.categorical, *self.datetime], dtype=object)


def _numeric_block(X: pd.DataFrame, columns: list[str]) -> np.ndarray:
    block = np.empty((len(X), len(columns)), dtype=float)
    if not columns:
        return block
    numbers = X[columns]
    if all(dtype.kind in "biuf" for dtype in numbers.dtypes):
        return numbers.to_numpy(dtype=float, na_value=np.nan)
    for i, name in enumerate(columns):
        values = numbers[name]
        if values.dtype.kind not in "biuf":
            values = pd.to_numeric(values, errors="coerce")
        block[:, i] = values.to_numpy(dtype=float, na_value=np.nan)
    return block


def _as_category_text(values: pd.Series) -> pd.Series:
    missing = values.isna()
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        text = values.astype(object)
    else:
        text = values.astype(object).map(_category_text)
    return text.where(~missing, np.nan)


def _category_text(value: Any) -> str:
    """One spelling per category whether it came from CSV text or JSON numbers (3.0 -> '3')."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class DatetimeExpander(TransformerMixin, BaseEstimator):
    """Calendar parts of datetime columns as numbers (NaN where the date is missing)."""

    def fit(self, X: pd.DataFrame, y: Any = None) -> DatetimeExpander:
        self.columns_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, Any] = {}
        for name in self.columns_:
            values = pd.to_datetime(X[name], errors="coerce", utc=True)
            for part in DATETIME_PARTS:
                out[f"{name}__{part}"] = getattr(values.dt, part).astype(float)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([f"{c}__{p}" for c in self.columns_ for p in DATETIME_PARTS], dtype=object)


class CategoryEncoder(TransformerMixin, BaseEstimator):
    """Map categoricals to fixed categories learned in fit; unseen values become missing.

    ``output="category"`` gives pandas categorical columns (for boosters with native
    categorical support); ``output="codes"`` gives float codes with NaN for missing.
    """

    def __init__(self, output: Literal["category", "codes"] = "codes", max_categories: int = NATIVE_MAX_CATEGORIES) -> None:
        self.output = output
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y: Any = None) -> CategoryEncoder:
        self.categories_ = {
            name: list(X[name].value_counts(dropna=True).index[: self.max_categories]) for name in X.columns
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out: dict[str, Any] = {}
        for name, categories in self.categories_.items():
            values = X[name]
            cat = pd.Categorical(values.where(values.isin(categories)), categories=categories)
            out[name] = cat if self.output == "category" else np.where(cat.codes < 0, np.nan, cat.codes)
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(list(self.categories_), dtype=object)


def _linear_numeric() -> Pipeline:
    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())


def build_featurizer(schema: FeatureSchema, style: Style, task_is_classification: bool) -> Pipeline:
    """The featurization steps for one algorithm style, as a Pipeline ending in features."""
    numeric = [c.name for c in schema.of_kind("numeric")]
    categorical = [c.name for c in schema.of_kind("categorical")]
    datetime = [c.name for c in schema.of_kind("datetime")]
    low = [c.name for c in schema.of_kind("categorical") if not c.high_cardinality]
    high = [c.name for c in schema.of_kind("categorical") if c.high_cardinality]

    parts: list[tuple[str, Any, list[str]]] = []
    if style == "linear":
        if numeric:
            parts.append(("numeric", _linear_numeric(), numeric))
        if datetime:
            parts.append(("datetime", make_pipeline(DatetimeExpander(), _linear_numeric()), datetime))
        if low:
            onehot = OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                max_categories=ONE_HOT_MAX_CATEGORIES,
                min_frequency=3,
                sparse_output=False,
            )
            parts.append(
                (
                    "onehot",
                    make_pipeline(SimpleImputer(strategy="constant", fill_value="__missing__"), onehot),
                    low,
                )
            )
        if high:
            encoder = TargetEncoder(target_type="auto", cv=KFold(n_splits=5, shuffle=True, random_state=0))
            parts.append(
                (
                    "target",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="__missing__"),
                        encoder,
                        StandardScaler(),
                    ),
                    high,
                )
            )
    else:
        if numeric:
            parts.append(("numeric", "passthrough", numeric))
        if datetime:
            parts.append(("datetime", DatetimeExpander(), datetime))
        if categorical:
            output: Literal["category", "codes"] = "category" if style == "native" else "codes"
            parts.append(("categorical", CategoryEncoder(output=output), categorical))

    transformer = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    if style == "native":
        transformer.set_output(transform="pandas")
    return Pipeline(
        [
            ("input", InputCoercer(numeric, categorical, datetime)),
            ("features", transformer),
        ]
    )
