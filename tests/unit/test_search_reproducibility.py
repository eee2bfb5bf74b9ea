"""Issue 6 reproducibility: the same seed, data and ``maxParallel: 1`` give the same leaderboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from automl.guardrails import check_all
from automl.runner import run_job
from automl.spec import load_job
from tests.conftest import classification_frame


@pytest.mark.slow
def test_the_same_seed_gives_the_same_leaderboard_with_one_worker(make_job: Callable[..., Path], tmp_path: Path) -> None:
    manifest = make_job(
        classification_frame(n=200),
        search={"maxCandidates": 9, "maxParallel": 1, "strategy": "auto",
                "allowedAlgorithms": ["logistic_regression", "knn", "lightgbm"]},
        validation={"method": "cv", "folds": 3},
        limits={"timeout": "600s", "candidateTimeout": "120s"},
        seed=3,
    )

    def leaderboard(name: str) -> list[tuple[object, ...]]:
        result = run_job(load_job(manifest), output=str(tmp_path / name), overwrite=True, guardrails=check_all)
        assert result.stop_reason.startswith("search.maxCandidates")
        return [(r["id"], r["algorithm"], r["source"], sorted(r["params"].items()), r["score"]) for r in result.leaderboard]

    first, second = leaderboard("first"), leaderboard("second")
    assert len(first) == 9
    assert any(source == "tpe" for _, _, source, _, _ in first)  # the model-based search took part
    assert first == second
