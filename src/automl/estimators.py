"""Estimators of our own that end up inside model artifacts.

They live apart from :mod:`automl.algorithms` (which imports Optuna for its search spaces)
so that unpickling a model needs only what the serving image installs: scikit-learn,
LightGBM, numpy and pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split

# Rows up to which a *final* early-stopped LightGBM (``refit: true``, set when finalizing) is
# refitted on all its rows with the number of trees it found: the held-out share is a large
# part of small data. Candidates in the search skip this; their fold models are validated.
EARLY_STOPPING_REFIT_ROWS = 50_000


class _EarlyStoppedLightGBM(BaseEstimator):
    """LightGBM that picks its number of trees on an internal validation split.

    ``n_estimators`` is an upper bound; training stops once the validation loss has not
    improved for ``patience`` rounds. With ``refit`` (set for the final model) and not too
    many rows, it is then refitted on all rows with the number of trees found (a little
    more, for the extra data). Many of the best
    boosted-tree configurations come from this, and it makes learning rate and tree count
    one search dimension instead of two.
    """

    _classifier = True

    def __init__(
        self,
        params: dict[str, Any] | None = None,
        n_estimators: int = 3000,
        patience: int = 50,
        validation_fraction: float = 0.1,
        refit: bool = False,
        random_state: int | None = None,
        n_jobs: int | None = 1,
    ) -> None:
        self.params = params
        self.refit = refit
        self.n_estimators = n_estimators
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _make(self, n_estimators: int) -> Any:
        from lightgbm import LGBMClassifier, LGBMRegressor

        factory = LGBMClassifier if self._classifier else LGBMRegressor
        settings = {"verbose": -1, **(self.params or {})}
        return factory(n_estimators=n_estimators, random_state=self.random_state, n_jobs=self.n_jobs, **settings)

    def fit(self, X: Any, y: Any) -> _EarlyStoppedLightGBM:
        import lightgbm

        y = np.asarray(y)
        n = len(y)
        fraction = self.validation_fraction if n >= 1000 else max(self.validation_fraction, 0.15)
        stratify = y if self._classifier and np.unique(y, return_counts=True)[1].min() >= 2 else None
        try:
            fit_rows, stop_rows = train_test_split(
                np.arange(n), test_size=fraction, random_state=self.random_state, stratify=stratify
            )
        except ValueError:  # too few rows of some class to stratify
            fit_rows, stop_rows = train_test_split(np.arange(n), test_size=fraction, random_state=self.random_state)
        model = self._make(self.n_estimators)
        model.fit(
            _rows(X, fit_rows),
            y[fit_rows],
            eval_X=(_rows(X, stop_rows),),
            eval_y=(y[stop_rows],),
            callbacks=[lightgbm.early_stopping(self.patience, first_metric_only=True, verbose=False)],
        )
        best = int(model.best_iteration_ or self.n_estimators)
        self.best_iteration_ = best
        if self.refit and n <= EARLY_STOPPING_REFIT_ROWS:
            model = self._make(max(1, int(best * 1.1) + 1))
            model.fit(X, y)
        self.model_ = model
        if self._classifier:
            self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict(X))

    def set_params(self, **params: Any) -> _EarlyStoppedLightGBM:
        super().set_params(**params)
        if "n_jobs" in params and hasattr(self, "model_"):
            self.model_.set_params(n_jobs=params["n_jobs"])
        return self


class EarlyStoppedLightGBMClassifier(ClassifierMixin, _EarlyStoppedLightGBM):
    _classifier = True

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.model_.predict_proba(X))


class EarlyStoppedLightGBMRegressor(RegressorMixin, _EarlyStoppedLightGBM):
    _classifier = False


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]
