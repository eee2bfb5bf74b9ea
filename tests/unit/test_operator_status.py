"""Status stays small and is written only when it changes."""

from __future__ import annotations

from automl.candidate import CandidateResult
from automl.operator import status as st


def result(cid: str, score: float | None, status: str = "succeeded", fit: float = 1.0) -> CandidateResult:
    return CandidateResult(id=cid, algorithm="lightgbm", status=status, metric="roc_auc", score=score,
                           fit_seconds=fit, style="trees")  # type: ignore[arg-type]


def test_counts_and_progress() -> None:
    results = [result("c0000", 0.9), result("c0001", None, "failed"), result("c0002", None, "timeout"),
               result("c0003", None, "stopped")]
    assert st.counts(results, running=2) == {"total": 6, "running": 2, "succeeded": 1, "failed": 2}
    assert st.progress(results, 10) == "4/10"


def test_leaderboard_is_the_top_n_best_first_for_the_metric() -> None:
    results = [result(f"c{i:04d}", s) for i, s in enumerate([0.7, 0.9, 0.8, 0.95, 0.6, 0.85])]
    board = st.leaderboard(results, "roc_auc", 3)
    assert [r["id"] for r in board] == ["c0003", "c0001", "c0005"]
    assert set(board[0]) == {"id", "algorithm", "featurization", "score", "fitSeconds"}
    losses = [result("c0000", 3.0), result("c0001", 1.0)]
    for r in losses:
        r.metric = "rmse"
    assert st.leaderboard(losses, "rmse", 5)[0]["id"] == "c0001"


def test_status_of_thousands_of_candidates_stays_small() -> None:
    import json

    results = [result(f"c{i:04d}", i / 5000) for i in range(5000)]
    status = {"candidates": st.counts(results, 0), "leaderboard": st.leaderboard(results, "roc_auc", 5),
              "best": st.best_candidate(results, "roc_auc")}
    assert len(json.dumps(status)) < 2000


def test_conditions_keep_their_transition_time_until_they_flip() -> None:
    first = st.conditions("Training", "Training", "searching", None, timestamp="T1")
    assert {c["type"]: c["status"] for c in first} == {"Ready": "False", "Training": "True", "Failed": "False"}
    again = st.conditions("Finalizing", "Finalizing", "refit", first, timestamp="T2")
    assert all(c["lastTransitionTime"] == "T1" for c in again)
    done = st.conditions("Succeeded", "Succeeded", "serving", again, timestamp="T3")
    times = {c["type"]: c["lastTransitionTime"] for c in done}
    assert times == {"Ready": "T3", "Training": "T3", "Failed": "T1"}


def test_changes_are_only_what_differs() -> None:
    current = {"phase": "Training", "progress": "1/5", "kopf": {"x": 1}}
    assert st.changes(current, {"phase": "Training", "progress": "1/5"}) == {}
    assert st.changes(current, {"phase": "Training", "progress": "2/5"}) == {"progress": "2/5"}
    assert st.changes({"phase": "Training", "endpoint": "x"}, {"phase": "Failed"}) == {"phase": "Failed", "endpoint": None}
