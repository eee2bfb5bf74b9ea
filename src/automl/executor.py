"""Run candidates in local processes: one process per candidate, killed at its time limit.

Processes are forked from a *forkserver* that has already imported the trainer (pandas,
scikit-learn, LightGBM), so each candidate starts in milliseconds instead of the second or
more that a fresh interpreter needs, yet stays a separate process that can be killed
without harm. A candidate that is killed or crashes leaves no result file behind; the
executor writes its failed result so that every candidate ends with a record.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from automl.candidate import Candidate, CandidateResult, Status, read_result, write_result

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(["automl.trainer.core"])


def _work(run_uri: str, candidate_json: str, n_jobs: int, started_at: float) -> None:
    os.setpgid(0, 0)  # its own process group, so a kill reaches any helper processes too
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle
    from automl.trainer.core import train_candidate

    train_candidate(run_uri, Candidate.model_validate_json(candidate_json), n_jobs, started_at)


@dataclass
class _Running:
    candidate: Candidate
    process: BaseProcess
    started: float  # monotonic
    started_at: float  # seconds since the run started
    timeout: float


class LocalExecutor:
    def __init__(self, run_uri: str, n_jobs: int, run_started: float) -> None:
        self.run_uri = run_uri
        self.n_jobs = n_jobs
        self.run_started = run_started
        self.running: dict[str, _Running] = {}

    def submit(self, candidate: Candidate, timeout: float) -> None:
        now = time.monotonic()
        started_at = now - self.run_started
        process = _context.Process(
            target=_work,
            args=(self.run_uri, candidate.model_dump_json(), self.n_jobs, started_at),
            name=f"automl-{candidate.id}",
            daemon=True,
        )
        process.start()
        self.running[candidate.id] = _Running(candidate, process, now, started_at, timeout)

    def poll(self) -> list[CandidateResult]:
        """Results of candidates that finished, failed or ran out of time since the last poll."""
        done: list[CandidateResult] = []
        now = time.monotonic()
        for cid, job in list(self.running.items()):
            if not job.process.is_alive():
                job.process.join()
                del self.running[cid]
                done.append(self._collect(job))
            elif now - job.started > job.timeout:
                self._kill(job)
                del self.running[cid]
                done.append(
                    self._record(job, "timeout", f"stopped at limits.candidateTimeout ({job.timeout:.0f}s)")
                )
        return done

    def stop_all(self, reason: str) -> list[CandidateResult]:
        """Stop every running candidate at once (the search has ended)."""
        out = []
        for cid, job in list(self.running.items()):
            self._kill(job)
            del self.running[cid]
            out.append(self._record(job, "stopped", reason))
        return out

    def _kill(self, job: _Running) -> None:
        pid = job.process.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        job.process.join(timeout=5)

    def _collect(self, job: _Running) -> CandidateResult:
        result = read_result(self.run_uri, job.candidate.id)
        if result is not None:
            return result
        code = job.process.exitcode
        if code is not None and code < 0:
            why = f"killed by signal {-code}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
        else:
            why = f"exited with code {code} without a result"
        return self._record(job, "failed", why)

    def _record(self, job: _Running, status: Status, error: str) -> CandidateResult:
        elapsed = time.monotonic() - job.started
        result = CandidateResult(
            id=job.candidate.id,
            algorithm=job.candidate.algorithm,
            params=job.candidate.params,
            style=job.candidate.style,
            source=job.candidate.source,
            sample_rows=job.candidate.sample_rows,
            status=status,
            error=error,
            metric="",
            total_seconds=round(elapsed, 3),
            started_at=round(job.started_at, 3),
            finished_at=round(job.started_at + elapsed, 3),
        )
        write_result(self.run_uri, result)
        return result
