"""Data guardrails (Azure ML's term): checks on the training data before any training.

Each finding is ``{check, result, detail}`` with ``result`` one of ``passed``, ``done`` (a
problem we handled, e.g. imputed or dropped) or ``alerted`` (a problem we could not fix and
the user should look at). They go to ``result.json``, the CLI output and the job's status.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from automl.prepare import Guardrail, Plan
from automl.schema import ONE_HOT_MAX_CATEGORIES
from automl.spec import Task

IMBALANCE_RATIO = 0.2  # minority / majority class size below this is imbalanced
MIN_ROWS_PER_FOLD = 5
LEAKAGE_SAMPLE = 5000
LEAKAGE_THRESHOLD = 0.99
MAX_COLUMNS_LISTED = 8


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_COLUMNS_LISTED])
    return shown + (f" and {len(items) - MAX_COLUMNS_LISTED} more" if len(items) > MAX_COLUMNS_LISTED else "")


def missing_values(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    cols = [c for c in plan.feature_schema.columns if c.kind != "dropped" and c.missing_share > 0]
    if not cols:
        return Guardrail(check="missing_values", result="passed", detail="no missing feature values")
    parts = [f"{c.name} ({c.missing_share:.0%})" for c in sorted(cols, key=lambda c: -c.missing_share)]
    return Guardrail(
        check="missing_values",
        result="done",
        detail=f"missing values in {_listing(parts)}: imputed with the median (numbers) or a 'missing' "
        "category for linear models and k-NN, kept as missing for tree learners, which split on it",
    )


def dropped_columns(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    dropped = [c for c in plan.feature_schema.columns if c.kind == "dropped"]
    if not dropped:
        return Guardrail(check="dropped_columns", result="passed", detail="no constant or ID-like columns")
    parts = [f"{c.name} ({c.reason})" for c in dropped]
    return Guardrail(check="dropped_columns", result="done", detail=f"dropped {_listing(parts)}")


def high_cardinality(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    high = [c for c in plan.feature_schema.columns if c.high_cardinality]
    if not high:
        return Guardrail(check="high_cardinality", result="passed", detail="no high-cardinality categorical columns")
    parts = [f"{c.name} ({c.n_unique} values)" for c in high]
    return Guardrail(
        check="high_cardinality",
        result="done",
        detail=f"more than {ONE_HOT_MAX_CATEGORIES} categories in {_listing(parts)}: target-encoded for linear "
        "models and k-NN, native categorical splits for boosted trees",
    )


# Metrics that score hard labels with every class counted equally: class weights move the
# decision threshold towards the minority classes, which is what these metrics reward.
CLASS_WEIGHTED_METRICS = ("balanced_accuracy", "f1_macro")


def is_imbalanced(plan: Plan) -> bool:
    if plan.task is not Task.classification or not plan.class_counts:
        return False
    return min(plan.class_counts) / max(plan.class_counts) < IMBALANCE_RATIO


def class_weight_policy(plan: Plan) -> str | None:
    """``"balanced"`` when candidates should weight classes inversely to their frequency.

    Only for imbalanced data ranked by a metric that counts every class equally. Ranking
    metrics (roc_auc) do not depend on the threshold, and accuracy, log_loss and f1_weighted
    reward predictions that follow the true class frequencies, so weights would hurt them.
    """
    return "balanced" if is_imbalanced(plan) and plan.metric in CLASS_WEIGHTED_METRICS else None


def class_imbalance(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    if plan.task is not Task.classification:
        return Guardrail(check="class_imbalance", result="passed", detail="not a classification task")
    counts = dict(zip(plan.classes, plan.class_counts, strict=True))
    smallest, largest = min(counts.values()), max(counts.values())
    ratio = smallest / largest
    if ratio >= IMBALANCE_RATIO:
        return Guardrail(check="class_imbalance", result="passed", detail=f"smallest/largest class = {ratio:.2f}")
    minority = [str(c) for c, n in counts.items() if n / largest < IMBALANCE_RATIO]
    found = (
        f"classes {_listing(minority)} have less than {IMBALANCE_RATIO:.0%} of the largest class "
        f"({smallest} vs {largest} rows); folds are stratified"
    )
    if class_weight_policy(plan):
        return Guardrail(
            check="class_imbalance",
            result="done",
            detail=f"{found}; every learner that supports it trains with class_weight='balanced' "
            f"(primary metric {plan.metric} counts each class equally)",
        )
    return Guardrail(
        check="class_imbalance",
        result="alerted",
        detail=f"{found}; no class weights, because the primary metric {plan.metric} rewards "
        "probabilities that follow the true class frequencies (or, for roc_auc, ignores the threshold). "
        "If the minority classes matter most, rank by balanced_accuracy or f1_macro, which turns on "
        "class weights",
    )


def too_few_rows(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    folds = plan.validation.folds
    if plan.validation.method == "cv":
        per_fold = plan.n_rows / folds
        smallest = min(plan.class_counts) if plan.class_counts else None
        if per_fold < MIN_ROWS_PER_FOLD or (smallest is not None and smallest < folds):
            extra = f"; the smallest class has {smallest} rows for {folds} folds" if smallest is not None else ""
            return Guardrail(
                check="too_few_rows",
                result="alerted",
                detail=f"{plan.n_rows} rows give {per_fold:.0f} validation rows per fold{extra}: scores will be noisy",
            )
    else:
        valid = plan.n_rows * (plan.validation.holdout_fraction or 0)
        if valid < 50:
            return Guardrail(check="too_few_rows", result="alerted", detail=f"only {valid:.0f} holdout rows")
    return Guardrail(check="too_few_rows", result="passed", detail=f"{plan.n_rows} rows")


def leakage(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    """A single feature that predicts the label almost perfectly is likely derived from it."""
    usable = [c for c in plan.feature_schema.columns if c.kind in ("numeric", "categorical")]
    rows = features.sample(n=min(LEAKAGE_SAMPLE, len(features)), random_state=0).index
    y = target.loc[rows]
    if plan.task is Task.classification:
        y = pd.Series(pd.factorize(y)[0], index=y.index)
        baseline = float(y.value_counts(normalize=True).max())
    suspects = []
    for col in usable[:200]:
        values = features.loc[rows, col.name]
        x = (
            pd.to_numeric(values, errors="coerce")
            if col.kind == "numeric"
            else pd.Series(pd.factorize(values)[0], index=values.index).astype(float)
        )
        x = x.fillna(x.min() - 1 if x.notna().any() else 0).to_numpy().reshape(-1, 1)
        if plan.task is Task.classification:
            model = DecisionTreeClassifier(max_depth=4, random_state=0)
            score = float(np.mean(cross_val_score(model, x, y, cv=3, scoring="accuracy")))
            leaky = score >= LEAKAGE_THRESHOLD and baseline < 0.95
        else:
            model = DecisionTreeRegressor(max_depth=8, random_state=0)
            score = float(np.mean(cross_val_score(model, x, y.to_numpy(dtype=float), cv=3, scoring="r2")))
            leaky = score >= LEAKAGE_THRESHOLD
        if leaky:
            suspects.append(f"{col.name} (alone scores {score:.3f})")
    if not suspects:
        return Guardrail(check="leakage", result="passed", detail="no single feature predicts the label almost perfectly")
    return Guardrail(
        check="leakage",
        result="alerted",
        detail=f"{_listing(suspects)} predict the label almost perfectly on their own: check they are known "
        "before the label is (else drop them with data.dropColumns)",
    )


def duplicate_rows(features: pd.DataFrame, target: pd.Series, plan: Plan) -> Guardrail:
    frame = features.assign(**{"__label__": target.to_numpy()})
    count = int(frame.duplicated().sum())
    if count == 0:
        return Guardrail(check="duplicate_rows", result="passed", detail="no duplicate rows")
    return Guardrail(
        check="duplicate_rows",
        result="alerted",
        detail=f"{count} rows ({count / len(frame):.1%}) repeat an earlier row exactly; duplicates that fall in "
        "different folds make validation scores optimistic",
    )


CHECKS = (missing_values, dropped_columns, high_cardinality, class_imbalance, too_few_rows, leakage, duplicate_rows)


def check_all(features: pd.DataFrame, target: pd.Series, plan: Plan) -> list[Guardrail]:
    return [check(features, target, plan) for check in CHECKS]
