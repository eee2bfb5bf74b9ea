"""`automl run` and `automl predict` as a user runs them: real processes, real files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PYTHON, classification_frame, regression_frame


def automl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "automl.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_a_classification_run_writes_model_leaderboard_result_and_predicts(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frame = classification_frame(n=400, classes=3)
    train, test = frame.iloc[:300], frame.iloc[300:]
    test.to_csv(tmp_path / "test.csv", index=False)
    manifest = make_job(train, data={"test": str(tmp_path / "test.csv")}, search={"maxCandidates": 4, "maxParallel": 2})
    run = automl("run", str(manifest))
    assert run.returncode == 0, run.stderr
    assert "Leaderboard (roc_auc)" in run.stdout and "best" in run.stdout

    out = tmp_path / "run"
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "succeeded"
    assert result["candidates"]["succeeded"] == 4
    assert 0.5 < result["best"]["test_score"] <= 1.0
    assert {g["check"] for g in result["guardrails"]} >= {"missing_values", "dropped_columns", "class_imbalance"}
    leaderboard = pd.read_csv(out / "leaderboard.csv")
    assert len(leaderboard) == 4 and leaderboard["score"].is_monotonic_decreasing
    sha = (out / "model" / "model.sha256").read_text().split()[0]
    assert json.loads((out / "model" / "model.json").read_text())["sha256"] == sha

    predicted = automl("predict", str(out), str(tmp_path / "test.csv"), "-o", str(tmp_path / "pred.csv"))
    assert predicted.returncode == 0, predicted.stderr
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert list(predictions.columns) == ["prediction", "proba_class_0", "proba_class_1", "proba_class_2"]
    assert len(predictions) == 100
    assert np.allclose(predictions.filter(like="proba_").sum(axis=1), 1.0)
    assert (predictions["prediction"] == test["y"].to_numpy()).mean() > 0.6


def test_a_regression_run_reads_parquet(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(), task="regression", train_file="train.parquet", primaryMetric="rmse")
    run = automl("run", str(manifest), "--quiet")
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["metric"] == "rmse" and result["best"]["validation_score"] < 2.0


def test_a_failing_candidate_is_recorded_and_the_run_goes_on(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # 10 rows and 10-fold CV: k-NN's 10 neighbours cannot exist among 9 training rows.
    frame = regression_frame(n=10)
    manifest = make_job(frame, task="regression", primaryMetric="mae",
                        search={"allowedAlgorithms": ["ridge", "knn"], "maxCandidates": 2})
    run = automl("run", str(manifest))
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["candidates"] == {"total": 2, "succeeded": 1, "failed": 1, "stopped": 0}
    failed = [row for row in result["leaderboard"] if row["status"] == "failed"]
    assert failed[0]["algorithm"] == "knn" and "n_neighbors" in failed[0]["error"]


def test_the_run_fails_when_more_than_max_failed_candidates_fail(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(n=10), task="regression", primaryMetric="mae",
                        search={"allowedAlgorithms": ["knn", "ridge"], "maxCandidates": 2},
                        limits={"maxFailedCandidates": 0})
    run = automl("run", str(manifest))
    assert run.returncode == 3
    assert "more than limits.maxFailedCandidates (0)" in run.stderr


def test_the_run_fails_when_every_candidate_times_out(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(n=2000), task="regression",
                        search={"allowedAlgorithms": ["random_forest"], "maxCandidates": 1},
                        limits={"candidateTimeout": "200ms"})
    run = automl("run", str(manifest))
    assert run.returncode == 3
    assert "every candidate failed" in run.stderr and "candidateTimeout" in run.stderr


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


BAD_DATA = [
    ("missing file", None, "train.csv", "classification", "no such file"),
    ("unreadable file", b"PAR1\x00\x01garbage", "train.parquet", "classification", "cannot read"),
    ("label missing", "a,b,c\n1,2,3\n", "train.csv", "classification", "label column 'y' not found"),
    ("empty file", "", "train.csv", "classification", "is empty"),
    ("header only", "a,y\n", "train.csv", "classification", "has no rows"),
    ("single class", "a,y\n" + "".join(f"{i},yes\n" for i in range(20)), "train.csv", "classification", "at least two classes"),
    ("non-numeric regression label", "a,y\n" + "".join(f"{i},{'high' if i % 2 else 3}\n" for i in range(20)), "train.csv", "regression", "regression needs a numeric label"),
    ("all-NaN label", "a,y\n" + "".join(f"{i},\n" for i in range(20)), "train.csv", "classification", "has no values (all missing)"),
    ("too few rows", "a,y\n1,0\n2,1\n3,0\n", "train.csv", "classification", "only 3 rows"),
]


@pytest.mark.parametrize(("case", "content", "filename", "task", "message"), BAD_DATA, ids=[c[0] for c in BAD_DATA])
def test_bad_data_gets_one_clear_line_and_leaves_a_previous_run_intact(
    make_job, tmp_path: Path, case: str, content: str | bytes | None, filename: str, task: str, message: str  # type: ignore[no-untyped-def]
) -> None:
    previous = tmp_path / "run" / "model"
    previous.mkdir(parents=True)
    _write(previous / "model.pkl", b"the previous model")
    _write(tmp_path / "run" / "result.json", "{}")
    manifest = make_job(None, task=task, train_file=filename)
    if content is not None:
        _write(tmp_path / filename, content)
    run = automl("run", str(manifest), "--overwrite")
    assert run.returncode == 2, run.stdout + run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error: ") and message in run.stderr
    assert (previous / "model.pkl").read_bytes() == b"the previous model"


def test_a_spec_field_of_the_wrong_type_is_named(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(), task="regression", search={"maxParallel": "two"})
    run = automl("run", str(manifest))
    assert run.returncode == 2
    assert "spec.search.maxParallel: Input should be a valid integer" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_an_existing_run_is_not_overwritten_by_accident(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text("{}")
    run = automl("run", str(make_job(regression_frame(), task="regression")))
    assert run.returncode == 2 and "already holds a run" in run.stderr
    assert (tmp_path / "run" / "result.json").read_text() == "{}"


def test_predict_refuses_a_model_whose_checksum_does_not_match(make_job, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = make_job(regression_frame(), task="regression", search={"maxCandidates": 1})
    assert automl("run", str(manifest)).returncode == 0
    regression_frame().to_csv(tmp_path / "rows.csv", index=False)
    run = automl("predict", str(tmp_path / "run"), str(tmp_path / "rows.csv"), "--sha256", "0" * 64)
    assert run.returncode == 2 and "refusing to load" in run.stderr
