"""Which candidates to try, in what order: an ask/tell strategy shared by both executors.

The embedded runner and the operator drive the same object: ``ask()`` whenever a worker is
free, ``tell(result)`` whenever a candidate finishes. Candidate ids are sequential
(``c0000``, ``c0001``, ...) so that a restarted operator can rebuild the strategy from the
candidates and results it finds, and child Job names stay deterministic.

The strategy: first a fixed portfolio of configurations that are strong across many
datasets (cheapest first), then random configurations from each learner's space.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from automl import algorithms
from automl.candidate import Candidate, CandidateResult
from automl.prepare import Plan
from automl.spec import AutoMLJobSpec, Task

# (algorithm, params) per task, in the order they are tried.
PORTFOLIO: dict[Task, list[tuple[str, dict[str, Any]]]] = {
    Task.classification: [
        ("lightgbm", {}),
        ("logistic_regression", {}),
        ("hist_gradient_boosting", {}),
        ("extra_trees", {}),
        ("random_forest", {}),
        ("lightgbm", {"n_estimators": 500, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 10,
                      "colsample_bytree": 0.6, "subsample": 0.8}),
        ("knn", {}),
        ("mlp", {}),
        ("sgd", {}),
    ],
    Task.regression: [
        ("lightgbm", {}),
        ("ridge", {}),
        ("hist_gradient_boosting", {}),
        ("extra_trees", {}),
        ("random_forest", {}),
        ("lightgbm", {"n_estimators": 500, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 10,
                      "colsample_bytree": 0.6, "subsample": 0.8}),
        ("elastic_net", {}),
        ("knn", {}),
        ("mlp", {}),
    ],
}


def sample(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[int(rng.integers(len(distribution.choices)))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            return int(round(float(np.exp(rng.uniform(np.log(distribution.low), np.log(distribution.high))))))
        return int(rng.integers(distribution.low, distribution.high + 1))
    if isinstance(distribution, FloatDistribution):
        if distribution.log:
            return float(np.exp(rng.uniform(np.log(distribution.low), np.log(distribution.high))))
        return float(rng.uniform(distribution.low, distribution.high))
    raise TypeError(f"unsupported distribution {distribution!r}")


class SearchStrategy:
    """Portfolio first, then random search over the learners' spaces."""

    def __init__(self, spec: AutoMLJobSpec, plan: Plan) -> None:
        self.spec = spec
        self.plan = plan
        self.algorithms = spec.candidate_algorithms()
        self.shape = algorithms.DataShape(plan.n_rows, plan.n_features, plan.n_classes)
        self.portfolio = [(a, p) for a, p in PORTFOLIO[spec.task] if a in self.algorithms]
        self.rng = np.random.default_rng(spec.seed)
        self.proposed: list[Candidate] = []
        self.results: dict[str, CandidateResult] = {}

    @property
    def exhausted(self) -> bool:
        return len(self.proposed) >= self.spec.search.max_candidates

    def _next_id(self) -> str:
        return f"c{len(self.proposed):04d}"

    def ask(self) -> Candidate | None:
        if self.exhausted:
            return None
        index = len(self.proposed)
        if self.spec.search.strategy != "random" and index < len(self.portfolio):
            algorithm, params = self.portfolio[index]
            candidate = Candidate(id=self._next_id(), algorithm=algorithm, params=params, source="portfolio")
        elif self.spec.search.strategy == "portfolio" and index >= len(self.portfolio):
            return None
        else:
            algorithm = self.algorithms[int(self.rng.integers(len(self.algorithms)))]
            space = algorithms.get(algorithm).space(self.shape)
            params = {name: sample(dist, self.rng) for name, dist in space.items()}
            candidate = Candidate(id=self._next_id(), algorithm=algorithm, params=params, source="random")
        self.proposed.append(candidate)
        return candidate

    def tell(self, result: CandidateResult) -> None:
        self.results[result.id] = result
