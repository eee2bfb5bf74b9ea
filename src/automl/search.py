"""Which candidates to try, in what order: an ask/tell strategy shared by both executors.

The embedded runner and the operator drive the same object: ``ask()`` whenever a worker is
free, ``tell(result)`` whenever a candidate finishes. Candidate ids are sequential
(``c0000``, ``c0001``, ...) in proposal order, so a restarted operator rebuilds the strategy
with :meth:`SearchStrategy.restore` from the candidates and results it finds, and child Job
names stay deterministic.

The strategy (``search.strategy: auto``):

1. **Portfolio.** A fixed, ordered list of configurations that are strong across many
   datasets, cheapest and strongest first, so that a 60-second budget already ends with a
   good model and a diverse set of out-of-fold predictions for the ensemble.
2. **Model-based search.** One Optuna study per learner, sampled with TPE through Optuna's
   ask-and-tell interface (``study.ask(fixed_distributions)``), seeded with the portfolio's
   results. The learner to refine is chosen by a fixed rotation over the three best learners
   so far (the leader gets half of the proposals). Optuna's *constant liar* keeps parallel
   proposals apart while earlier ones are still running.
3. **Cost awareness.** Expensive learners come late in the portfolio and train on a
   subsample when the data is large; on large data the model-based search is asynchronous
   successive halving with two rungs: new configurations train on a subsample, and a
   configuration in the best third of its rung is promoted to all rows.

Every decision depends only on the seed and on the results told, in order, never on the
wall clock, so the same seed, data and ``maxParallel: 1`` propose the same candidates.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import TPESampler
from optuna.trial import TrialState

from automl import algorithms, metrics
from automl.candidate import Candidate, CandidateResult
from automl.guardrails import class_weight_policy
from automl.prepare import Plan
from automl.spec import AutoMLJobSpec, Task

optuna.logging.set_verbosity(optuna.logging.WARNING)

_LGBM_ES = {"early_stopping": True, "n_estimators": 2000, "patience": 30, "subsample_freq": 1}

# (algorithm, params) per task, in the order they are tried: cheap and broadly strong first,
# then complementary settings (small leaves / strong regularisation for small wide data,
# large leaves for big data), then the slower or more specialised learners.
PORTFOLIO: dict[Task, list[tuple[str, dict[str, Any]]]] = {
    Task.classification: [
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 10,
                      "subsample": 0.8, "colsample_bytree": 0.8, "n_estimators": 1000, "patience": 20}),
        ("logistic_regression", {}),
        ("hist_gradient_boosting", {}),
        ("extra_trees", {"n_estimators": 200, "max_features": "sqrt"}),
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 5,
                      "subsample": 0.7, "colsample_bytree": 0.5, "reg_lambda": 1.0}),
        ("random_forest", {"n_estimators": 300, "max_features": "sqrt"}),
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.05, "num_leaves": 128, "min_child_samples": 20,
                      "subsample": 0.9, "colsample_bytree": 0.9, "reg_lambda": 0.1}),
        ("knn", {}),
        ("extra_trees", {"n_estimators": 300, "max_features": 0.7, "min_samples_leaf": 2}),
        ("logistic_regression", {"C": 0.1}),
        ("mlp", {}),
        ("sgd", {}),
    ],
    Task.regression: [
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 10,
                      "subsample": 0.8, "colsample_bytree": 0.8, "n_estimators": 1000, "patience": 20}),
        ("ridge", {}),
        ("hist_gradient_boosting", {}),
        ("extra_trees", {"n_estimators": 200, "max_features": 1.0}),
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.05, "num_leaves": 8, "min_child_samples": 5,
                      "subsample": 0.7, "colsample_bytree": 0.5, "reg_lambda": 1.0}),
        ("random_forest", {"n_estimators": 300, "max_features": 0.5}),
        ("lightgbm", {**_LGBM_ES, "learning_rate": 0.05, "num_leaves": 128, "min_child_samples": 20,
                      "subsample": 0.9, "colsample_bytree": 0.9, "reg_lambda": 0.1}),
        ("knn", {}),
        ("elastic_net", {}),
        ("ridge", {"alpha": 10.0}),
        ("mlp", {}),
    ],
}

# Rows a model trains on (per fold) above which expensive learners and new model-based
# configurations train on a subsample first.
LARGE_FIT_ROWS = 20_000
EXPENSIVE_SAMPLE_ROWS = 20_000  # portfolio subsample for learners costlier than LightGBM
RUNG0_MIN_ROWS = 5_000
ETA = 3  # successive halving: the best 1/ETA of a rung is promoted
STARTUP_TRIALS = 4  # random proposals per learner before TPE models the results
ROTATION = (0, 1, 0, 2)  # which of the three best learners the next model-based proposal refines

PORTFOLIO_SOURCE = "portfolio"
MODEL_SOURCE = "tpe"
PROMOTED_SOURCE = "promoted"
RANDOM_SOURCE = "random"


def sample(distribution: BaseDistribution, rng: np.random.Generator) -> Any:
    """A uniform draw from an Optuna distribution (the random-search baseline)."""
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


def fit_rows(plan: Plan) -> int:
    """Rows one model of a candidate trains on (a fold's training part)."""
    if plan.validation.method == "cv":
        return int(plan.n_rows * (plan.validation.folds - 1) / plan.validation.folds)
    return int(plan.n_rows * (1 - (plan.validation.holdout_fraction or 0.1)))


class SearchStrategy:
    """Portfolio first, then TPE per learner (with successive halving on large data)."""

    def __init__(self, spec: AutoMLJobSpec, plan: Plan) -> None:
        self.spec = spec
        self.plan = plan
        self.metric = metrics.get(plan.metric)
        self.algorithms = spec.candidate_algorithms()
        self.fit_rows = fit_rows(plan)
        self.shape = algorithms.DataShape(self.fit_rows, plan.n_features, plan.n_classes)
        self.large = self.fit_rows > LARGE_FIT_ROWS
        self.rung0_rows = max(RUNG0_MIN_ROWS, self.fit_rows // (ETA * ETA)) if self.large else None
        self.class_weight = class_weight_policy(plan)
        self.portfolio = self._portfolio()
        self.rng = np.random.default_rng(spec.seed)
        self.proposed: list[Candidate] = []
        self.results: dict[str, CandidateResult] = {}
        self._studies: dict[str, optuna.Study] = {}
        self._trials: dict[str, tuple[str, int]] = {}  # candidate id -> (learner, trial number)
        self._promoted: set[str] = set()
        self._portfolio_next = 0
        self._model_based = 0

    # -- the contract -------------------------------------------------------------------------

    @property
    def exhausted(self) -> bool:
        """True when ``ask()`` will never propose again (as opposed to: nothing right now)."""
        if len(self.proposed) >= self.spec.search.max_candidates:
            return True
        return self.spec.search.strategy == "portfolio" and self._portfolio_next >= len(self.portfolio)

    def ask(self) -> Candidate | None:
        if self.exhausted:
            return None
        strategy = self.spec.search.strategy
        if strategy == "random":
            candidate = self._random()
        elif self._portfolio_next < len(self.portfolio):
            candidate = self._from_portfolio()
        else:
            candidate = self._promotion() or self._model_based_candidate()
        self.proposed.append(candidate)
        return candidate

    def tell(self, result: CandidateResult) -> None:
        if result.id in self.results:
            return
        self.results[result.id] = result
        if result.id in self._trials:
            learner, number = self._trials[result.id]
            study = self._studies[learner]
            if result.ok and result.score is not None and math.isfinite(result.score):
                study.tell(number, self.metric.loss(result.score))
            else:
                study.tell(number, state=TrialState.FAIL)
        elif result.source == PORTFOLIO_SOURCE and result.ok and not self.large:
            self._seed_study(result)

    @classmethod
    def restore(
        cls,
        spec: AutoMLJobSpec,
        plan: Plan,
        proposed: list[Candidate],
        results: list[CandidateResult],
    ) -> SearchStrategy:
        """The strategy as it was after proposing ``proposed`` and hearing ``results``.

        Candidates proposed without a result are pending: they keep their place (the next id
        follows them) and their result may still be told. Model-based candidates are re-asked
        from their studies with their recorded parameters (Optuna's enqueued trials), so a
        later ``tell`` finds their trial.
        """
        strategy = cls(spec, plan)
        for candidate in sorted(proposed, key=lambda c: int(c.id[1:])):
            strategy._replay(candidate)
        for result in sorted(results, key=lambda r: (r.finished_at if r.finished_at is not None else 0.0, r.id)):
            strategy.tell(result)
        return strategy

    # -- the portfolio ------------------------------------------------------------------------

    def _portfolio(self) -> list[tuple[str, dict[str, Any], int | None]]:
        out = []
        for algorithm, params in PORTFOLIO[self.spec.task]:
            if algorithm not in self.algorithms:
                continue
            learner = algorithms.get(algorithm)
            sample_rows = None
            if self.large and learner.relative_cost > 1.0 or self.large and algorithm == "knn":
                sample_rows = EXPENSIVE_SAMPLE_ROWS
            out.append((algorithm, self._with_class_weight(algorithm, params), sample_rows))
        return out

    def _from_portfolio(self) -> Candidate:
        algorithm, params, sample_rows = self.portfolio[self._portfolio_next]
        self._portfolio_next += 1
        return Candidate(
            id=self._next_id(), algorithm=algorithm, params=dict(params), sample_rows=sample_rows,
            source=PORTFOLIO_SOURCE,
        )

    def _with_class_weight(self, algorithm: str, params: dict[str, Any]) -> dict[str, Any]:
        if self.class_weight and algorithms.get(algorithm).takes_class_weight and "class_weight" not in params:
            return {**params, "class_weight": self.class_weight}
        return params

    # -- model-based search -------------------------------------------------------------------

    def _space(self, algorithm: str) -> dict[str, BaseDistribution]:
        return algorithms.get(algorithm).space(self.shape)

    def _study(self, algorithm: str) -> optuna.Study:
        if algorithm not in self._studies:
            offset = self.algorithms.index(algorithm) if algorithm in self.algorithms else 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = TPESampler(
                    seed=self.spec.seed * 1009 + offset,
                    n_startup_trials=STARTUP_TRIALS,
                    multivariate=True,
                    constant_liar=True,
                )
            self._studies[algorithm] = optuna.create_study(direction="minimize", sampler=sampler)
        return self._studies[algorithm]

    def _seed_study(self, result: CandidateResult) -> None:
        """Tell a learner's study about a portfolio result whose settings lie in its space."""
        space = self._space(result.algorithm)
        if not space or result.score is None or not math.isfinite(result.score):
            return
        merged = {**algorithms.get(result.algorithm).defaults, **result.params}
        params = {name: merged.get(name) for name in space}
        if any(v is None or not _contains(space[k], v) for k, v in params.items()):
            return
        fixed = algorithms.get(result.algorithm).search_fixed
        if any(result.params.get(k) != v for k, v in fixed.items()):
            return  # e.g. a LightGBM without early stopping is not a point of the searched space
        trial = optuna.trial.create_trial(params=params, distributions=space, value=self.metric.loss(result.score))
        self._study(result.algorithm).add_trial(trial)

    def _ranked_learners(self) -> list[str]:
        """Learners with a searchable space, best result first (catalogue order breaks ties)."""
        best: dict[str, float] = {}
        for r in self.results.values():
            if r.ok and r.score is not None and r.algorithm in self.algorithms and self._space(r.algorithm):
                loss = self.metric.loss(r.score)
                best[r.algorithm] = min(loss, best.get(r.algorithm, math.inf))
        order = sorted(best, key=lambda a: (best[a], self.algorithms.index(a)))
        if order:
            return order
        return [a for a in self.algorithms if self._space(a)]

    def _model_based_candidate(self) -> Candidate:
        learners = self._ranked_learners()[:3]
        if not learners:
            return self._random()
        algorithm = learners[ROTATION[self._model_based % len(ROTATION)] % len(learners)]
        self._model_based += 1
        study = self._study(algorithm)
        space = self._space(algorithm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(fixed_distributions=space)
        candidate = Candidate(
            id=self._next_id(),
            algorithm=algorithm,
            params=self._with_class_weight(algorithm, {**algorithms.get(algorithm).search_fixed, **trial.params}),
            sample_rows=self.rung0_rows,
            source=MODEL_SOURCE,
        )
        self._trials[candidate.id] = (algorithm, trial.number)
        return candidate

    def _promotion(self) -> Candidate | None:
        """Large data: the best unpromoted configuration in the top 1/ETA of the first rung."""
        if not self.large:
            return None
        rung = [r for r in self.results.values() if r.source == MODEL_SOURCE and r.ok and r.score is not None]
        top = sorted(rung, key=lambda r: (self.metric.loss(r.score or 0.0), r.id))[: len(rung) // ETA]
        for r in top:
            if r.id not in self._promoted:
                self._promoted.add(r.id)
                return Candidate(
                    id=self._next_id(), algorithm=r.algorithm, params=dict(r.params), sample_rows=None,
                    source=PROMOTED_SOURCE,
                )
        return None

    # -- the random baseline ------------------------------------------------------------------

    def _random(self) -> Candidate:
        algorithm = self.algorithms[int(self.rng.integers(len(self.algorithms)))]
        params = {name: sample(dist, self.rng) for name, dist in self._space(algorithm).items()}
        params = self._with_class_weight(algorithm, {**algorithms.get(algorithm).search_fixed, **params})
        return Candidate(id=self._next_id(), algorithm=algorithm, params=params, source=RANDOM_SOURCE)

    # -- bookkeeping --------------------------------------------------------------------------

    def _next_id(self) -> str:
        return f"c{len(self.proposed):04d}"

    def _replay(self, candidate: Candidate) -> None:
        if candidate.source == PORTFOLIO_SOURCE:
            self._portfolio_next += 1
        elif candidate.source == MODEL_SOURCE:
            self._model_based += 1
            space = self._space(candidate.algorithm)
            params = {k: v for k, v in candidate.params.items() if k in space}
            study = self._study(candidate.algorithm)
            study.enqueue_trial(params, skip_if_exists=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trial = study.ask(fixed_distributions=space)
            self._trials[candidate.id] = (candidate.algorithm, trial.number)
        elif candidate.source == PROMOTED_SOURCE:
            # The configuration it promoted is the first-rung result with the same settings.
            for c in self.proposed:
                if c.source == MODEL_SOURCE and c.params == candidate.params and c.id not in self._promoted:
                    self._promoted.add(c.id)
                    break
        elif candidate.source == RANDOM_SOURCE:
            algorithm = self.algorithms[int(self.rng.integers(len(self.algorithms)))]
            for dist in self._space(algorithm).values():
                sample(dist, self.rng)
        self.proposed.append(candidate)


def _contains(distribution: BaseDistribution, value: Any) -> bool:
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    if isinstance(distribution, IntDistribution | FloatDistribution):
        return isinstance(value, int | float) and not isinstance(value, bool) and (
            distribution.low <= value <= distribution.high
        )
    return False
