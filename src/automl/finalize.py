"""Step 3, evaluate: pick the best candidate or an ensemble, refit, score on test data, and
write the model artifact.

Refitting on all training data is what users expect of the final model. When the time left
is too short to refit, the fold models the candidate already has are used as a bagged model
instead (each fold model saw most of the data), so the job still ends within its budget.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from automl import artifact, metrics, storage
from automl.candidate import Candidate, CandidateResult
from automl.data import check_test_columns, read_table
from automl.ensemble import greedy_selection
from automl.errors import SearchFailed
from automl.model import AutoMLModel, Member
from automl.prepare import Plan, load_prepared
from automl.spec import AutoMLJobSpec, Task
from automl.trainer.core import build_pipeline, effective_n_jobs, load_fold_models, load_oof

MODEL_DIR = "model"


class FinalModel(BaseModel):
    algorithm: str
    members: list[dict[str, Any]]
    validation_score: float
    best_single_score: float
    ensemble_used: bool
    refit: bool
    refit_seconds: float
    test_score: float | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    model_uri: str
    sha256: str
    size_bytes: int


def rank(results: list[CandidateResult], metric_name: str) -> list[CandidateResult]:
    """Succeeded results, best first (ties: the faster one)."""
    metric = metrics.get(metric_name)
    ok = [r for r in results if r.ok]
    return sorted(ok, key=lambda r: (metric.loss(r.score or 0.0), r.fit_seconds))


def choose_members(
    spec: AutoMLJobSpec, plan: Plan, ranked: list[CandidateResult], y: np.ndarray, folds: np.ndarray
) -> tuple[dict[str, float], float]:
    """Candidate id -> weight, and the validation score of that choice."""
    best = ranked[0]
    assert best.score is not None
    if not spec.ensemble.enabled or len(ranked) < 2:
        return {best.id: 1.0}, best.score
    metric = metrics.get(plan.metric)
    pool = ensemble_pool(ranked, spec.ensemble.max_members)
    validated = folds >= 0
    predictions = [load_oof(r)[validated] for r in pool]
    selection = greedy_selection(predictions, y[validated], metric, spec.ensemble.size)
    # The single best's pooled OOF score, so both sides are measured the same way.
    single = metric(y[validated], predictions[0])
    if len(selection.weights) > 1 and metric.better(selection.score, single):
        return {pool[i].id: w for i, w in selection.weights.items()}, selection.score
    return {best.id: 1.0}, best.score


def final_params(params: dict[str, Any]) -> dict[str, Any]:
    """A candidate's settings for its final fit: early-stopped boosters refit on all rows."""
    return {**params, "refit": True} if params.get("early_stopping") and "n_estimators" in params else params


def ensemble_pool(ranked: list[CandidateResult], size: int) -> list[CandidateResult]:
    """The candidates greedy selection may draw on: diverse first, then the best of the rest.

    The best candidate of each learner comes first (in rank order), so a pool of eight is not
    eight near-copies of one LightGBM; then the remaining places go by rank. Errors of
    different learners cancel in an average, which is where ensembles gain.
    """
    pool: list[CandidateResult] = []
    seen: set[str] = set()
    for r in ranked:
        if r.algorithm not in seen:
            pool.append(r)
            seen.add(r.algorithm)
    chosen = {r.id for r in pool[:size]}
    rest = [r for r in ranked if r.id not in chosen]
    pool = pool[:size] + rest[: max(0, size - len(chosen))]
    return sorted(pool, key=lambda r: ranked.index(r))


def _estimated_refit_seconds(result: CandidateResult, plan: Plan) -> float:
    folds = max(1, plan.validation.folds)
    share = (folds - 1) / folds if plan.validation.method == "cv" else 1 - (plan.validation.holdout_fraction or 0.1)
    per_fit = result.fit_seconds / folds * (2 if result.params.get("early_stopping") else 1)
    rows = result.sample_rows or plan.n_rows * share
    return per_fit * plan.n_rows / max(rows, 1.0)


def finalize(
    spec: AutoMLJobSpec,
    name: str,
    run_uri: str,
    results: list[CandidateResult],
    seconds_left: float | None = None,
    n_jobs: int = 1,
) -> FinalModel:
    plan, features, y, folds = load_prepared(run_uri)
    ranked = rank(results, plan.metric)
    if not ranked:
        raise SearchFailed("no candidate succeeded, so there is no model; see the leaderboard for the errors")
    weights, validation_score = choose_members(spec, plan, ranked, y, folds)
    by_id = {r.id: r for r in ranked}
    estimate = sum(_estimated_refit_seconds(by_id[i], plan) for i in weights)
    refit = seconds_left is None or estimate < 0.8 * seconds_left
    started = time.monotonic()
    members: list[Member] = []
    with threadpool_limits(limits=effective_n_jobs(plan, n_jobs)):
        for cid, weight in weights.items():
            result = by_id[cid]
            if refit:
                candidate = Candidate(
                    id=cid, algorithm=result.algorithm, params=final_params(result.params),
                    style=result.style,  # type: ignore[arg-type]
                )
                pipeline = build_pipeline(plan, candidate, plan.seed, n_jobs)
                pipeline.fit(features, y)
                members.append(Member(cid, result.algorithm, weight, pipeline))
            else:
                fold_models = load_fold_models(result)
                members.extend(Member(cid, result.algorithm, weight / len(fold_models), m) for m in fold_models)
    refit_seconds = time.monotonic() - started
    model = AutoMLModel(task=plan.task, schema=plan.feature_schema, members=members, classes=plan.classes)

    test_score: float | None = None
    test_metrics: dict[str, float] = {}
    if spec.data.test:
        test_score, test_metrics = score_test(model, plan, spec.data.test)

    info = artifact.save_model(
        model,
        storage.join(run_uri, MODEL_DIR),
        {
            "name": name,
            "task": plan.task,
            "algorithm": model.algorithm,
            "members": [{"candidate": cid, "algorithm": by_id[cid].algorithm, "weight": round(w, 4)} for cid, w in weights.items()],
            "primary_metric": plan.metric,
            "validation_score": validation_score,
            "test_score": test_score,
            "test_metrics": test_metrics,
            "classes": plan.classes,
            "feature_schema": plan.feature_schema,
        },
    )
    return FinalModel(
        algorithm=model.algorithm,
        members=info.members,
        validation_score=round(validation_score, 6),
        best_single_score=round(float(ranked[0].score or 0.0), 6),
        ensemble_used=len(weights) > 1,
        refit=refit,
        refit_seconds=round(refit_seconds, 3),
        test_score=test_score,
        test_metrics=test_metrics,
        model_uri=storage.join(run_uri, MODEL_DIR),
        sha256=info.sha256,
        size_bytes=info.size_bytes,
    )


def score_test(model: AutoMLModel, plan: Plan, test_uri: str) -> tuple[float, dict[str, float]]:
    test = read_table(test_uri, "data.test")
    check_test_columns(test, plan.feature_schema.input_columns, plan.label, test_uri)
    test = test[test[plan.label].notna()].reset_index(drop=True)
    if plan.task is Task.classification:
        index = {c: i for i, c in enumerate(plan.classes)}
        known = test[plan.label].map(lambda v: v in index)
        test = test[known].reset_index(drop=True)
        y = test[plan.label].map(index).to_numpy(dtype=int)
    else:
        y = test[plan.label].to_numpy(dtype=float)
    predictions = model.predict_raw(test)
    scores = metrics.all_scores(plan.task, y, predictions)
    return scores[plan.metric], scores
