"""The embedded runner: a whole AutoMLJob on one machine, no cluster (``automl run``).

prepare -> search (candidates in local processes, at most ``search.maxParallel`` at once)
-> finalize (ensemble, refit, test score, artifact) -> ``leaderboard.csv``, ``result.json``.
The search stops at ``maxCandidates``, ``exitScore``, ``maxFailedCandidates`` or when the
time left is only what finalizing needs; running candidates are then stopped at once.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from automl import metrics, storage
from automl.candidate import CandidateResult
from automl.errors import SearchFailed
from automl.executor import LocalExecutor
from automl.finalize import FinalModel, finalize, rank
from automl.prepare import Plan, prepare
from automl.search import SearchStrategy
from automl.spec import AutoMLJob, dump_job

RESULT_FILE = "result.json"
LEADERBOARD_FILE = "leaderboard.csv"
# Share of the budget kept for finalizing (refit, test score, writing the artifact) and the
# report; the search stops that much before limits.timeout.
FINALIZE_SHARE = 0.1
FINALIZE_MIN_SECONDS = 2.0
# Share of the budget kept for report.html (figures and permutation importance).
REPORT_SHARE = 0.04
REPORT_MIN_SECONDS = 1.5
REPORT_MAX_SECONDS = 8.0

POLL_SECONDS = 0.05


class RunResult(BaseModel):
    name: str
    status: str  # succeeded | failed
    message: str = ""
    task: str
    metric: str
    stop_reason: str = ""
    validation: dict[str, Any] = Field(default_factory=dict)
    guardrails: list[dict[str, Any]] = Field(default_factory=list)
    candidates: dict[str, int] = Field(default_factory=dict)
    best: FinalModel | None = None
    leaderboard: list[dict[str, Any]] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    report: str | None = None  # location of report.html
    spec: dict[str, Any] = Field(default_factory=dict)


def default_output(job: AutoMLJob) -> str:
    return job.spec.output or str(Path("automl-runs") / job.name)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def leaderboard_rows(results: list[CandidateResult], metric_name: str) -> list[dict[str, Any]]:
    ranked = rank(results, metric_name)
    failed = [r for r in results if not r.ok]
    rows = []
    for position, r in enumerate([*ranked, *sorted(failed, key=lambda r: r.id)], start=1):
        rows.append(
            {
                "rank": position if r.ok else None,
                "id": r.id,
                "algorithm": r.algorithm,
                "featurization": r.style,
                "status": r.status,
                "score": round(r.score, 6) if r.score is not None else None,
                "fold_scores": r.fold_scores,
                "fit_seconds": r.fit_seconds,
                "total_seconds": r.total_seconds,
                "finished_at": r.finished_at,
                "source": r.source,
                "sample_rows": r.sample_rows,
                "params": r.params,
                "error": r.error,
            }
        )
    return rows


def write_leaderboard(run_uri: str, rows: list[dict[str, Any]]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    fields = ["rank", "id", "algorithm", "featurization", "status", "score", "fit_seconds", "total_seconds",
              "finished_at", "source", "sample_rows", "params", "error"]
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "params": json.dumps(row["params"], sort_keys=True)})
    storage.write_text(storage.join(run_uri, LEADERBOARD_FILE), buffer.getvalue())


class Observer:
    """What the runner reports as it goes; the CLI renders it, tests may record it."""

    def started(self, job: AutoMLJob, plan: Plan, run_uri: str) -> None: ...

    def candidate_finished(self, result: CandidateResult, results: list[CandidateResult], total: int) -> None: ...

    def finalizing(self) -> None: ...

    def finished(self, result: RunResult) -> None: ...


def _clear_previous(run_uri: str) -> None:
    local = storage.storage_for(run_uri).local_path(run_uri)
    if local is None:
        return  # s3: candidates are overwritten by id; nothing is deleted remotely
    for part in ("candidates", "model"):
        shutil.rmtree(Path(local) / part, ignore_errors=True)


def run_job(
    job: AutoMLJob,
    output: str | None = None,
    overwrite: bool = False,
    observer: Observer | None = None,
    guardrails: Callable[..., Any] | None = None,
) -> RunResult:
    """Execute the whole job locally. Raises AutoMLError for problems the user can fix."""
    observer = observer or Observer()
    spec = job.spec
    run_uri = output or default_output(job)
    t0 = time.monotonic()
    timeout = spec.limits.timeout_seconds
    if storage.exists(storage.join(run_uri, RESULT_FILE)) and not overwrite:
        from automl.errors import AutoMLError

        raise AutoMLError(
            f"{run_uri} already holds a run; choose another output (--output) or pass --overwrite"
        )
    # prepare() checks the data before it writes anything, so bad input leaves a previous
    # run untouched; only then are the previous run's candidates and model removed.
    plan = prepare(spec, run_uri, guardrails)
    _clear_previous(run_uri)
    storage.write_text(storage.join(run_uri, "job.json"), json.dumps(dump_job(job), indent=2))
    observer.started(job, plan, run_uri)
    prepared = time.monotonic()

    # matplotlib takes a second or more to import: do it while candidates train, not after.
    threading.Thread(target=_preload_report, name="automl-report-preload", daemon=True).start()
    metric = metrics.get(plan.metric)
    search = SearchStrategy(spec, plan)
    parallel = spec.search.max_parallel
    executor = LocalExecutor(run_uri, n_jobs=max(1, cpu_count() // parallel), run_started=t0)
    report_reserve = min(REPORT_MAX_SECONDS, max(REPORT_MIN_SECONDS, REPORT_SHARE * timeout))
    reserve = max(FINALIZE_MIN_SECONDS, FINALIZE_SHARE * timeout) + report_reserve
    search_deadline = t0 + timeout - reserve
    results: list[CandidateResult] = []
    failed = 0
    stop_reason = ""
    try:
        while True:
            for result in executor.poll():
                results.append(result)
                search.tell(result)
                failed += result.status in ("failed", "timeout")
                observer.candidate_finished(result, results, spec.search.max_candidates)
                if result.ok and spec.limits.exit_score is not None and metric.reached(result.score or 0.0, spec.limits.exit_score):
                    stop_reason = f"exitScore {spec.limits.exit_score} reached by {result.id}"
            if not stop_reason and failed > spec.limits.max_failed_candidates:
                stop_reason = f"more than limits.maxFailedCandidates ({spec.limits.max_failed_candidates}) candidates failed"
            now = time.monotonic()
            if not stop_reason and now >= search_deadline:
                stop_reason = f"limits.timeout ({spec.limits.timeout}) reached"
            if stop_reason:
                break
            while len(executor.running) < parallel:
                candidate = search.ask()
                if candidate is None:
                    break
                left = search_deadline - time.monotonic()
                executor.submit(candidate, min(spec.limits.candidate_timeout_seconds, max(left, 1.0) + 1.0))
            if not executor.running:
                stop_reason = f"search.maxCandidates ({spec.search.max_candidates}) tried" if search.exhausted else "search space exhausted"
                break
            time.sleep(POLL_SECONDS)
    finally:
        for result in executor.stop_all(stop_reason or "the run was interrupted"):
            results.append(result)
            search.tell(result)
    searched = time.monotonic()

    counts = {
        "total": len(results),
        "succeeded": sum(r.ok for r in results),
        "failed": sum(r.status in ("failed", "timeout") for r in results),
        "stopped": sum(r.status == "stopped" for r in results),
    }
    rows = leaderboard_rows(results, plan.metric)
    write_leaderboard(run_uri, rows)
    outcome = RunResult(
        name=job.name,
        status="failed",
        task=spec.task.value,
        metric=plan.metric,
        stop_reason=stop_reason,
        validation=plan.validation.model_dump(),
        guardrails=[g.model_dump() for g in plan.guardrails],
        candidates=counts,
        leaderboard=rows[:20],
        spec=dump_job(job)["spec"],
    )
    try:
        if failed > spec.limits.max_failed_candidates:
            raise SearchFailed(
                f"{failed} candidates failed, more than limits.maxFailedCandidates "
                f"({spec.limits.max_failed_candidates}); first error: {_first_error(results)}"
            )
        if counts["succeeded"] == 0:
            raise SearchFailed(f"every candidate failed; first error: {_first_error(results)}")
        observer.finalizing()
        seconds_left = t0 + timeout - report_reserve - time.monotonic()
        outcome.best = finalize(spec, job.name, run_uri, results, seconds_left, n_jobs=cpu_count())
        outcome.status = "succeeded"
    except SearchFailed as err:
        outcome.message = str(err)
        raise
    finally:
        finalized = time.monotonic()
        outcome.timings = {
            "prepare_seconds": round(prepared - t0, 3),
            "search_seconds": round(searched - prepared, 3),
            "finalize_seconds": round(finalized - searched, 3),
            "budget_seconds": timeout,
        }
        if outcome.status == "succeeded":
            outcome.report = _write_report(run_uri, outcome, results, deadline=t0 + timeout)
        finished = time.monotonic()
        outcome.timings["report_seconds"] = round(finished - finalized, 3)
        outcome.timings["total_seconds"] = round(finished - t0, 3)
        outcome.timings["overrun_seconds"] = round(max(0.0, finished - t0 - timeout), 3)
        storage.write_text(storage.join(run_uri, RESULT_FILE), outcome.model_dump_json(indent=2))
        observer.finished(outcome)
    return outcome


def _preload_report() -> None:
    try:
        from automl.report import preload

        preload()
    except Exception:  # the report will say what is wrong when it is drawn
        pass


def _write_report(run_uri: str, outcome: RunResult, results: list[CandidateResult], deadline: float) -> str | None:
    """report.html; a failure to draw it is reported but never fails a run that has its model."""
    from automl.report import write_report

    try:
        return write_report(run_uri, outcome.model_dump(mode="json"), results, deadline)
    except Exception as err:  # the model is written; a broken figure must not lose the run
        outcome.message = f"report.html not written: {type(err).__name__}: {err}"
        return None


def _first_error(results: list[CandidateResult]) -> str:
    for r in results:
        if r.error and r.status in ("failed", "timeout"):
            return f"{r.id} ({r.algorithm}): {r.error}"
    return "none recorded"
