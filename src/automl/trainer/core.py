"""Step 2, train: one candidate in, one result out. The same code on a laptop and in a pod.

:func:`train_candidate` fits the candidate's pipeline on each fold of the prepared data,
scores the out-of-fold predictions with the primary metric, and writes to storage under
``candidates/<id>/``: ``result.json``, ``oof.npy`` (out-of-fold predictions, NaN where a row
was not validated) and ``model.pkl`` (the fitted pipeline of each fold).

The command line (``python -m automl.trainer``, the trainer image's entrypoint) exposes this
and the two other steps that run as Kubernetes Jobs, ``prepare`` and ``finalize``.
"""

from __future__ import annotations

import io
import pickle
import time
import traceback
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from automl import algorithms, metrics, storage
from automl.candidate import Candidate, CandidateResult, candidate_dir, write_result
from automl.errors import AutoMLError
from automl.featurize import build_featurizer
from automl.prepare import Plan, load_prepared
from automl.spec import Task
from automl.validation import fold_indices

# Below this many rows, threads cost more than they give (LightGBM's OpenMP threads even
# slow down by an order of magnitude when another process keeps the cores busy).
THREADS_FROM_ROWS = 20_000


def effective_n_jobs(plan: Plan, n_jobs: int) -> int:
    return n_jobs if plan.n_rows >= THREADS_FROM_ROWS else 1


def build_pipeline(plan: Plan, candidate: Candidate, seed: int, n_jobs: int) -> Pipeline:
    n_jobs = effective_n_jobs(plan, n_jobs)
    algorithm = algorithms.get(candidate.algorithm)
    style = candidate.style or algorithm.style
    featurizer = build_featurizer(plan.feature_schema, style, plan.task is Task.classification)
    estimator = algorithm.build(plan.task, candidate.params, seed, n_jobs)
    return Pipeline([*featurizer.steps, ("model", estimator)])


def predict_raw(pipeline: Any, rows: Any, task: Task, n_classes: int) -> np.ndarray:
    """Probabilities over *all* classes (a fold may lack a rare class), or values."""
    if task is Task.regression:
        return np.asarray(pipeline.predict(rows), dtype=float)
    proba = np.asarray(pipeline.predict_proba(rows), dtype=float)
    seen = np.asarray(pipeline.classes_, dtype=int)
    if len(seen) == n_classes:
        return proba
    full = np.zeros((len(proba), n_classes))
    full[:, seen] = proba
    return full


def _subsample(train_rows: np.ndarray, limit: int | None, y: np.ndarray, seed: int) -> np.ndarray:
    if limit is None or limit >= len(train_rows):
        return train_rows
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(train_rows, size=limit, replace=False))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def train_candidate(run_uri: str, candidate: Candidate, n_jobs: int = 1, started_at: float | None = None) -> CandidateResult:
    """Train and validate one candidate; always returns a result, failed or not."""
    begin = time.monotonic()
    metric_name = "unknown"
    try:
        plan, features, y, folds = load_prepared(run_uri)
        metric_name = plan.metric
        metric = metrics.get(plan.metric)
        algorithms.quiet_warnings()
        n_classes = plan.n_classes
        shape = (len(y), n_classes) if plan.task is Task.classification else (len(y),)
        oof = np.full(shape, np.nan, dtype=np.float64)
        fold_scores: list[float] = []
        fitted: list[Pipeline] = []
        fit_seconds = predict_seconds = 0.0
        with threadpool_limits(limits=effective_n_jobs(plan, n_jobs)):
            for fold, (train_rows, valid_rows) in enumerate(fold_indices(folds)):
                rows = _subsample(train_rows, candidate.sample_rows, y, plan.seed + fold)
                pipeline = build_pipeline(plan, candidate, plan.seed + fold, n_jobs)
                t0 = time.monotonic()
                pipeline.fit(features.iloc[rows], y[rows])
                t1 = time.monotonic()
                predictions = predict_raw(pipeline, features.iloc[valid_rows], plan.task, n_classes)
                t2 = time.monotonic()
                fit_seconds += t1 - t0
                predict_seconds += t2 - t1
                oof[valid_rows] = predictions
                fold_scores.append(metric(y[valid_rows], predictions))
                fitted.append(pipeline)
        if not np.all(np.isfinite(fold_scores)):
            raise ValueError(f"{plan.metric} is undefined on a validation fold (a fold with one class?)")
        if not np.all(np.isfinite(oof[folds >= 0])):
            raise ValueError("the model predicted NaN or infinite values")
        directory = candidate_dir(run_uri, candidate.id)
        oof_uri = storage.join(directory, "oof.npy")
        model_uri = storage.join(directory, "model.pkl")
        storage.write_bytes(oof_uri, _npy_bytes(oof.astype(np.float32)))
        storage.write_bytes(model_uri, pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
        result = CandidateResult(
            id=candidate.id,
            algorithm=candidate.algorithm,
            params=candidate.params,
            style=candidate.style or algorithms.get(candidate.algorithm).style,
            source=candidate.source,
            sample_rows=candidate.sample_rows,
            status="succeeded",
            metric=plan.metric,
            score=float(np.mean(fold_scores)),
            fold_scores=[round(float(s), 6) for s in fold_scores],
            fit_seconds=round(fit_seconds, 3),
            predict_seconds=round(predict_seconds, 3),
            oof_uri=oof_uri,
            model_uri=model_uri,
        )
    except AutoMLError as err:
        result = _failed(candidate, metric_name, str(err))
    except MemoryError:
        result = _failed(candidate, metric_name, "ran out of memory; give the trainer more memory or use fewer rows")
    except Exception as err:  # a candidate's crash must not end the search; keep the cause
        last = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        where = f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})" if last else ""
        result = _failed(candidate, metric_name, f"{type(err).__name__}: {err}{where}")
    result.total_seconds = round(time.monotonic() - begin, 3)
    if started_at is not None:
        result.started_at = round(started_at, 3)
        result.finished_at = round(started_at + result.total_seconds, 3)
    write_result(run_uri, result)
    return result


def _failed(candidate: Candidate, metric: str, error: str) -> CandidateResult:
    return CandidateResult(
        id=candidate.id,
        algorithm=candidate.algorithm,
        params=candidate.params,
        style=candidate.style,
        source=candidate.source,
        sample_rows=candidate.sample_rows,
        status="failed",
        error=error.replace("\n", " ")[:2000],
        metric=metric,
    )


def load_fold_models(result: CandidateResult) -> list[Pipeline]:
    assert result.model_uri is not None
    models: list[Pipeline] = pickle.loads(storage.read_bytes(result.model_uri))
    return models


def load_oof(result: CandidateResult) -> np.ndarray:
    assert result.oof_uri is not None
    return np.load(io.BytesIO(storage.read_bytes(result.oof_uri)), allow_pickle=False).astype(np.float64)
