"""How candidates are validated: the folds, assigned once per job so every candidate (and
so the ensemble over their out-of-fold predictions) sees exactly the same splits.

A fold array holds, for each training row, the fold in which it is a *validation* row, or -1
when it is never validated (the training part of a holdout split).
"""

from __future__ import annotations

import warnings

import numpy as np
from pydantic import BaseModel
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from automl.spec import Task, ValidationSpec

AUTO_CV10_BELOW = 1_000
AUTO_CV3_UP_TO = 20_000
AUTO_HOLDOUT_FRACTION = 0.1


class ValidationPlan(BaseModel):
    method: str  # "cv" or "holdout"
    folds: int  # number of validation folds (1 for holdout)
    holdout_fraction: float | None = None
    reason: str


def choose(spec: ValidationSpec, n_rows: int) -> ValidationPlan:
    """Resolve ``method: auto`` by data size, as Azure ML does."""
    if spec.method == "cv":
        return ValidationPlan(method="cv", folds=spec.folds, reason="validation.method: cv")
    if spec.method == "holdout":
        return ValidationPlan(
            method="holdout", folds=1, holdout_fraction=spec.holdout_fraction, reason="validation.method: holdout"
        )
    if n_rows < AUTO_CV10_BELOW:
        return ValidationPlan(method="cv", folds=10, reason=f"auto: {n_rows} rows < {AUTO_CV10_BELOW}")
    if n_rows <= AUTO_CV3_UP_TO:
        return ValidationPlan(method="cv", folds=3, reason=f"auto: {n_rows} rows <= {AUTO_CV3_UP_TO}")
    return ValidationPlan(
        method="holdout",
        folds=1,
        holdout_fraction=AUTO_HOLDOUT_FRACTION,
        reason=f"auto: {n_rows} rows > {AUTO_CV3_UP_TO}",
    )


def _can_stratify(y: np.ndarray, n_splits: int) -> bool:
    _, counts = np.unique(y, return_counts=True)
    return bool(counts.min() >= n_splits)


def assign_folds(plan: ValidationPlan, y: np.ndarray, task: Task, seed: int) -> np.ndarray:
    n = len(y)
    folds = np.full(n, -1, dtype=np.int16)
    stratify = task is Task.classification
    if plan.method == "holdout":
        assert plan.holdout_fraction is not None
        by = y if stratify and _can_stratify(y, 2) else None
        _, valid = train_test_split(np.arange(n), test_size=plan.holdout_fraction, random_state=seed, stratify=by)
        folds[valid] = 0
        return folds
    splitter: KFold | StratifiedKFold
    if stratify and _can_stratify(y, 2):
        splitter = StratifiedKFold(n_splits=plan.folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(n_splits=plan.folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
        for fold, (_, valid) in enumerate(splitter.split(np.zeros(n), y)):
            folds[valid] = fold
    return folds


def fold_indices(folds: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, validation rows) per fold."""
    out = []
    for fold in range(int(folds.max()) + 1):
        valid = np.flatnonzero(folds == fold)
        train = np.flatnonzero(folds != fold)
        out.append((train, valid))
    return out
