"""The search strategy: portfolio first, then TPE within each learner's space; ids in order;
allowed/blocked lists and maxCandidates respected; deterministic for a seed; restorable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from automl import algorithms
from automl.candidate import Candidate, CandidateResult
from automl.guardrails import check_all
from automl.prepare import Plan, prepare
from automl.search import MODEL_SOURCE, PORTFOLIO, PORTFOLIO_SOURCE, PROMOTED_SOURCE, SearchStrategy
from automl.spec import AutoMLJobSpec, Task, load_job
from tests.conftest import classification_frame, regression_frame


@pytest.fixture
def setup(make_job: Callable[..., Path], tmp_path: Path) -> Callable[..., tuple[AutoMLJobSpec, Plan]]:
    def make(frame: pd.DataFrame | None = None, task: str = "classification", **spec: Any) -> tuple[AutoMLJobSpec, Plan]:
        frame = frame if frame is not None else (classification_frame(n=200) if task == "classification"
                                                 else regression_frame(n=200))
        search = {"maxCandidates": 60, "maxParallel": 1, "strategy": "auto", **spec.pop("search", {})}
        body = {"search": search, **spec}
        job = load_job(make_job(frame, task=task, **body))
        plan = prepare(job.spec, str(tmp_path / "run"), check_all)
        return job.spec, plan

    return make


def fake_result(candidate: Candidate, score: float | None, metric: str = "roc_auc", at: float = 0.0) -> CandidateResult:
    return CandidateResult(
        id=candidate.id, algorithm=candidate.algorithm, params=candidate.params, source=candidate.source,
        sample_rows=candidate.sample_rows, status="succeeded" if score is not None else "failed",
        metric=metric, score=score, fit_seconds=1.0, finished_at=at,
    )


def synthetic_score(candidate: Candidate) -> float:
    """A deterministic stand-in for training: depends on the learner and its settings."""
    base = {"lightgbm": 0.9, "hist_gradient_boosting": 0.88, "extra_trees": 0.86}.get(candidate.algorithm, 0.8)
    lr = candidate.params.get("learning_rate")
    bonus = -abs(np.log(lr) - np.log(0.05)) * 0.01 if isinstance(lr, float) else 0.0
    return round(base + bonus, 6)


def drive(strategy: SearchStrategy, n: int) -> list[Candidate]:
    out = []
    for step in range(n):
        candidate = strategy.ask()
        if candidate is None:
            break
        out.append(candidate)
        strategy.tell(fake_result(candidate, synthetic_score(candidate), at=float(step)))
    return out


def in_space(value: Any, dist: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    assert isinstance(dist, IntDistribution | FloatDistribution)
    return dist.low <= value <= dist.high


def test_the_portfolio_comes_first_in_order_with_sequential_ids(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup()
    proposed = drive(SearchStrategy(spec, plan), 40)
    portfolio = PORTFOLIO[Task.classification]
    assert [c.id for c in proposed] == [f"c{i:04d}" for i in range(len(proposed))]
    assert [(c.algorithm, c.source) for c in proposed[: len(portfolio)]] == [(a, PORTFOLIO_SOURCE) for a, _ in portfolio]
    assert all(c.source == MODEL_SOURCE for c in proposed[len(portfolio):])


def test_model_based_proposals_lie_in_their_learner_space(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup()
    strategy = SearchStrategy(spec, plan)
    proposed = [c for c in drive(strategy, 40) if c.source == MODEL_SOURCE]
    assert len(proposed) >= 20
    for c in proposed:
        learner = algorithms.get(c.algorithm)
        space = learner.space(strategy.shape)
        assert set(space) | set(learner.search_fixed) == set(c.params)
        assert all(in_space(c.params[name], dist) for name, dist in space.items()), c
    # TPE refines the learners that did best: LightGBM (the best here) gets the most proposals.
    counts = pd.Series([c.algorithm for c in proposed]).value_counts()
    assert counts.index[0] == "lightgbm"


def test_allowed_and_blocked_algorithms_are_respected(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup(search={"maxCandidates": 30, "maxParallel": 1, "allowedAlgorithms": ["lightgbm", "knn", "sgd"],
                               "blockedAlgorithms": ["sgd"]})
    proposed = drive(SearchStrategy(spec, plan), 30)
    assert len(proposed) == 30
    assert {c.algorithm for c in proposed} == {"lightgbm", "knn"}


def test_max_candidates_ends_the_search_for_good(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup(search={"maxCandidates": 5, "maxParallel": 1})
    strategy = SearchStrategy(spec, plan)
    assert len(drive(strategy, 100)) == 5
    assert strategy.exhausted and strategy.ask() is None


def test_the_portfolio_strategy_stops_after_the_portfolio(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup(search={"maxCandidates": 100, "maxParallel": 1, "strategy": "portfolio"})
    strategy = SearchStrategy(spec, plan)
    assert len(drive(strategy, 100)) == len(PORTFOLIO[Task.classification])
    assert strategy.exhausted


def test_random_strategy_samples_within_the_spaces(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup(task="regression", search={"maxCandidates": 20, "maxParallel": 1, "strategy": "random"})
    strategy = SearchStrategy(spec, plan)
    for c in drive(strategy, 20):
        space = algorithms.get(c.algorithm).space(strategy.shape)
        assert all(in_space(c.params[n], d) for n, d in space.items())


def test_the_same_seed_and_results_give_the_same_proposals(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup()
    first = drive(SearchStrategy(spec, plan), 35)
    second = drive(SearchStrategy(spec, plan), 35)
    assert [c.model_dump() for c in first] == [c.model_dump() for c in second]
    other = spec.model_copy(update={"seed": 7})
    third = drive(SearchStrategy(other, plan), 35)
    assert [c.params for c in third] != [c.params for c in first]


def test_restore_keeps_the_next_id_and_accepts_results_of_pending_candidates(setup) -> None:  # type: ignore[no-untyped-def]
    spec, plan = setup(search={"maxCandidates": 60, "maxParallel": 3})
    strategy = SearchStrategy(spec, plan)
    done = drive(strategy, 20)
    pending = [strategy.ask(), strategy.ask()]
    assert all(p is not None for p in pending)
    results = [fake_result(c, synthetic_score(c), at=float(i)) for i, c in enumerate(done)]

    restored = SearchStrategy.restore(spec, plan, [*done, *pending], results)  # type: ignore[list-item]
    nxt = restored.ask()
    assert nxt is not None and nxt.id == "c0022"
    for p in pending:
        assert p is not None
        restored.tell(fake_result(p, synthetic_score(p)))
    # Carries on with model-based proposals within the spaces.
    more = drive(restored, 10)
    assert [c.id for c in more] == [f"c{i:04d}" for i in range(23, 33)]


def test_large_data_searches_on_subsamples_and_promotes_the_best_to_all_rows(setup) -> None:  # type: ignore[no-untyped-def]
    spec, small = setup()
    plan = small.model_copy(update={"n_rows": 200_000})
    plan.validation = plan.validation.model_copy(update={"method": "holdout", "folds": 1, "holdout_fraction": 0.1})
    strategy = SearchStrategy(spec, plan)
    proposed = drive(strategy, 45)
    expensive = [c for c in proposed if c.source == PORTFOLIO_SOURCE and c.algorithm in ("random_forest", "extra_trees")]
    assert expensive and all(c.sample_rows for c in expensive)
    rung0 = [c for c in proposed if c.source == MODEL_SOURCE]
    promoted = [c for c in proposed if c.source == PROMOTED_SOURCE]
    assert rung0 and all(c.sample_rows == strategy.rung0_rows for c in rung0)
    assert promoted and all(c.sample_rows is None for c in promoted)
    # A promotion repeats a first-rung configuration that was among the best third.
    scores = {tuple(sorted(c.params.items())): synthetic_score(c) for c in rung0}
    for c in promoted:
        assert tuple(sorted(c.params.items())) in scores


def test_class_weights_apply_when_the_metric_counts_classes_equally(setup) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=400), "z": rng.normal(size=400)})
    frame["y"] = np.where(frame["x"] > 1.7, "rare", "common")
    spec, plan = setup(frame, primaryMetric="balanced_accuracy")
    weighted = [c for c in drive(SearchStrategy(spec, plan), 20) if algorithms.get(c.algorithm).takes_class_weight]
    assert weighted and all(c.params.get("class_weight") == "balanced" for c in weighted)

    spec, plan = setup(frame, primaryMetric="roc_auc")
    assert all("class_weight" not in c.params for c in drive(SearchStrategy(spec, plan), 20))
