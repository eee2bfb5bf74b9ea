"""Greedy ensemble selection with replacement (Caruana et al., 2004).

Start from nothing; at each round add the candidate (again, possibly) whose inclusion makes
the averaged out-of-fold predictions score best. The weights are how often each was chosen.
Selection sees only out-of-fold predictions, so the ensemble's validation score is honest
enough to compare with the best single candidate's, which it must beat to be kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.metrics import Metric


@dataclass(frozen=True)
class Selection:
    weights: dict[int, float]  # index into the given predictions -> weight (sums to 1)
    score: float


def greedy_selection(
    predictions: list[np.ndarray], y: np.ndarray, metric: Metric, rounds: int
) -> Selection:
    """Choose weights over ``predictions`` (each aligned with ``y``) for ``rounds`` rounds."""
    if not predictions:
        raise ValueError("greedy selection needs at least one set of predictions")
    counts = np.zeros(len(predictions), dtype=int)
    total = np.zeros_like(predictions[0], dtype=float)
    best_score = float("nan")
    best_counts = counts.copy()
    for step in range(1, rounds + 1):
        losses = [metric.loss(metric(y, (total + p) / step)) for p in predictions]
        choice = int(np.nanargmin(losses))
        counts[choice] += 1
        total += predictions[choice]
        score = metric(y, total / step)
        # Keep the best prefix: later rounds may only add noise.
        if np.isnan(best_score) or metric.better(score, best_score):
            best_score, best_counts = score, counts.copy()
    chosen = np.flatnonzero(best_counts)
    return Selection(
        weights={int(i): float(best_counts[i] / best_counts.sum()) for i in chosen},
        score=float(best_score),
    )
