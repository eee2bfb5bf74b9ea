"""Search quality side by side: kube-automl vs FLAML vs AutoGluon vs two plain baselines.

One invocation runs every (repeat, budget, task, framework) on this machine, one at a time,
and appends one JSON line per run to a results file; a second invocation skips what is
already there, so an interrupted grid resumes. ``summary`` prints the tables.

    python benchmarks/search/bench.py run                    # the whole grid (hours)
    python benchmarks/search/bench.py run --budgets 60 --repeats 1 --tasks iris wine
    python benchmarks/search/bench.py summary                # median tables, counts, ranks
    python benchmarks/search/bench.py issue2                 # automl vs default HGB at 60 s

Frameworks, all with the same time budget and metric on the same fixed train/test split:

- ``automl``: ``automl run`` on a manifest (maxParallel 2, seed = repeat), scored by loading
  the written model artifact and predicting the test file.
- ``flaml``: ``flaml.AutoML.fit`` (n_jobs = 2, our maxParallel; seed = repeat).
- ``autogluon``: ``TabularPredictor`` with its default preset, in its own virtual
  environment (``--autogluon-python``; it needs pandas < 2.4), via ``ag_worker.py``.
- ``hgb``: a default ``HistGradientBoosting`` pipeline (categoricals ordinal-encoded and
  declared categorical).
- ``rf``: a 300-tree random forest on the same encoding.

Every framework runs in its own subprocess and writes its test predictions; this script
scores them all with the same metric code, so no framework's own scorer is trusted. The
metric is roc_auc for binary tasks, accuracy for multiclass tasks and r2 for regression.
Tasks need no download: scikit-learn's bundled sets, palmerpenguins (its data ships in the
package) and synthetic sets generated with fixed seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("KUBE_AUTOML_BENCH", Path.home() / ".cache" / "kube-automl" / "bench"))
DEFAULT_RESULTS = HERE / "results.jsonl"
DEFAULT_AG_PYTHON = CACHE / "autogluon-venv" / "bin" / "python"
FRAMEWORKS = ("automl", "flaml", "autogluon", "hgb", "rf")
TIE = 0.002
TEST_SHARE = 0.25
SPLIT_SEED = 20260101


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # binary | multiclass | regression
    label: str
    load: Callable[[], pd.DataFrame]

    @property
    def metric(self) -> str:
        return {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[self.kind]


def _sklearn(loader: str, label: str, rename_classes: bool = True) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import sklearn.datasets as ds

        bunch = getattr(ds, loader)(as_frame=True)
        frame = bunch.frame.rename(columns={"target": label})
        frame.columns = [str(c).replace(" ", "_") for c in frame.columns]
        if rename_classes and hasattr(bunch, "target_names") and loader != "load_diabetes":
            names = [str(n) for n in bunch.target_names]
            frame[label] = [names[int(v)] for v in frame[label]]
        return frame

    return load


def _penguins() -> pd.DataFrame:
    from palmerpenguins import load_penguins

    frame = load_penguins()
    return frame[frame["species"].notna()].reset_index(drop=True)


def _synth_missing() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=4000, n_features=20, n_informative=8, n_redundant=4,
                               flip_y=0.03, random_state=11)
    rng = np.random.default_rng(11)
    X = X.copy()
    X[rng.random(X.shape) < 0.2] = np.nan  # 20 % missing completely at random
    X[:, 0][X[:, 1] > 0.5] = np.nan  # and a column missing depending on another
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame


def _synth_highcard() -> pd.DataFrame:
    rng = np.random.default_rng(12)
    n = 8000
    city_effect = rng.normal(0, 1.0, 800)
    shop_effect = rng.normal(0, 0.5, 200)
    city = rng.zipf(1.3, n) % 800
    shop = rng.integers(0, 200, n)
    x = rng.normal(size=(n, 5))
    y = city_effect[city] + shop_effect[shop] + 1.5 * x[:, 0] - x[:, 1] * x[:, 2] + rng.normal(0, 0.5, n)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame["city"] = [f"city_{c}" for c in city]
    frame["shop"] = [f"shop_{s}" for s in shop]
    frame["target"] = y
    return frame


def _synth_imbalance() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=6000, n_features=25, n_informative=6, n_redundant=6,
                               weights=[0.95, 0.05], flip_y=0.01, class_sep=0.8, random_state=13)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    frame["label"] = np.where(y == 1, "rare", "common")
    return frame


def _synth_large() -> pd.DataFrame:
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=80000, n_features=30, n_informative=12, n_redundant=6,
                               flip_y=0.05, class_sep=0.7, random_state=14)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    rng = np.random.default_rng(14)
    frame["segment"] = rng.choice(["a", "b", "c", "d", "e"], len(frame))
    frame["label"] = np.where(y == 1, "yes", "no")
    return frame


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("breast_cancer", "binary", "label", _sklearn("load_breast_cancer", "label")),
        Task("wine", "multiclass", "label", _sklearn("load_wine", "label")),
        Task("digits", "multiclass", "label", _sklearn("load_digits", "label")),
        Task("diabetes", "regression", "target", _sklearn("load_diabetes", "target", rename_classes=False)),
        Task("iris", "multiclass", "label", _sklearn("load_iris", "label")),
        Task("penguins", "multiclass", "species", _penguins),
        Task("synth_missing", "binary", "label", _synth_missing),
        Task("synth_highcard", "regression", "target", _synth_highcard),
        Task("synth_imbalance", "binary", "label", _synth_imbalance),
        Task("synth_large", "binary", "label", _synth_large),
    )
}


# -- data ----------------------------------------------------------------------------------


def task_files(task: Task, workdir: Path) -> tuple[Path, Path]:
    """The fixed train/test split of a task as CSV files (written once)."""
    from sklearn.model_selection import train_test_split

    folder = workdir / "data" / task.name
    train, test = folder / "train.csv", folder / "test.csv"
    if train.exists() and test.exists():
        return train, test
    frame = task.load()
    if task.kind != "regression":
        frame[task.label] = frame[task.label].astype(str)
    stratify = frame[task.label] if task.kind != "regression" else None
    tr, te = train_test_split(frame, test_size=TEST_SHARE, random_state=SPLIT_SEED, stratify=stratify)
    folder.mkdir(parents=True, exist_ok=True)
    tr.to_csv(train, index=False)
    te.to_csv(test, index=False)
    return train, test


def read_split(task: Task, workdir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    train, test = task_files(task, workdir)
    dtype = {task.label: str} if task.kind != "regression" else None
    return pd.read_csv(train, dtype=dtype), pd.read_csv(test, dtype=dtype)


def score(task: Task, y_true: pd.Series, predictions: pd.DataFrame) -> float:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    if task.kind == "regression":
        return float(r2_score(y_true.to_numpy(dtype=float), predictions["prediction"].to_numpy(dtype=float)))
    classes = sorted(y_true.unique().tolist() + [c for c in predictions.columns if c not in set(y_true)])
    proba = predictions.reindex(columns=classes, fill_value=0.0).to_numpy(dtype=float)
    if task.kind == "binary":
        positive = classes.index(sorted(y_true.unique())[1])
        return float(roc_auc_score(y_true == classes[positive], proba[:, positive]))
    return float(accuracy_score(y_true, np.asarray(classes, dtype=object)[proba.argmax(axis=1)]))


# -- the frameworks (each runs as a subprocess: `bench.py worker <framework> ...`) -------------


def _categorical(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]


def _split_xy(frame: pd.DataFrame, label: str) -> tuple[pd.DataFrame, pd.Series]:
    return frame.drop(columns=[label]), frame[label]


def _write_predictions(task: Task, model: Any, X: pd.DataFrame, out: Path, classes: list[str] | None = None) -> None:
    if task.kind == "regression":
        pd.DataFrame({"prediction": np.asarray(model.predict(X), dtype=float)}).to_csv(out, index=False)
        return
    proba = np.asarray(model.predict_proba(X), dtype=float)
    names = [str(c) for c in (classes if classes is not None else model.classes_)]
    pd.DataFrame(proba, columns=names).to_csv(out, index=False)


def worker_flaml(task: Task, workdir: Path, budget: float, seed: int, out: Path) -> dict[str, Any]:
    from flaml import AutoML

    train, test = read_split(task, workdir)
    X, y = _split_xy(train, task.label)
    Xt, _ = _split_xy(test, task.label)
    for c in _categorical(X):
        X[c] = X[c].astype("category")
        Xt[c] = pd.Categorical(Xt[c], categories=X[c].cat.categories)
    automl = AutoML()
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task.kind]
    automl.fit(X, y, task="classification" if task.kind != "regression" else "regression", metric=metric,
               time_budget=budget, n_jobs=2, seed=seed, verbose=0)
    _write_predictions(task, automl, Xt, out, classes=None if task.kind == "regression" else list(automl.classes_))
    return {"best": automl.best_estimator}


def _baseline(task: Task, workdir: Path, seed: int, out: Path, forest: bool) -> dict[str, Any]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    train, test = read_split(task, workdir)
    X, y = _split_xy(train, task.label)
    Xt, _ = _split_xy(test, task.label)
    categorical = _categorical(X)
    numeric = [c for c in X.columns if c not in categorical]
    encode = ColumnTransformer(
        # HistGradientBoosting takes at most 255 categories per column: rarer ones are grouped.
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                encoded_missing_value=np.nan, max_categories=250), categorical),
         ("num", "passthrough", numeric)],
        verbose_feature_names_out=False,
    )
    mask = [True] * len(categorical) + [False] * len(numeric)
    regression = task.kind == "regression"
    if forest:
        model: Any = (RandomForestRegressor if regression else RandomForestClassifier)(
            n_estimators=300, n_jobs=2, random_state=seed)
    else:
        model = (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
            categorical_features=mask or None, random_state=seed)
    pipeline = Pipeline([("encode", encode), ("model", model)]).fit(X, y)
    _write_predictions(task, pipeline, Xt, out)
    return {}


def worker_hgb(task: Task, workdir: Path, budget: float, seed: int, out: Path) -> dict[str, Any]:
    return _baseline(task, workdir, seed, out, forest=False)


def worker_rf(task: Task, workdir: Path, budget: float, seed: int, out: Path) -> dict[str, Any]:
    return _baseline(task, workdir, seed, out, forest=True)


def worker_automl(task: Task, workdir: Path, budget: float, seed: int, out: Path) -> dict[str, Any]:
    import yaml

    from automl import artifact

    train, test = task_files(task, workdir)
    run_dir = workdir / "runs" / f"{task.name}-{int(budget)}-{seed}"
    manifest = run_dir.with_suffix(".yaml")
    manifest.parent.mkdir(parents=True, exist_ok=True)
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}[task.kind]
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "automl.dev/v1alpha1",
        "kind": "AutoMLJob",
        "metadata": {"name": task.name.replace("_", "-")},
        "spec": {
            "task": "regression" if task.kind == "regression" else "classification",
            "data": {"train": str(train), "label": task.label},
            "primaryMetric": metric,
            "search": {"maxCandidates": 10000, "maxParallel": 2},
            "limits": {"timeout": f"{int(budget)}s", "candidateTimeout": f"{int(budget)}s",
                       "maxFailedCandidates": 1000},
            "ensemble": {"enabled": True},
            "seed": seed,
        },
    }))
    automl = Path(sys.executable).with_name("automl")
    subprocess.run([str(automl), "run", str(manifest), "--output", str(run_dir), "--overwrite", "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    model, _ = artifact.load_model(str(run_dir / "model"))
    _, test_frame = read_split(task, workdir)
    X = test_frame.drop(columns=[task.label])
    if task.kind == "regression":
        pd.DataFrame({"prediction": model.predict_raw(X)}).to_csv(out, index=False)
    else:
        pd.DataFrame(model.predict_proba(X), columns=[str(c) for c in model.classes]).to_csv(out, index=False)
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "best": result["best"]["algorithm"],
        "validation_score": result["best"]["validation_score"],
        "candidates": result["candidates"],
        "timings": result["timings"],
    }


WORKERS = {"automl": worker_automl, "flaml": worker_flaml, "hgb": worker_hgb, "rf": worker_rf}


def run_one(framework: str, task: Task, budget: float, seed: int, workdir: Path, ag_python: Path) -> dict[str, Any]:
    """Run one framework on one task in a subprocess; its wall-clock time and test score."""
    train, test = task_files(task, workdir)
    out = workdir / "predictions" / f"{framework}-{task.name}-{int(budget)}-{seed}.csv"
    info = out.with_suffix(".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in (out, info):
        stale.unlink(missing_ok=True)
    if framework == "autogluon":
        command = [str(ag_python), str(HERE / "ag_worker.py"), "--train", str(train), "--test", str(test),
                   "--label", task.label, "--kind", task.kind,
                   "--metric", task.metric, "--budget", str(budget), "--out", str(out)]
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "worker", framework, "--task", task.name,
                   "--budget", str(budget), "--seed", str(seed), "--out", str(out), "--workdir", str(workdir)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=budget * 4 + 300)
    seconds = time.monotonic() - started
    record: dict[str, Any] = {"framework": framework, "task": task.name, "budget": budget, "seed": seed,
                              "seconds": round(seconds, 2), "metric": task.metric}
    if proc.returncode != 0 or not out.exists():
        record["error"] = (proc.stderr or proc.stdout)[-2000:]
        return record
    _, test_frame = read_split(task, workdir)
    predictions = pd.read_csv(out)
    record["score"] = round(score(task, test_frame[task.label], predictions), 6)
    if info.exists():
        record.update(json.loads(info.read_text()))
    return record


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cmd_run(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    done = {(r["framework"], r["task"], r["budget"], r["seed"]) for r in load_results(args.results) if "score" in r}
    for repeat in range(args.repeats):
        for budget in args.budgets:
            for name in args.tasks:
                for framework in args.frameworks:
                    key = (framework, name, float(budget), repeat)
                    if key in done:
                        continue
                    record = run_one(framework, TASKS[name], float(budget), repeat, workdir, Path(args.autogluon_python))
                    record["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                    with open(args.results, "a") as fh:
                        fh.write(json.dumps(record) + "\n")
                    shown = f"{record['score']:.4f}" if "score" in record else "ERROR " + record["error"][-300:]
                    print(f"[{record['at']}] r{repeat} {int(budget)}s {name:<16} {framework:<10} "
                          f"{shown} ({record['seconds']:.0f}s)", flush=True)


def cmd_worker(args: argparse.Namespace) -> None:
    extra = WORKERS[args.framework](TASKS[args.task], Path(args.workdir), args.budget, args.seed, Path(args.out))
    Path(args.out).with_suffix(".json").write_text(json.dumps(extra or {}, default=str))


# -- summary -------------------------------------------------------------------------------


def medians(results: list[dict[str, Any]], budget: float) -> dict[str, dict[str, tuple[float, int]]]:
    """task -> framework -> (median test score, repeats)."""
    table: dict[str, dict[str, list[float]]] = {}
    for r in results:
        if r["budget"] == budget and "score" in r:
            table.setdefault(r["task"], {}).setdefault(r["framework"], []).append(r["score"])
    return {t: {f: (statistics.median(v), len(v)) for f, v in fs.items()} for t, fs in table.items()}


def compare(ours: dict[str, float], theirs: dict[str, float]) -> tuple[int, int, int, float]:
    ahead = tied = behind = 0
    worst = 0.0
    for task in ours.keys() & theirs.keys():
        diff = ours[task] - theirs[task]
        if abs(diff) <= TIE:
            tied += 1
        elif diff > 0:
            ahead += 1
        else:
            behind += 1
        worst = min(worst, diff)
    return ahead, tied, behind, worst


def mean_ranks(table: dict[str, dict[str, tuple[float, int]]], frameworks: list[str]) -> dict[str, float]:
    """Mean rank (1 = best, ties share the average rank) over tasks where all ran."""
    ranks: dict[str, list[float]] = {f: [] for f in frameworks}
    for scores in table.values():
        if not all(f in scores for f in frameworks):
            continue
        values = pd.Series({f: scores[f][0] for f in frameworks})
        for f, rank in values.rank(ascending=False, method="average").items():
            ranks[str(f)].append(float(rank))
    return {f: (statistics.mean(v) if v else float("nan")) for f, v in ranks.items()}


def summary_text(results: list[dict[str, Any]], budgets: list[float], frameworks: list[str]) -> str:
    lines = []
    for budget in budgets:
        table = medians(results, budget)
        if not table:
            continue
        lines.append(f"\n### Budget {int(budget)} s: median test score (repeats in brackets)\n")
        lines.append("| task | metric | " + " | ".join(frameworks) + " |")
        lines.append("|---" * (len(frameworks) + 2) + "|")
        for name in [t for t in TASKS if t in table]:
            cells = []
            best = max((table[name][f][0] for f in frameworks if f in table[name]), default=None)
            for f in frameworks:
                if f in table[name]:
                    value, n = table[name][f]
                    text = f"{value:.4f} ({n})"
                    cells.append(f"**{text}**" if best is not None and value >= best - 1e-12 else text)
                else:
                    cells.append("-")
            lines.append(f"| {name} | {TASKS[name].metric} | " + " | ".join(cells) + " |")
        ours = {t: s["automl"][0] for t, s in table.items() if "automl" in s}
        lines.append("")
        for other in ("flaml", "autogluon", "hgb", "rf"):
            theirs = {t: s[other][0] for t, s in table.items() if other in s}
            a, t, b, worst = compare(ours, theirs)
            if a + t + b:
                lines.append(f"- automl vs {other}: ahead {a}, tied {t} (within {TIE}), behind {b}; "
                             f"largest deficit {worst:+.4f}")
        ranks = mean_ranks(table, frameworks)
        complete = sum(all(f in s for f in frameworks) for s in table.values())
        lines.append(f"- mean rank over {complete} tasks where all ran: "
                     + ", ".join(f"{f} {r:.2f}" for f, r in sorted(ranks.items(), key=lambda kv: kv[1])))
        secs: dict[str, list[float]] = {}
        for r in results:
            if r["budget"] == budget and "score" in r:
                secs.setdefault(r["framework"], []).append(r["seconds"])
        lines.append("- median wall-clock seconds per run: "
                     + ", ".join(f"{f} {statistics.median(v):.0f}" for f, v in secs.items()))
        ours_runs = [r for r in results if r["budget"] == budget and r["framework"] == "automl" and "timings" in r]
        if ours_runs:
            over = [r["timings"]["total_seconds"] - budget for r in ours_runs]
            wall = [r["seconds"] - budget for r in ours_runs]
            lines.append(f"- automl budget discipline over {len(ours_runs)} runs: run time (result.json "
                         f"timings.total_seconds) minus budget: median {statistics.median(over):+.1f} s, "
                         f"max {max(over):+.1f} s; whole process wall clock minus budget (interpreter start, "
                         f"imports, then loading the model to score the test set): median "
                         f"{statistics.median(wall):+.1f} s, max {max(wall):+.1f} s")
        errors = [r for r in results if r["budget"] == budget and "error" in r]
        if errors:
            lines.append("- failed runs: " + ", ".join(f"{r['framework']}/{r['task']}/r{r['seed']}" for r in errors))
    return "\n".join(lines)


def issue2_text(results: list[dict[str, Any]]) -> str:
    table = medians(results, 60.0)
    lines = ["\n### Issue 2 check: automl vs a default HistGradientBoosting pipeline at 60 s\n",
             "| task | automl | hgb | difference |", "|---|---|---|---|"]
    for name in ("breast_cancer", "wine", "diabetes"):
        scores = table.get(name, {})
        if "automl" in scores and "hgb" in scores:
            a, h = scores["automl"][0], scores["hgb"][0]
            lines.append(f"| {name} | {a:.4f} | {h:.4f} | {a - h:+.4f} |")
        else:
            lines.append(f"| {name} | not run | | |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the grid (resumes: skips runs already in --results)")
    run.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    run.add_argument("--budgets", nargs="+", type=float, default=[60.0, 300.0])
    run.add_argument("--repeats", type=int, default=3)
    run.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    run.add_argument("--workdir", default=str(CACHE / "work"))
    run.add_argument("--autogluon-python", default=str(DEFAULT_AG_PYTHON))
    run.set_defaults(fn=cmd_run)
    summary = sub.add_parser("summary", help="median tables, ahead/tied/behind counts, mean ranks")
    summary.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    summary.add_argument("--budgets", nargs="+", type=float, default=[60.0, 300.0])
    summary.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS))
    summary.set_defaults(fn=lambda a: print(summary_text(load_results(a.results), a.budgets, a.frameworks)))
    issue2 = sub.add_parser("issue2", help="automl vs default HGB on breast_cancer, wine, diabetes at 60 s")
    issue2.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    issue2.add_argument("--run", action="store_true", help="run the missing automl/hgb runs first")
    issue2.add_argument("--workdir", default=str(CACHE / "work"))
    issue2.set_defaults(fn=cmd_issue2)
    worker = sub.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("framework", choices=list(WORKERS))
    worker.add_argument("--task", required=True)
    worker.add_argument("--budget", type=float, required=True)
    worker.add_argument("--seed", type=int, default=0)
    worker.add_argument("--out", required=True)
    worker.add_argument("--workdir", required=True)
    worker.set_defaults(fn=cmd_worker)
    args = p.parse_args()
    args.fn(args)


def cmd_issue2(args: argparse.Namespace) -> None:
    if args.run:
        cmd_run(argparse.Namespace(tasks=["breast_cancer", "wine", "diabetes"], budgets=[60.0], repeats=1,
                                   frameworks=["automl", "hgb"], results=args.results, workdir=args.workdir,
                                   autogluon_python=str(DEFAULT_AG_PYTHON)))
    print(issue2_text(load_results(args.results)))


if __name__ == "__main__":
    main()
