"""Each data guardrail on a dataset built to trigger it and on one built not to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl import guardrails
from automl.prepare import Guardrail, prepare
from automl.spec import load_job


@pytest.fixture
def check(make_job: Callable[..., Path], tmp_path: Path) -> Callable[..., Guardrail]:
    """Prepare a frame (running every guardrail) and return the finding of one check."""

    def run(frame: pd.DataFrame, name: str, task: str = "classification", **spec: Any) -> Guardrail:
        job = load_job(make_job(frame, task=task, **spec))
        plan = prepare(job.spec, str(tmp_path / "run"), guardrails.check_all)
        assert [g.check for g in plan.guardrails] == [c.__name__ for c in guardrails.CHECKS]
        return next(g for g in plan.guardrails if g.check == name)

    return run


def clean(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """No missing values, constants, IDs, rare classes, leaks or duplicates; a noisy label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "a": rng.normal(size=n).round(6),
        "b": rng.normal(size=n).round(6),
        "colour": rng.choice(["red", "green", "blue"], size=n),
    })
    signal = frame["a"] + rng.normal(scale=1.0, size=n)
    frame["y"] = np.where(signal > 0, "yes", "no")
    return frame


def test_missing_values(check) -> None:  # type: ignore[no-untyped-def]
    frame = clean()
    frame.loc[::4, "a"] = np.nan
    found = check(frame, "missing_values")
    assert found.result == "done" and "a (25%)" in found.detail
    assert check(clean(), "missing_values").result == "passed"


def test_constant_and_id_like_columns_are_dropped(check) -> None:  # type: ignore[no-untyped-def]
    frame = clean().assign(constant=1, row_id=[f"r{i}" for i in range(300)])
    found = check(frame, "dropped_columns")
    assert found.result == "done" and "constant" in found.detail and "row_id" in found.detail
    assert check(clean(), "dropped_columns").result == "passed"


def test_high_cardinality_categoricals(check) -> None:  # type: ignore[no-untyped-def]
    frame = clean()
    frame["city"] = [f"city_{i % 60}" for i in range(300)]
    found = check(frame, "high_cardinality")
    assert found.result == "done" and "city (60 values)" in found.detail
    assert check(clean(), "high_cardinality").result == "passed"


def imbalanced(n: int = 400) -> pd.DataFrame:
    frame = clean(n)
    frame["y"] = np.where(np.arange(n) % 20 == 0, "rare", "common")  # 5 %
    return frame


def test_class_imbalance_is_alerted_for_roc_auc_and_fixed_with_class_weights_for_balanced_metrics(check) -> None:  # type: ignore[no-untyped-def]
    alerted = check(imbalanced(), "class_imbalance", primaryMetric="roc_auc")
    assert alerted.result == "alerted" and "rare" in alerted.detail and "no class weights" in alerted.detail
    done = check(imbalanced(), "class_imbalance", primaryMetric="balanced_accuracy")
    assert done.result == "done" and "class_weight='balanced'" in done.detail
    assert check(clean(), "class_imbalance").result == "passed"
    assert check(clean().assign(y=np.arange(300) * 0.5), "class_imbalance", task="regression").result == "passed"


def test_too_few_rows_for_the_validation(check) -> None:  # type: ignore[no-untyped-def]
    found = check(clean(n=40), "too_few_rows")  # 10-fold CV: 4 validation rows per fold
    assert found.result == "alerted" and "4 validation rows per fold" in found.detail
    assert check(clean(n=300), "too_few_rows").result == "passed"


def test_a_feature_that_predicts_the_label_almost_perfectly_is_a_possible_leak(check) -> None:  # type: ignore[no-untyped-def]
    frame = clean()
    frame["outcome_code"] = np.where(frame["y"] == "yes", 1.0, 0.0) + np.random.default_rng(1).normal(0, 0.01, 300)
    found = check(frame, "leakage")
    assert found.result == "alerted" and "outcome_code" in found.detail
    assert check(clean(), "leakage").result == "passed"


def test_duplicate_rows(check) -> None:  # type: ignore[no-untyped-def]
    frame = clean()
    frame = pd.concat([frame, frame.iloc[:30]], ignore_index=True)
    found = check(frame, "duplicate_rows")
    assert found.result == "alerted" and found.detail.startswith("30 rows")
    assert check(clean(), "duplicate_rows").result == "passed"


def test_every_check_has_a_trigger_test() -> None:
    tested = {"missing_values", "dropped_columns", "high_cardinality", "class_imbalance", "too_few_rows",
              "leakage", "duplicate_rows"}
    assert {c.__name__ for c in guardrails.CHECKS} == tested
