"""Metrics, all handled the same way: each knows whether higher is better.

A candidate's *score* is the metric's own value (log_loss stays a loss, rmse stays an error),
which is what people expect to read. Ranking uses :meth:`Metric.loss`, which is lower-is-
better for every metric, so code never special-cases a metric's direction.

Predictions are what ensembles average: class probabilities (n_rows, n_classes) for
classification, values (n_rows,) for regression. Labels are class indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr
from sklearn import metrics as skm

from automl.spec import METRICS, Task

EPS = 1e-15


def _normalise(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, dtype=float), EPS, 1.0)
    return proba / proba.sum(axis=1, keepdims=True)


def _roc_auc(y: np.ndarray, proba: np.ndarray) -> float:
    n_classes = proba.shape[1]
    present = np.unique(y)
    if len(present) < 2:
        return float("nan")
    if n_classes == 2:
        return float(skm.roc_auc_score(y, proba[:, 1]))
    # One-vs-rest, macro-averaged over the classes present in y.
    scores = [skm.roc_auc_score(y == k, proba[:, k]) for k in present]
    return float(np.mean(scores))


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    return float(skm.log_loss(y, _normalise(proba), labels=np.arange(proba.shape[1])))


def _labels(fn: Callable[..., float], **kwargs: object) -> Callable[[np.ndarray, np.ndarray], float]:
    def score(y: np.ndarray, proba: np.ndarray) -> float:
        return float(fn(y, np.asarray(proba).argmax(axis=1), **kwargs))

    return score


def _spearman(y: np.ndarray, pred: np.ndarray) -> float:
    if np.ptp(pred) == 0:
        return 0.0
    return float(spearmanr(y, pred).statistic)


@dataclass(frozen=True)
class Metric:
    name: str
    task: Task
    greater_is_better: bool
    fn: Callable[[np.ndarray, np.ndarray], float]

    def __call__(self, y: np.ndarray, predictions: np.ndarray) -> float:
        return self.fn(np.asarray(y), np.asarray(predictions))

    def loss(self, score: float) -> float:
        """Lower is better, whatever the metric."""
        return -score if self.greater_is_better else score

    def better(self, a: float, b: float) -> bool:
        """Is score ``a`` strictly better than ``b``?"""
        return self.loss(a) < self.loss(b)

    def reached(self, score: float, target: float) -> bool:
        return self.loss(score) <= self.loss(target)


_C, _R = Task.classification, Task.regression
REGISTRY: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", _C, True, _roc_auc),
        Metric("accuracy", _C, True, _labels(skm.accuracy_score)),
        Metric("balanced_accuracy", _C, True, _labels(skm.balanced_accuracy_score)),
        Metric("log_loss", _C, False, _log_loss),
        Metric("f1_macro", _C, True, _labels(skm.f1_score, average="macro", zero_division=0)),
        Metric("f1_weighted", _C, True, _labels(skm.f1_score, average="weighted", zero_division=0)),
        Metric("r2", _R, True, lambda y, p: float(skm.r2_score(y, p))),
        Metric("rmse", _R, False, lambda y, p: float(np.sqrt(skm.mean_squared_error(y, p)))),
        Metric("mae", _R, False, lambda y, p: float(skm.mean_absolute_error(y, p))),
        Metric("spearman", _R, True, _spearman),
    )
}
assert {n for n in REGISTRY} == {n for names in METRICS.values() for n in names}


def get(name: str) -> Metric:
    return REGISTRY[name]


def all_scores(task: Task, y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Every metric of the task, for reports and test scores."""
    out = {}
    for metric in REGISTRY.values():
        if metric.task is task:
            value = metric(y, predictions)
            out[metric.name] = round(value, 6) if np.isfinite(value) else float("nan")
    return out
