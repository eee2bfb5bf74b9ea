"""The deployable model: one or more fitted pipelines with weights, plus what they expect.

A single best candidate is an ensemble of one. Every pipeline takes the raw input columns as
they were in the training file and, for classification, predicts probabilities over the
classes in ``classes`` order (pipelines are trained on class indices, so the columns of all
members line up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl.schema import FeatureSchema
from automl.spec import Task


@dataclass
class Member:
    candidate_id: str
    algorithm: str
    weight: float
    pipeline: Any  # a fitted sklearn Pipeline


@dataclass
class AutoMLModel:
    task: Task
    schema: FeatureSchema
    members: list[Member]
    classes: list[Any] = field(default_factory=list)  # original labels, in index order

    def __post_init__(self) -> None:
        total = sum(m.weight for m in self.members)
        if not self.members or total <= 0:
            raise ValueError("a model needs at least one member with positive weight")
        for member in self.members:
            member.weight = member.weight / total

    @property
    def algorithm(self) -> str:
        if len(self.members) == 1:
            return self.members[0].algorithm
        return "ensemble(" + "+".join(sorted({m.algorithm for m in self.members})) + ")"

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in ``classes`` order (classification only)."""
        if self.task is not Task.classification:
            raise TypeError("predict_proba is only defined for classification models")
        total: np.ndarray | None = None
        for member in self.members:
            proba = np.asarray(member.pipeline.predict_proba(rows), dtype=float)
            total = member.weight * proba if total is None else total + member.weight * proba
        assert total is not None
        return total

    def predict_raw(self, rows: pd.DataFrame) -> np.ndarray:
        """Probabilities (classification) or values (regression): what ensembles average."""
        if self.task is Task.classification:
            return self.predict_proba(rows)
        total = np.zeros(len(rows))
        for member in self.members:
            total += member.weight * np.asarray(member.pipeline.predict(rows), dtype=float)
        return total

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Predicted labels (original class values) or regression values."""
        raw = self.predict_raw(rows)
        if self.task is Task.classification:
            return np.asarray(self.classes, dtype=object)[raw.argmax(axis=1)]
        return raw

    def set_n_jobs(self, n_jobs: int) -> None:
        """Limit every member's own threading (LightGBM ignores OMP_NUM_THREADS)."""
        for member in self.members:
            estimator = member.pipeline.steps[-1][1]
            if "n_jobs" in estimator.get_params():
                estimator.set_params(n_jobs=n_jobs)
