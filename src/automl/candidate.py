"""A candidate (what to train) and its result (what came of it): the trainer's input and output.

Both cross process and pod boundaries as JSON: the candidate as a command-line argument, the
result as ``candidates/<id>/result.json`` in storage and, shortened, as the pod's
termination message (Kubernetes keeps at most 4 KiB of it).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from automl import storage
from automl.featurize import Style

Status = Literal["succeeded", "failed", "timeout", "stopped"]
SUMMARY_LIMIT = 4000  # bytes; the kubelet truncates termination messages at 4096


class Candidate(BaseModel):
    id: str = Field(pattern=r"^c[0-9]{4,}$")
    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    style: Style | None = Field(default=None, description="featurization style (default: the algorithm's)")
    sample_rows: int | None = Field(default=None, ge=10, description="train on a subsample of this many rows")
    source: str = "portfolio"


class CandidateResult(BaseModel):
    id: str
    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    style: str | None = None
    source: str = "portfolio"
    sample_rows: int | None = None
    status: Status
    error: str | None = None
    metric: str
    score: float | None = None
    fold_scores: list[float] = Field(default_factory=list)
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    total_seconds: float = 0.0
    started_at: float | None = None  # seconds since the run started
    finished_at: float | None = None
    oof_uri: str | None = None
    model_uri: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and self.score is not None

    def summary(self) -> str:
        """The short JSON a pod leaves as its termination message."""
        keep = self.model_dump(include={"id", "algorithm", "status", "score", "fit_seconds", "total_seconds", "error"})
        if keep.get("error") and len(keep["error"]) > 1000:
            keep["error"] = keep["error"][:1000] + "..."
        return json.dumps(keep)[:SUMMARY_LIMIT]


def candidate_dir(run_uri: str, candidate_id: str) -> str:
    return storage.join(run_uri, "candidates", candidate_id)


def result_uri(run_uri: str, candidate_id: str) -> str:
    return storage.join(candidate_dir(run_uri, candidate_id), "result.json")


def read_result(run_uri: str, candidate_id: str) -> CandidateResult | None:
    uri = result_uri(run_uri, candidate_id)
    if not storage.exists(uri):
        return None
    return CandidateResult.model_validate_json(storage.read_text(uri))


def write_result(run_uri: str, result: CandidateResult) -> None:
    storage.write_text(result_uri(run_uri, result.id), result.model_dump_json(indent=2))
