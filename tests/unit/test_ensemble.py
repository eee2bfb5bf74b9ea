"""Greedy ensemble selection (Caruana et al.) on constructed predictions whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from automl import metrics
from automl.candidate import CandidateResult
from automl.ensemble import greedy_selection
from automl.finalize import ensemble_pool, final_params


def test_two_complementary_models_are_averaged_and_the_useless_one_is_left_out() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    noise_a = rng.normal(scale=0.3, size=400)
    noise_b = rng.normal(scale=0.3, size=400)
    # A and B are equally good with independent errors: their average halves the error variance.
    a, b = y + noise_a, y + noise_b
    useless = rng.normal(scale=3.0, size=400) + 5.0  # far off: any weight on it hurts
    selection = greedy_selection([a, useless, b], y, metrics.get("rmse"), rounds=20)
    assert set(selection.weights) == {0, 2}
    assert selection.weights[0] == pytest.approx(0.5, abs=0.15)
    assert sum(selection.weights.values()) == pytest.approx(1.0)
    single = min(metrics.get("rmse")(y, a), metrics.get("rmse")(y, b))
    assert selection.score < single * 0.85


def test_a_dominant_model_is_chosen_alone() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=300)
    perfect = np.column_stack([1.0 - y, y]).astype(float)
    weak = np.full((300, 2), 0.5) + rng.normal(scale=0.1, size=(300, 1)) * np.array([1, -1])
    selection = greedy_selection([weak, perfect], y, metrics.get("log_loss"), rounds=10)
    assert selection.weights == {1: 1.0}


def test_selection_keeps_the_best_prefix_of_rounds() -> None:
    # With one good model and one bad one, adding the bad one only hurts: weights stay on the good.
    y = np.linspace(0, 1, 100)
    good, bad = y + 0.01, y[::-1]
    selection = greedy_selection([good, bad], y, metrics.get("r2"), rounds=15)
    assert selection.weights == {0: 1.0}


def result(cid: str, algorithm: str, score: float) -> CandidateResult:
    return CandidateResult(id=cid, algorithm=algorithm, status="succeeded", metric="roc_auc", score=score)


def test_the_pool_takes_the_best_of_each_learner_before_near_copies() -> None:
    ranked = [result("c1", "lightgbm", 0.95), result("c2", "lightgbm", 0.949), result("c3", "lightgbm", 0.948),
              result("c4", "extra_trees", 0.94), result("c5", "knn", 0.90), result("c6", "lightgbm", 0.89)]
    pool = ensemble_pool(ranked, 4)
    assert [r.id for r in pool] == ["c1", "c2", "c4", "c5"]
    assert [r.id for r in ensemble_pool(ranked, 2)] == ["c1", "c4"]


def test_final_fits_of_early_stopped_lightgbm_refit_on_all_rows() -> None:
    assert final_params({"early_stopping": True, "n_estimators": 100})["refit"] is True
    assert "refit" not in final_params({"n_estimators": 100})
    assert "refit" not in final_params({"early_stopping": True, "max_iter": 100})  # HistGradientBoosting
