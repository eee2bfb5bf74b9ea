"""Featurization: the fitted pipeline takes raw rows exactly as they were in the training file."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from automl.candidate import Candidate
from automl.prepare import Plan
from automl.schema import infer_schema
from automl.spec import Task
from automl.trainer.core import build_pipeline
from automl.validation import ValidationPlan
from tests.conftest import classification_frame


def plan_for(frame: pd.DataFrame, label: str = "y") -> Plan:
    features = frame.drop(columns=[label])
    schema = infer_schema(features, label)
    return Plan(task=Task.classification, label=label, metric="roc_auc", n_rows=len(frame),
                n_features=len(schema.input_columns), classes=sorted(frame[label].unique()),
                feature_schema=schema, validation=ValidationPlan(method="cv", folds=3, reason="test"))


def test_the_schema_types_columns_and_drops_constant_and_id_like_ones() -> None:
    schema = infer_schema(classification_frame().drop(columns=["y"]), "y")
    kinds = {c.name: (c.kind, c.reason) for c in schema.columns}
    assert kinds["x1"] == ("numeric", None)
    assert kinds["color"] == ("categorical", None)
    assert kinds["signup"] == ("datetime", None)
    assert kinds["constant"] == ("dropped", "constant")
    assert kinds["id"][0] == "dropped" and "ID-like" in kinds["id"][1]
    assert schema.column("color").missing_share == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("algorithm", ["lightgbm", "hist_gradient_boosting", "random_forest", "logistic_regression", "knn", "mlp"])
def test_fitted_pipelines_take_raw_csv_rows(algorithm: str) -> None:
    frame = classification_frame(n=200)
    plan = plan_for(frame)
    y = frame["y"].map({c: i for i, c in enumerate(plan.classes)}).to_numpy()
    pipeline = build_pipeline(plan, Candidate(id="c0000", algorithm=algorithm), seed=0, n_jobs=1)
    pipeline.fit(frame.drop(columns=["y"]), y)

    # Three rows re-read from CSV text: pandas infers other dtypes for so few rows.
    raw = pd.read_csv(io.StringIO(frame.drop(columns=["y"]).head(3).to_csv(index=False)))
    raw["x1"] = raw["x1"].astype(str)  # numbers arriving as text
    raw.loc[0, "color"] = "purple"  # a category never seen in training
    raw.loc[1, "x2"] = np.nan
    raw = raw[list(reversed(raw.columns))]  # column order does not matter
    proba = pipeline.predict_proba(raw)
    assert proba.shape == (3, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)


def test_high_cardinality_categoricals_are_target_encoded_for_linear_models() -> None:
    rng = np.random.default_rng(0)
    city = rng.choice([f"city{i}" for i in range(60)], size=600)
    frame = pd.DataFrame({"city": city, "x": rng.normal(size=600), "y": np.where(np.char.endswith(city.astype(str), "7"), "a", "b")})
    plan = plan_for(frame)
    assert plan.feature_schema.column("city").high_cardinality
    pipeline = build_pipeline(plan, Candidate(id="c0000", algorithm="logistic_regression"), seed=0, n_jobs=1)
    y = (frame["y"] == "b").astype(int).to_numpy()
    pipeline.fit(frame.drop(columns=["y"]), y)
    features = pipeline[:-1].transform(frame.drop(columns=["y"]).head(5))
    assert features.shape[1] < 10  # not 60 one-hot columns
    assert pipeline.score(frame.drop(columns=["y"]), y) > 0.95


def test_a_missing_input_column_is_named() -> None:
    frame = classification_frame(n=100)
    plan = plan_for(frame)
    pipeline = build_pipeline(plan, Candidate(id="c0000", algorithm="lightgbm"), seed=0, n_jobs=1)
    pipeline.fit(frame.drop(columns=["y"]), (frame["y"] == "class_1").astype(int))
    with pytest.raises(ValueError, match=r"input lacks the columns \['x2'\]"):
        pipeline.predict(frame.drop(columns=["y", "x2"]))


def test_datetime_columns_expand_into_calendar_parts() -> None:
    frame = classification_frame(n=100)
    plan = plan_for(frame)
    pipeline = build_pipeline(plan, Candidate(id="c0000", algorithm="random_forest"), seed=0, n_jobs=1)
    pipeline.fit(frame.drop(columns=["y"]), (frame["y"] == "class_1").astype(int))
    names = list(pipeline[:-1].get_feature_names_out())
    assert {"signup__year", "signup__month", "signup__day_of_week"} <= set(names)
    assert "constant" not in names and "id" not in names
