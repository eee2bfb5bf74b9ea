"""Pure functions from what the operator observed to the AutoMLJob's status.

Status stays small whatever the number of candidates: counts, the top of the leaderboard,
the best candidate, guardrail findings and three conditions. The full leaderboard and every
result stay in storage (``<output>/candidates/*/result.json``), so thousands of candidates
never approach etcd's object size limit. :func:`changes` returns only what differs, so the
operator writes status only when it changes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from automl import metrics
from automl.candidate import CandidateResult

PHASES = ("Pending", "Preparing", "Training", "Finalizing", "Deploying", "Succeeded", "Failed")
ACTIVE_PHASES = ("Pending", "Preparing", "Training", "Finalizing", "Deploying")
TERMINAL_PHASES = ("Succeeded", "Failed")
FAILED_STATUSES = ("failed", "timeout")


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def counts(results: list[CandidateResult], running: int) -> dict[str, int]:
    return {
        "total": len(results) + running,
        "running": running,
        "succeeded": sum(r.ok for r in results),
        "failed": sum(r.status in FAILED_STATUSES for r in results),
    }


def progress(results: list[CandidateResult], max_candidates: int) -> str:
    return f"{len(results)}/{max_candidates}"


def ranked(results: list[CandidateResult], metric_name: str) -> list[CandidateResult]:
    metric = metrics.get(metric_name)
    ok = [r for r in results if r.ok]
    return sorted(ok, key=lambda r: (metric.loss(r.score or 0.0), r.fit_seconds, r.id))


def leaderboard(results: list[CandidateResult], metric_name: str, size: int) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "algorithm": r.algorithm,
            "featurization": r.style,
            "score": round(float(r.score or 0.0), 6),
            "fitSeconds": round(r.fit_seconds, 3),
        }
        for r in ranked(results, metric_name)[:size]
    ]


def best_candidate(results: list[CandidateResult], metric_name: str) -> dict[str, Any] | None:
    top = ranked(results, metric_name)
    if not top:
        return None
    return {"id": top[0].id, "algorithm": top[0].algorithm, "score": round(float(top[0].score or 0.0), 6)}


def best_model(summary: dict[str, Any]) -> dict[str, Any]:
    """``status.best`` once the final model exists (from the finalize step's summary)."""
    out = {
        "algorithm": summary.get("algorithm"),
        "score": summary.get("score"),
        "testScore": summary.get("testScore"),
        "modelUri": summary.get("modelUri"),
        "sha256": summary.get("sha256"),
    }
    return {k: v for k, v in out.items() if v is not None}


def guardrails(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"check": g.get("check"), "result": g.get("result"), "detail": str(g.get("detail", ""))[:300]}
        for g in findings
    ]


def conditions(phase: str, reason: str, message: str, previous: list[dict[str, Any]] | None,
               timestamp: str | None = None) -> list[dict[str, Any]]:
    """Ready, Training and Failed; a condition's lastTransitionTime moves only when it flips."""
    stamp = timestamp or now()
    old = {c.get("type"): c for c in previous or []}
    wanted = {
        "Ready": phase == "Succeeded",
        "Training": phase in ACTIVE_PHASES,
        "Failed": phase == "Failed",
    }
    out = []
    for kind, true in wanted.items():
        status = "True" if true else "False"
        before = old.get(kind, {})
        since = before.get("lastTransitionTime") if before.get("status") == status else None
        out.append({
            "type": kind,
            "status": status,
            "reason": reason or phase,
            "message": message[:1000],
            "lastTransitionTime": since or stamp,
        })
    return out


def changes(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """A merge patch turning ``current`` into ``desired`` at the top level (None deletes)."""
    patch = {k: v for k, v in desired.items() if current.get(k) != v}
    for key in current:
        if key not in desired and key in MANAGED_KEYS:
            patch[key] = None
    return patch


MANAGED_KEYS = (
    "phase", "reason", "message", "observedGeneration", "startedAt", "completedAt", "candidates",
    "progress", "leaderboard", "best", "guardrails", "conditions", "endpoint", "stopReason",
    "runUri", "validation",
)
