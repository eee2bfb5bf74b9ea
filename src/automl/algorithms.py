"""The learners: each owns its estimator, featurization style, defaults and search space.

Adding a learner is one entry in ``REGISTRY``. Hyperparameter names are the estimator's own,
so a candidate record reads like the code a user would write by hand. Estimators are always
trained on class *indices* for classification (see :mod:`automl.model`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge, SGDClassifier
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor

from automl.estimators import EarlyStoppedLightGBMClassifier, EarlyStoppedLightGBMRegressor
from automl.featurize import Style
from automl.spec import ALGORITHMS, Task


@dataclass(frozen=True)
class DataShape:
    """What a learner may scale its settings by."""

    n_rows: int
    n_features: int
    n_classes: int = 0  # 0 for regression


Space = Callable[[DataShape], dict[str, BaseDistribution]]


@dataclass(frozen=True)
class Algorithm:
    name: str
    style: Style
    classifier: Callable[..., Any] | None
    regressor: Callable[..., Any] | None
    defaults: dict[str, Any] = field(default_factory=dict)
    space: Space = lambda shape: {}
    # Rough cost relative to a default LightGBM on the same data; used to order and budget.
    relative_cost: float = 1.0
    takes_seed: bool = True
    takes_n_jobs: bool = False
    takes_class_weight: bool = False
    # Settings every search-proposed candidate of this learner carries (not searched).
    search_fixed: dict[str, Any] = field(default_factory=dict)

    def supports(self, task: Task) -> bool:
        return (self.classifier if task is Task.classification else self.regressor) is not None

    def build(self, task: Task, params: dict[str, Any], seed: int, n_jobs: int) -> Any:
        factory = self.classifier if task is Task.classification else self.regressor
        if factory is None:
            raise ValueError(f"{self.name} does not do {task.value}")
        settings = {**self.defaults, **params}
        if self.takes_seed:
            settings["random_state"] = seed
        if self.takes_n_jobs:
            settings["n_jobs"] = n_jobs
        return factory(**settings)


_EARLY_STOPPING_KEYS = ("n_estimators", "patience", "validation_fraction", "refit", "random_state", "n_jobs")


def _lightgbm(kind: str, kwargs: dict[str, Any]) -> Any:
    """LightGBM as configured; ``early_stopping: true`` picks the tree count itself."""
    if kwargs.pop("early_stopping", False):
        outer = {k: kwargs.pop(k) for k in _EARLY_STOPPING_KEYS if k in kwargs}
        cls = EarlyStoppedLightGBMClassifier if kind == "classifier" else EarlyStoppedLightGBMRegressor
        return cls(params=kwargs, **outer)
    from lightgbm import LGBMClassifier, LGBMRegressor

    return (LGBMClassifier if kind == "classifier" else LGBMRegressor)(**kwargs)


def _lightgbm_classifier(**kwargs: Any) -> Any:
    return _lightgbm("classifier", kwargs)


def _lightgbm_regressor(**kwargs: Any) -> Any:
    return _lightgbm("regressor", kwargs)


def _lightgbm_space(shape: DataShape) -> dict[str, BaseDistribution]:
    """Early-stopped LightGBM: the tree count is found by early stopping, not searched."""
    return {
        "learning_rate": FloatDistribution(0.02, 0.2, log=True),
        "num_leaves": IntDistribution(4, max(8, min(256, shape.n_rows // 20)), log=True),
        "min_child_samples": IntDistribution(2, max(4, min(100, shape.n_rows // 20)), log=True),
        "subsample": FloatDistribution(0.5, 1.0),
        "colsample_bytree": FloatDistribution(0.3, 1.0),
        "reg_alpha": FloatDistribution(1e-3, 10.0, log=True),
        "reg_lambda": FloatDistribution(1e-3, 10.0, log=True),
    }


def _hgb_space(shape: DataShape) -> dict[str, BaseDistribution]:
    return {
        "learning_rate": FloatDistribution(0.01, 0.3, log=True),
        "max_leaf_nodes": IntDistribution(4, 128, log=True),
        "min_samples_leaf": IntDistribution(2, max(4, min(100, shape.n_rows // 20)), log=True),
        "l2_regularization": FloatDistribution(1e-4, 10.0, log=True),
        "max_features": FloatDistribution(0.3, 1.0),
    }


def _forest_space(shape: DataShape) -> dict[str, BaseDistribution]:
    return {
        "n_estimators": IntDistribution(50, 500, log=True),
        "max_features": FloatDistribution(0.1, 1.0),
        "min_samples_leaf": IntDistribution(1, 20, log=True),
    }


def _knn_space(shape: DataShape) -> dict[str, BaseDistribution]:
    return {
        "n_neighbors": IntDistribution(1, min(100, max(2, shape.n_rows // 10)), log=True),
        "weights": CategoricalDistribution(["uniform", "distance"]),
    }


def _mlp_space(shape: DataShape) -> dict[str, BaseDistribution]:
    return {
        "hidden_layer_sizes": CategoricalDistribution([16, 32, 64, 128, 256]),
        "alpha": FloatDistribution(1e-6, 1e-1, log=True),
        "learning_rate_init": FloatDistribution(1e-4, 3e-2, log=True),
    }


_QUIET_LIGHTGBM = {"verbose": -1}

REGISTRY: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "lightgbm",
            "native",
            _lightgbm_classifier,
            _lightgbm_regressor,
            defaults={**_QUIET_LIGHTGBM, "n_estimators": 200, "learning_rate": 0.05, "subsample_freq": 1},
            space=_lightgbm_space,
            relative_cost=1.0,
            takes_n_jobs=True,
            takes_class_weight=True,
            search_fixed={"early_stopping": True, "n_estimators": 2000, "patience": 30, "subsample_freq": 1},
        ),
        Algorithm(
            "hist_gradient_boosting",
            "native",
            HistGradientBoostingClassifier,
            HistGradientBoostingRegressor,
            defaults={},
            space=_hgb_space,
            relative_cost=1.2,
            takes_class_weight=True,
            search_fixed={"early_stopping": True, "max_iter": 1000},
        ),
        Algorithm(
            "extra_trees",
            "tree",
            ExtraTreesClassifier,
            ExtraTreesRegressor,
            defaults={"n_estimators": 300, "max_features": "sqrt"},
            space=_forest_space,
            relative_cost=1.5,
            takes_n_jobs=True,
            takes_class_weight=True,
        ),
        Algorithm(
            "random_forest",
            "tree",
            RandomForestClassifier,
            RandomForestRegressor,
            defaults={"n_estimators": 300, "max_features": "sqrt"},
            space=_forest_space,
            relative_cost=2.5,
            takes_n_jobs=True,
            takes_class_weight=True,
        ),
        Algorithm(
            "logistic_regression",
            "linear",
            LogisticRegression,
            None,
            defaults={"C": 1.0, "max_iter": 2000},
            space=lambda shape: {"C": FloatDistribution(1e-3, 1e3, log=True)},
            relative_cost=0.3,
            takes_class_weight=True,
        ),
        Algorithm(
            "sgd",
            "linear",
            SGDClassifier,
            None,
            defaults={"loss": "log_loss", "penalty": "elasticnet", "alpha": 1e-4, "l1_ratio": 0.15},
            space=lambda shape: {
                "alpha": FloatDistribution(1e-6, 1e-1, log=True),
                "l1_ratio": FloatDistribution(0.0, 1.0),
            },
            relative_cost=0.2,
            takes_class_weight=True,
        ),
        Algorithm(
            "ridge",
            "linear",
            None,
            Ridge,
            defaults={"alpha": 1.0},
            space=lambda shape: {"alpha": FloatDistribution(1e-3, 1e3, log=True)},
            relative_cost=0.1,
        ),
        Algorithm(
            "elastic_net",
            "linear",
            None,
            ElasticNet,
            defaults={"alpha": 0.01, "l1_ratio": 0.5, "max_iter": 5000},
            space=lambda shape: {
                "alpha": FloatDistribution(1e-4, 10.0, log=True),
                "l1_ratio": FloatDistribution(0.0, 1.0),
            },
            relative_cost=0.2,
        ),
        Algorithm(
            "knn",
            "linear",
            KNeighborsClassifier,
            KNeighborsRegressor,
            defaults={"n_neighbors": 10, "weights": "distance"},
            space=_knn_space,
            relative_cost=0.5,
            takes_seed=False,
            takes_n_jobs=True,
        ),
        Algorithm(
            "mlp",
            "linear",
            MLPClassifier,
            MLPRegressor,
            defaults={"hidden_layer_sizes": 64, "early_stopping": True, "max_iter": 300, "alpha": 1e-4},
            space=_mlp_space,
            relative_cost=2.0,
        ),
    )
}


def get(name: str) -> Algorithm:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(REGISTRY)}") from None


def check_catalogue() -> None:
    """The spec's catalogue and this registry name the same learners per task."""
    for task, names in ALGORITHMS.items():
        implemented = {n for n, a in REGISTRY.items() if a.supports(task)}
        if implemented != set(names):
            raise AssertionError(f"{task.value}: spec lists {sorted(names)}, registry has {sorted(implemented)}")


def quiet_warnings() -> None:
    """Convergence chatter from linear models and MLPs is noise in a search."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message=".*does not have valid feature names.*")
    warnings.filterwarnings("ignore", message=".*least populated class.*")
