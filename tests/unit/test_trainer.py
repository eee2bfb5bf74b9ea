"""The trainer: one candidate in, one result out, as a real process with the pod's contract
(summary file for the termination message, exit code, one line on stderr)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from automl.candidate import Candidate, read_result
from automl.executor import LocalExecutor
from automl.prepare import prepare
from automl.spec import load_job
from tests.conftest import PYTHON, classification_frame, regression_frame


def trainer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "automl.trainer", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def prepared_run(make_job, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    manifest = make_job(classification_frame(n=200), validation={"method": "cv", "folds": 3})
    run = str(tmp_path / "run")
    result = trainer("prepare", "--job", str(manifest), "--run", run, "--summary-file", str(tmp_path / "prep.json"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "prep.json").read_text())["rows"] == 200
    return run


def test_a_candidate_writes_scores_predictions_model_and_a_summary(prepared_run: str, tmp_path: Path) -> None:
    summary_file = tmp_path / "termination-log"
    candidate = Candidate(id="c0007", algorithm="lightgbm", params={"n_estimators": 50}).model_dump_json()
    result = trainer("train", "--run", prepared_run, "--candidate", candidate, "--summary-file", str(summary_file))
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_file.read_text())
    assert summary["id"] == "c0007" and summary["status"] == "succeeded"
    assert len(summary_file.read_bytes()) < 4096

    record = read_result(prepared_run, "c0007")
    assert record is not None and record.ok
    assert len(record.fold_scores) == 3
    assert record.score == pytest.approx(np.mean(record.fold_scores))
    assert record.fit_seconds > 0 and record.predict_seconds > 0
    oof = np.load(Path(prepared_run) / "candidates" / "c0007" / "oof.npy")
    assert oof.shape == (200, 2) and np.isfinite(oof).all()
    assert (Path(prepared_run) / "candidates" / "c0007" / "model.pkl").stat().st_size > 0


def test_a_failing_candidate_exits_non_zero_with_one_line_and_a_failed_record(prepared_run: str, tmp_path: Path) -> None:
    summary_file = tmp_path / "termination-log"
    candidate = Candidate(id="c0001", algorithm="logistic_regression", params={"C": -1}).model_dump_json()
    result = trainer("train", "--run", prepared_run, "--candidate", candidate, "--summary-file", str(summary_file))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "c0001 failed" in result.stderr and "'C' parameter" in result.stderr
    assert json.loads(summary_file.read_text())["status"] == "failed"
    record = read_result(prepared_run, "c0001")
    assert record is not None and record.status == "failed" and "C" in (record.error or "")


def test_bad_arguments_get_one_clear_line(prepared_run: str) -> None:
    result = trainer("train", "--run", prepared_run, "--candidate", "{not json")
    assert result.returncode == 1
    assert result.stderr.startswith("error: --candidate is not a valid candidate")
    missing = trainer("prepare", "--job", "/nonexistent/job.yaml", "--run", prepared_run)
    assert missing.returncode == 1 and "no such manifest file" in missing.stderr


def test_the_executor_records_timeouts_and_crashes_and_leaves_no_process(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(n=3000), task="regression", validation={"method": "cv", "folds": 3})
    job = load_job(manifest)
    run = str(tmp_path / "run")
    prepare(job.spec, run)
    executor = LocalExecutor(run, n_jobs=1, run_started=time.monotonic())
    slow = Candidate(id="c0000", algorithm="random_forest", params={"n_estimators": 3000, "max_features": 1.0})
    executor.submit(slow, timeout=1.0)
    crash = Candidate(id="c0001", algorithm="random_forest", params={"n_estimators": 3000})
    executor.submit(crash, timeout=60)
    crash_pid = executor.running["c0001"].process.pid
    slow_pid = executor.running["c0000"].process.pid
    assert crash_pid is not None and slow_pid is not None
    time.sleep(0.5)
    os.kill(crash_pid, signal.SIGKILL)
    results = {}
    deadline = time.monotonic() + 30
    while len(results) < 2 and time.monotonic() < deadline:
        results.update({r.id: r for r in executor.poll()})
        time.sleep(0.05)
    assert results["c0000"].status == "timeout" and "candidateTimeout" in (results["c0000"].error or "")
    assert results["c0001"].status == "failed" and "killed by signal 9" in (results["c0001"].error or "")
    for pid in (slow_pid, crash_pid):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert read_result(run, "c0000") is not None  # every candidate ends with a record
