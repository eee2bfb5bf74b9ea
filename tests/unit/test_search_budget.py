"""Budget discipline of a whole run: limits.timeout (plus a small overhead) and exitScore."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from automl.guardrails import check_all
from automl.runner import run_job
from automl.spec import load_job
from tests.conftest import classification_frame

# What a run may take beyond limits.timeout on a busy two-core machine (measured: 0-2.5 s).
OVERHEAD_SECONDS = 4.0


@pytest.mark.slow
def test_a_run_ends_within_its_timeout_plus_a_small_overhead(make_job: Callable[..., Path], tmp_path: Path) -> None:
    manifest = make_job(
        classification_frame(n=3000),
        search={"maxCandidates": 1000, "maxParallel": 2, "strategy": "auto"},
        limits={"timeout": "15s", "candidateTimeout": "15s"},
    )
    result = run_job(load_job(manifest), output=str(tmp_path / "run"), overwrite=True, guardrails=check_all)
    assert result.status == "succeeded"
    assert result.stop_reason == "limits.timeout (15s) reached"
    assert result.timings["total_seconds"] <= 15 + OVERHEAD_SECONDS
    assert result.timings["overrun_seconds"] == pytest.approx(max(0.0, result.timings["total_seconds"] - 15), abs=0.01)
    assert result.report is not None and Path(result.report).exists()


@pytest.mark.slow
def test_exit_score_ends_the_search_early(make_job: Callable[..., Path], tmp_path: Path) -> None:
    manifest = make_job(
        classification_frame(n=300),
        search={"maxCandidates": 1000, "maxParallel": 1, "strategy": "auto"},
        limits={"timeout": "120s", "candidateTimeout": "60s", "exitScore": 0.6},
    )
    result = run_job(load_job(manifest), output=str(tmp_path / "run"), overwrite=True, guardrails=check_all)
    assert result.stop_reason.startswith("exitScore 0.6 reached by c0000")
    assert result.candidates["total"] == 1
