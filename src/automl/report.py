"""``report.html``: one self-contained page about a run, readable offline in any browser.

It shows what a person wants to see before the JSON: the data and its guardrail findings,
the leaderboard, the score of each candidate against the time it finished (with the best so
far), and for the chosen model: a confusion matrix with ROC and precision-recall curves
(classification) or predicted-vs-actual and residuals (regression), all on out-of-fold
predictions, and permutation feature importance on validation data.

Figures are PNGs drawn with matplotlib's Agg backend and embedded as ``data:`` URIs, so the
page needs no network, no JavaScript and no files beside it. Permutation importance uses the
first validation fold: the chosen members' models of that fold never saw those rows. It is
given a time limit so the report cannot push a run past its budget; columns not reached in
time are listed as such.
"""

from __future__ import annotations

import base64
import html
import io
import time
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from automl import metrics, storage
from automl.candidate import CandidateResult
from automl.prepare import Plan, load_prepared
from automl.spec import Task

REPORT_FILE = "report.html"
IMPORTANCE_ROWS = 1000
IMPORTANCE_REPEATS = 3
IMPORTANCE_COLUMNS = 40
MAX_CURVE_CLASSES = 10
LEADERBOARD_ROWS = 30
MIN_IMPORTANCE_SECONDS = 0.3
MAX_IMPORTANCE_SECONDS = 10.0
IMPORTANCE_FIGURE_SECONDS = 0.4


def _figure_png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(figure_id: str, title: str, png: str) -> str:
    return (
        f'<figure id="{figure_id}"><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
    )


def preload() -> None:
    """Import matplotlib ahead of time (the runner does it in a thread during the search)."""
    _plt()


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# -- figures ---------------------------------------------------------------------------------


def score_vs_time(results: list[CandidateResult], metric_name: str) -> str:
    plt = _plt()
    metric = metrics.get(metric_name)
    ok = sorted((r for r in results if r.ok and r.finished_at is not None), key=lambda r: r.finished_at or 0.0)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    by_source: dict[str, list[CandidateResult]] = {}
    for r in ok:
        by_source.setdefault(r.source, []).append(r)
    for source, rs in by_source.items():
        ax.scatter([r.finished_at for r in rs], [r.score for r in rs], s=18, alpha=0.75, label=source)
    best: list[float] = []
    for r in ok:
        value = float(r.score or 0.0)
        best.append(value if not best or metric.better(value, best[-1]) else best[-1])
    if ok:
        ax.step([r.finished_at for r in ok], best, where="post", color="black", linewidth=1.2, label="best so far")
        lo, hi = np.percentile([r.score for r in ok], [10, 100]) if len(ok) > 3 else (min(best), max(best))
        if metric.greater_is_better and hi > lo:
            ax.set_ylim(lo - 0.1 * (hi - lo), hi + 0.05 * (hi - lo))
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel(metric_name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _figure_png(fig)


def confusion(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> str:
    from sklearn.metrics import confusion_matrix

    plt = _plt()
    k = len(classes)
    matrix = confusion_matrix(y, proba.argmax(axis=1), labels=np.arange(k))
    size = min(9.0, 2.5 + 0.45 * k)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    ax.imshow(matrix, cmap="Blues")
    names = [str(c) for c in classes]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if k <= 20:
        top = matrix.max() or 1
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > top / 2 else "black")
    return _figure_png(fig)


def _curve_classes(classes: list[Any]) -> list[int]:
    return [1] if len(classes) == 2 else list(range(min(len(classes), MAX_CURVE_CLASSES)))


def roc_curves(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> str:
    from sklearn.metrics import auc, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for k in _curve_classes(classes):
        if len(np.unique(y == k)) < 2:
            continue
        fpr, tpr, _ = roc_curve(y == k, proba[:, k])
        ax.plot(fpr, tpr, linewidth=1.3, label=f"{classes[k]} (AUC {auc(fpr, tpr):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _figure_png(fig)


def pr_curves(y: np.ndarray, proba: np.ndarray, classes: list[Any]) -> str:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for k in _curve_classes(classes):
        if len(np.unique(y == k)) < 2:
            continue
        precision, recall, _ = precision_recall_curve(y == k, proba[:, k])
        ap = average_precision_score(y == k, proba[:, k])
        ax.plot(recall, precision, linewidth=1.3, label=f"{classes[k]} (AP {ap:.3f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return _figure_png(fig)


def predicted_vs_actual(y: np.ndarray, pred: np.ndarray) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(y, pred, s=8, alpha=0.5)
    lo, hi = float(min(y.min(), pred.min())), float(max(y.max(), pred.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, linestyle=":")
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.grid(alpha=0.3)
    return _figure_png(fig)


def residuals(y: np.ndarray, pred: np.ndarray) -> str:
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.6))
    left.scatter(pred, y - pred, s=8, alpha=0.5)
    left.axhline(0, color="black", linewidth=1, linestyle=":")
    left.set_xlabel("predicted")
    left.set_ylabel("actual - predicted")
    left.grid(alpha=0.3)
    right.hist(y - pred, bins=40)
    right.set_xlabel("residual")
    right.set_ylabel("rows")
    return _figure_png(fig)


def importance_figure(importance: pd.DataFrame, metric_name: str) -> str:
    plt = _plt()
    shown = importance.dropna().head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.28 * max(len(shown), 1)))
    ax.barh(shown["column"], shown["mean"], xerr=shown["std"], color="#4C72B0")
    ax.set_xlabel(f"drop in {metric_name} when the column is shuffled")
    ax.grid(alpha=0.3, axis="x")
    return _figure_png(fig)


# -- the data behind the figures -------------------------------------------------------------


def _member_weights(best: dict[str, Any]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for m in best.get("members", []):
        cid = m.get("candidate")
        if cid is not None:
            weights[cid] = weights.get(cid, 0.0) + float(m.get("weight", 0.0))
    total = sum(weights.values()) or 1.0
    return {k: v / total for k, v in weights.items()}


def oof_predictions(weights: dict[str, float], by_id: dict[str, CandidateResult]) -> np.ndarray:
    from automl.trainer.core import load_oof

    total: np.ndarray | None = None
    for cid, w in weights.items():
        oof = load_oof(by_id[cid]) * w
        total = oof if total is None else total + oof
    assert total is not None
    return total


def permutation_importance(
    weights: dict[str, float],
    by_id: dict[str, CandidateResult],
    plan: Plan,
    features: pd.DataFrame,
    y: np.ndarray,
    folds: np.ndarray,
    seconds: float,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and std of the metric's drop per shuffled input column, on fold 0's validation rows."""
    from automl.trainer.core import load_fold_models, predict_raw

    started = time.monotonic()
    metric = metrics.get(plan.metric)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(folds == 0)
    if len(rows) > IMPORTANCE_ROWS:
        rows = np.sort(rng.choice(rows, IMPORTANCE_ROWS, replace=False))
    frame = features.iloc[rows].reset_index(drop=True)
    target = y[rows]
    models = [(load_fold_models(by_id[cid])[0], w) for cid, w in weights.items()]

    def predict(data: pd.DataFrame) -> np.ndarray:
        return sum(w * predict_raw(m, data, plan.task, plan.n_classes) for m, w in models)  # type: ignore[return-value]

    columns = list(plan.feature_schema.input_columns)
    out = []
    with threadpool_limits(limits=1):  # small batches: threads only add overhead here
        baseline = metric(target, predict(frame))
        for position, column in enumerate(columns):
            if position >= IMPORTANCE_COLUMNS or time.monotonic() - started > seconds:
                out.append({"column": column, "mean": np.nan, "std": np.nan})
                continue
            drops = []
            for _ in range(IMPORTANCE_REPEATS):
                shuffled = frame.copy()
                shuffled[column] = frame[column].to_numpy()[rng.permutation(len(frame))]
                drops.append(metric.loss(metric(target, predict(shuffled))) - metric.loss(baseline))
            out.append({"column": column, "mean": float(np.mean(drops)), "std": float(np.std(drops))})
    table = pd.DataFrame(out)
    return table.sort_values("mean", ascending=False, na_position="last").reset_index(drop=True)


# -- the page --------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} td,th{border:1px solid #ddd;padding:3px 7px}
th{background:#f4f4f4;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#2a7a2a}.done{color:#1f5fa8}.alerted{color:#b3261e;font-weight:bold}
figure{display:inline-block;margin:.4em 1em .4em 0;vertical-align:top} figcaption{font-size:.8em;color:#555}
.muted{color:#777;font-size:.85em} code{font-size:.85em}
"""


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, v in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            cells.append(f"<td{cls}>{v if isinstance(v, _Raw) else html.escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def build_report(
    run_uri: str,
    outcome: dict[str, Any],
    results: list[CandidateResult],
    deadline: float | None = None,
) -> str:
    """The HTML of ``report.html`` for a finished run (``outcome`` is its result.json).

    ``deadline`` (a ``time.monotonic()`` value) bounds permutation importance, computed
    last; it always gets at least ``MIN_IMPORTANCE_SECONDS``.
    """
    plan, features, y, folds = load_prepared(run_uri)
    metric_name = plan.metric
    by_id = {r.id: r for r in results}
    best = outcome.get("best") or {}
    sections: list[str] = []

    timings = outcome.get("timings", {})
    summary_rows = [
        ["task", plan.task.value],
        ["data", f"{plan.n_rows} rows x {plan.n_features} features"
                 + (f", {plan.n_classes} classes" if plan.task is Task.classification else "")],
        ["primary metric", metric_name],
        ["validation", f"{plan.validation.method} ({plan.validation.reason})"],
        ["candidates", ", ".join(f"{k} {v}" for k, v in outcome.get("candidates", {}).items())],
        ["stopped because", outcome.get("stop_reason", "")],
        ["best model", best.get("algorithm", "-")],
        ["validation score", _fmt(best.get("validation_score"))],
        ["best single candidate", _fmt(best.get("best_single_score"))],
        ["test score", _fmt(best.get("test_score"))],
        ["refit on all rows", str(best.get("refit", "-"))],
        ["time", f"{timings.get('total_seconds', 0):.1f} s of a {timings.get('budget_seconds', 0):.0f} s budget "
                 f"(prepare {timings.get('prepare_seconds', 0):.1f}, search {timings.get('search_seconds', 0):.1f}, "
                 f"finalize {timings.get('finalize_seconds', 0):.1f})"],
    ]
    sections.append("<h2>Summary</h2>" + _table(["", ""], summary_rows))
    if best.get("members"):
        member_rows = [[m.get("candidate"), m.get("algorithm"), _fmt(float(m.get("weight", 0.0)), 3)]
                       for m in best["members"]]
        sections.append("<h3>Ensemble members</h3>" + _table(["candidate", "algorithm", "weight"], member_rows, {2}))

    guardrails = outcome.get("guardrails", [])
    if guardrails:
        rows = [[g["check"], _Raw(f'<span class="{html.escape(g["result"])}">{html.escape(g["result"])}</span>'),
                 g["detail"]] for g in guardrails]
        sections.append("<h2>Data guardrails</h2>" + _table(["check", "result", "detail"], rows))

    from automl.finalize import rank

    ranked = rank(results, metric_name)
    failed = [r for r in results if not r.ok]
    lb_rows = []
    for position, r in enumerate(ranked[:LEADERBOARD_ROWS], start=1):
        lb_rows.append([position, r.id, r.algorithm, r.style, _fmt(r.score), _fmt(r.fit_seconds, 1),
                        _fmt(r.finished_at, 1), r.source, r.sample_rows or "all",
                        _Raw(f"<code>{html.escape(_short_params(r.params))}</code>")])
    sections.append(
        f"<h2>Leaderboard</h2><p class='muted'>{len(ranked)} succeeded, {len(failed)} failed or stopped; "
        f"the best {min(len(ranked), LEADERBOARD_ROWS)} shown.</p>"
        + _table(["rank", "id", "algorithm", "featurization", metric_name, "fit s", "finished at s", "source",
                  "rows", "params"], lb_rows, {0, 4, 5, 6})
    )
    if failed:
        f_rows = [[r.id, r.algorithm, r.status, (r.error or "")[:300]] for r in failed[:20]]
        sections.append("<h3>Failed or stopped</h3>" + _table(["id", "algorithm", "status", "reason"], f_rows))

    sections.append("<h2>Search</h2>" + _img("score-vs-time", f"{metric_name} of each candidate by the time it "
                                                 "finished, and the best so far", score_vs_time(results, metric_name)))

    weights = {cid: w for cid, w in _member_weights(best).items() if cid in by_id}
    if weights:
        validated = folds >= 0
        oof = oof_predictions(weights, by_id)[validated]
        y_valid = y[validated]
        figures = []
        if plan.task is Task.classification:
            figures.append(_img("confusion-matrix", "confusion matrix (out-of-fold)",
                                confusion(y_valid.astype(int), oof, plan.classes)))
            figures.append(_img("roc-curve", "ROC curve (out-of-fold)", roc_curves(y_valid.astype(int), oof, plan.classes)))
            figures.append(_img("pr-curve", "precision-recall curve (out-of-fold)",
                                pr_curves(y_valid.astype(int), oof, plan.classes)))
        else:
            figures.append(_img("predicted-vs-actual", "predicted vs actual (out-of-fold)",
                                predicted_vs_actual(y_valid.astype(float), oof)))
            figures.append(_img("residuals", "residuals (out-of-fold)", residuals(y_valid.astype(float), oof)))
        sections.append("<h2>The chosen model on validation data</h2>" + "".join(figures))
        left = (deadline - time.monotonic() - IMPORTANCE_FIGURE_SECONDS) if deadline is not None else MAX_IMPORTANCE_SECONDS
        seconds = min(MAX_IMPORTANCE_SECONDS, max(MIN_IMPORTANCE_SECONDS, left))
        importance = permutation_importance(weights, by_id, plan, features, y, folds, seconds, plan.seed)
        computed = importance.dropna()
        note = ""
        if len(computed) < len(importance):
            note = (f"<p class='muted'>{len(importance) - len(computed)} columns not computed "
                    "(time limit or column limit).</p>")
        rows = [[r.column, _fmt(r.mean), _fmt(r.std)] for r in computed.itertuples()]
        sections.append(
            "<h2>Permutation feature importance</h2><p class='muted'>On the first validation fold's rows, with "
            "the models of that fold (which never saw them).</p>"
            + (_img("permutation-importance", "permutation importance", importance_figure(computed, metric_name))
               if len(computed) else "")
            + note + _table(["column", "mean drop", "std"], rows, {1, 2})
        )

    title = html.escape(str(outcome.get("name", "run")))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>kube-automl report: {title}</title><style>{_CSS}</style></head><body>"
        f"<h1>{title}</h1><p class='muted'>kube-automl run report, status {html.escape(str(outcome.get('status')))}"
        f"</p>{''.join(sections)}</body></html>"
    )


def _short_params(params: dict[str, Any]) -> str:
    parts = []
    for k, v in sorted(params.items()):
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(parts)


def write_report(run_uri: str, outcome: dict[str, Any], results: list[CandidateResult],
                 deadline: float | None = None) -> str:
    """Render and store ``report.html`` in the run; returns its location."""
    uri = storage.join(run_uri, REPORT_FILE)
    storage.write_text(uri, build_report(run_uri, outcome, results, deadline))
    return uri
