"""Metrics are handled uniformly whatever their direction; folds follow Azure's auto rule."""

from __future__ import annotations

import numpy as np
import pytest

from automl import metrics
from automl.spec import Task, ValidationSpec
from automl.validation import assign_folds, choose


def test_every_metric_ranks_a_better_prediction_higher() -> None:
    y = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    good = np.column_stack([1 - (y * 0.8 + 0.1), y * 0.8 + 0.1])
    bad = np.full_like(good, 0.5)
    bad[:, 1] = [0.6, 0.4, 0.5, 0.7, 0.3, 0.6, 0.5, 0.4]
    bad[:, 0] = 1 - bad[:, 1]
    for name in ("roc_auc", "accuracy", "balanced_accuracy", "log_loss", "f1_macro", "f1_weighted"):
        metric = metrics.get(name)
        assert metric.better(metric(y, good), metric(y, bad)), name
    target = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    for name in ("r2", "rmse", "mae", "spearman"):
        metric = metrics.get(name)
        assert metric.better(metric(target, target + 0.1), metric(target, target[::-1])), name


def test_losses_stay_losses_and_reached_respects_direction() -> None:
    log_loss = metrics.get("log_loss")
    assert not log_loss.greater_is_better
    assert log_loss.reached(0.1, target=0.2) and not log_loss.reached(0.3, target=0.2)
    assert metrics.get("roc_auc").reached(0.95, target=0.9)


def test_multiclass_roc_auc_is_one_vs_rest() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    perfect = np.eye(3)[y]
    assert metrics.get("roc_auc")(y, perfect) == pytest.approx(1.0)


@pytest.mark.parametrize(("rows", "method", "folds"), [(999, "cv", 10), (1000, "cv", 3), (20_000, "cv", 3), (20_001, "holdout", 1)])
def test_auto_validation_picks_by_data_size_as_azure_does(rows: int, method: str, folds: int) -> None:
    plan = choose(ValidationSpec(), rows)
    assert (plan.method, plan.folds) == (method, folds)


def test_folds_are_stratified_and_cover_every_row_once() -> None:
    y = np.array([0] * 90 + [1] * 10)
    folds = assign_folds(choose(ValidationSpec(method="cv", folds=5), len(y)), y, Task.classification, seed=0)
    assert set(folds) == {0, 1, 2, 3, 4}
    for fold in range(5):
        assert (y[folds == fold] == 1).sum() == 2


def test_holdout_validates_only_the_held_out_share() -> None:
    y = np.arange(1000, dtype=float)
    plan = choose(ValidationSpec(method="holdout", holdout_fraction=0.2), len(y))
    folds = assign_folds(plan, y, Task.regression, seed=0)
    assert (folds == 0).sum() == 200 and (folds == -1).sum() == 800
