"""The ``automl`` command: run a job locally, predict with its model, serve it, check a spec.

Every error a user can cause is printed as one line starting with ``error:`` and exits
non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from automl import __version__
from automl.errors import AutoMLError
from automl.runner import Observer

console = Console(stderr=False, highlight=False)
errors = Console(stderr=True, highlight=False)


def _leaderboard_table(rows: list[dict[str, Any]], metric: str, limit: int = 10) -> Table:
    table = Table(title=f"Leaderboard ({metric})", title_justify="left", expand=False)
    for col in ("rank", "id", "algorithm", "score", "fit s", "status"):
        table.add_column(col, justify="right" if col in ("rank", "score", "fit s") else "left")
    for row in rows[:limit]:
        score = f"{row['score']:.4f}" if row["score"] is not None else "-"
        status = row["status"] if row["status"] == "succeeded" else f"[red]{row['status']}[/red]"
        table.add_row(str(row["rank"] or "-"), row["id"], row["algorithm"], score, f"{row['fit_seconds']:.1f}", status)
    return table


class ConsoleObserver(Observer):
    """A live progress bar and leaderboard on a terminal; one line per candidate otherwise."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live: Live | None = None
        self.progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
        )
        self.task_id: Any = None
        self.metric = ""

    def started(self, job: Any, plan: Any, run_uri: str) -> None:
        self.metric = plan.metric
        if self.quiet:
            return
        console.print(
            f"[bold]{job.name}[/bold]: {plan.task.value} on {plan.n_rows} rows x {plan.n_features} features, "
            f"metric {plan.metric}, validation {plan.validation.method}"
            + (f" ({plan.validation.folds} folds)" if plan.validation.method == "cv" else "")
            + f", output {run_uri}"
        )
        for g in plan.guardrails:
            if g.result != "passed":
                console.print(f"  guardrail [yellow]{g.check}[/yellow]: {g.result} - {g.detail}")
        self.task_id = self.progress.add_task("train", total=job.spec.search.max_candidates, best="-")
        if console.is_terminal:
            self.live = Live(Group(self.progress), console=console, refresh_per_second=8, transient=False)
            self.live.start()

    def candidate_finished(self, result: Any, results: list[Any], total: int) -> None:
        if self.quiet:
            return
        from automl.runner import leaderboard_rows

        rows = leaderboard_rows(results, self.metric)
        best = rows[0]["score"] if rows and rows[0]["score"] is not None else None
        self.progress.update(self.task_id, completed=len(results), best=f"{best:.4f}" if best is not None else "-")
        if self.live is not None:
            self.live.update(Group(self.progress, _leaderboard_table(rows, self.metric)))
        else:
            score = f"{result.score:.4f}" if result.score is not None else "-"
            detail = f" ({result.error})" if result.error else ""
            console.print(
                f"  {result.id} {result.algorithm:<24} {result.status:<9} {self.metric}={score} "
                f"fit={result.fit_seconds:.1f}s{detail}"
            )

    def finalizing(self) -> None:
        self._stop_live()
        if not self.quiet:
            console.print("finalizing: ensemble selection, refit, test score, artifact ...")

    def finished(self, result: Any) -> None:
        self._stop_live()
        if self.quiet:
            return
        if result.leaderboard and not console.is_terminal:
            console.print(_leaderboard_table(result.leaderboard, result.metric))
        c = result.candidates
        console.print(
            f"stopped: {result.stop_reason}; candidates: {c.get('succeeded', 0)} succeeded, "
            f"{c.get('failed', 0)} failed, {c.get('stopped', 0)} stopped; "
            f"{result.timings.get('total_seconds', 0):.1f}s of {result.timings.get('budget_seconds', 0):.0f}s"
        )
        if result.best is not None:
            b = result.best
            line = f"[bold green]best[/bold green]: {b.algorithm} validation {result.metric}={b.validation_score:.4f}"
            if b.test_score is not None:
                line += f", test {result.metric}={b.test_score:.4f}"
            console.print(line)
            console.print(f"model: {b.model_uri} (sha256 {b.sha256[:12]}...)")
        if result.report:
            console.print(f"report: {result.report}")

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def cmd_run(args: argparse.Namespace) -> int:
    from automl.guardrails import check_all
    from automl.runner import run_job
    from automl.spec import load_job

    job = load_job(args.manifest)
    if args.timeout:
        job.spec.limits.timeout = args.timeout
    if args.max_parallel:
        job.spec.search.max_parallel = min(args.max_parallel, job.spec.search.max_candidates)
    result = run_job(job, output=args.output, overwrite=args.overwrite, observer=ConsoleObserver(args.quiet),
                     guardrails=check_all)
    if args.quiet:
        console.print_json(result.model_dump_json(include={"name", "status", "best", "candidates", "timings"}))
    return 0 if result.status == "succeeded" else 1


def _model_location(target: str) -> str:
    from automl import artifact, storage
    from automl.finalize import MODEL_DIR

    if storage.exists(storage.join(target, artifact.META_FILE)):
        return target
    nested = storage.join(target, MODEL_DIR)
    if storage.exists(storage.join(nested, artifact.META_FILE)):
        return nested
    raise AutoMLError(f"{target}: no model here; give a run directory (from automl run) or a model location")


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from automl import artifact
    from automl.data import read_table
    from automl.spec import Task

    model, info = artifact.load_model(_model_location(args.run), args.sha256)
    rows = read_table(args.data, "input data")
    missing = [c for c in info.feature_schema.input_columns if c not in rows.columns]
    if missing:
        raise AutoMLError(f"{args.data}: lacks the model's input columns {missing}")
    out = pd.DataFrame({"prediction": model.predict(rows)})
    if info.task is Task.classification:
        proba = model.predict_proba(rows)
        for i, cls in enumerate(info.classes):
            out[f"proba_{cls}"] = proba[:, i]
    if args.output == "-":
        out.to_csv(sys.stdout, index=False)
    else:
        out.to_csv(args.output, index=False)
        console.print(f"wrote {len(out)} predictions to {args.output}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from automl import serving

    serving.run(_model_location(args.run), host=args.host, port=args.port, workers=args.workers,
                sha256=args.sha256, name=args.name)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from automl.spec import load_job

    job = load_job(args.manifest)
    console.print(f"{args.manifest}: valid AutoMLJob {job.name!r} ({job.spec.task.value}, metric {job.spec.metric})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="automl", description="Automated machine learning for tabular data.")
    p.add_argument("--version", action="version", version=f"kube-automl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an AutoMLJob manifest on this machine")
    run.add_argument("manifest", help="the AutoMLJob YAML (the same that kubectl apply takes)")
    run.add_argument("--output", help="where to write the run (default: spec.output or ./automl-runs/<name>)")
    run.add_argument("--overwrite", action="store_true", help="replace a previous run at the output")
    run.add_argument("--timeout", help="override limits.timeout, e.g. 60s")
    run.add_argument("--max-parallel", type=int, help="override search.maxParallel")
    run.add_argument("--quiet", action="store_true", help="no progress; print the result as JSON")
    run.set_defaults(fn=cmd_run)

    predict = sub.add_parser("predict", help="predict with a run's model")
    predict.add_argument("run", help="a run directory or model location (path, file:// or s3://)")
    predict.add_argument("data", help="CSV or Parquet with the input columns")
    predict.add_argument("-o", "--output", default="-", help="CSV to write (default: standard output)")
    predict.add_argument("--sha256", help="refuse the model unless model.pkl has this sha256")
    predict.set_defaults(fn=cmd_predict)

    serve = sub.add_parser("serve", help="serve a run's model over HTTP")
    serve.add_argument("run", help="a run directory or model location (path, file:// or s3://)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=None)
    serve.add_argument("--sha256", help="refuse the model unless model.pkl has this sha256")
    serve.add_argument("--name", help="model name in the URLs (default: the job's name)")
    serve.set_defaults(fn=cmd_serve)

    validate = sub.add_parser("validate", help="check an AutoMLJob manifest")
    validate.add_argument("manifest")
    validate.set_defaults(fn=cmd_validate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except AutoMLError as err:
        errors.print(f"error: {err}", markup=False, soft_wrap=True)
        return err.exit_code
    except KeyboardInterrupt:
        errors.print("interrupted", markup=False)
        return 130
    except BrokenPipeError:  # e.g. `automl predict ... | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
