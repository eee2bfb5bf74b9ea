"""report.html: rendered for a real classification and a real regression run, offline-readable,
with the figures a person looks for."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from automl.guardrails import check_all
from automl.runner import run_job
from automl.spec import load_job
from tests.conftest import classification_frame, regression_frame

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def figures(page: str) -> dict[str, bytes]:
    """figure id -> the embedded PNG's bytes."""
    found = re.findall(r'<figure id="([a-z-]+)"><img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page)
    return {fid: base64.b64decode(data) for fid, data in found}


def run(make_job: Callable[..., Path], tmp_path: Path, frame, task: str, algorithms: list[str]):  # type: ignore[no-untyped-def]
    manifest = make_job(
        frame, task=task,
        search={"maxCandidates": 3, "maxParallel": 1, "strategy": "portfolio", "allowedAlgorithms": algorithms},
        validation={"method": "cv", "folds": 3},
    )
    result = run_job(load_job(manifest), output=str(tmp_path / "run"), overwrite=True, guardrails=check_all)
    assert result.status == "succeeded"
    assert result.report is not None and Path(result.report) == tmp_path / "run" / "report.html"
    return result, Path(result.report).read_text()


@pytest.mark.slow
def test_a_classification_report_has_leaderboard_search_confusion_roc_pr_and_importance(
    make_job: Callable[..., Path], tmp_path: Path
) -> None:
    result, page = run(make_job, tmp_path, classification_frame(n=240, classes=3), "classification",
                       ["logistic_regression", "knn", "lightgbm"])
    found = figures(page)
    assert {"score-vs-time", "confusion-matrix", "roc-curve", "pr-curve", "permutation-importance"} <= set(found)
    assert all(png.startswith(PNG_MAGIC) and len(png) > 2000 for png in found.values())
    assert "<h2>Leaderboard</h2>" in page and "<h2>Data guardrails</h2>" in page
    for row in result.leaderboard:
        assert row["id"] in page
    assert "x1" in page  # a column in the importance table
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing to fetch


@pytest.mark.slow
def test_a_regression_report_has_predicted_vs_actual_residuals_and_importance(
    make_job: Callable[..., Path], tmp_path: Path
) -> None:
    _, page = run(make_job, tmp_path, regression_frame(n=240), "regression", ["ridge", "knn", "lightgbm"])
    found = figures(page)
    assert {"score-vs-time", "predicted-vs-actual", "residuals", "permutation-importance"} <= set(found)
    assert "confusion-matrix" not in found
    assert all(png.startswith(PNG_MAGIC) for png in found.values())
