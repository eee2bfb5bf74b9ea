"""The reconciler's decisions, against a fake API server and an in-memory run store.

The cluster tests show the same behaviour for real; these pin down the rules quickly:
restart without duplicates, the per-job and global caps, live edits of limits, stopping at
exitScore, and status written only when it changes.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from automl.candidate import Candidate, CandidateResult
from automl.operator import manifests as m
from automl.operator.reconcile import Context, JobReconciler, Slots
from automl.operator.settings import Settings
from automl.prepare import PLAN_FILE, prepare
from automl.search import SearchStrategy
from automl.spec import parse_job

ROOT = Path(__file__).resolve().parents[2]
TRAIN = str(ROOT / "examples" / "data" / "breast_cancer_train.csv")


class FakeKube:
    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.created: list[str] = []
        self.deleted: list[str] = []
        self.status_patches: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.deployments: dict[str, dict[str, Any]] = {}

    def create(self, manifest: dict[str, Any]) -> bool:
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        if manifest["kind"] == "Deployment":
            self.deployments.setdefault(key[1], copy.deepcopy(manifest))
            return True
        if manifest["kind"] != "Job":
            return True
        if key in self.jobs:
            return False
        self.jobs[key] = copy.deepcopy(manifest)
        self.created.append(key[1])
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        if self.jobs.pop((namespace, name), None) is not None:
            self.deleted.append(name)

    def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        wanted = dict(part.split("=") for part in label_selector.split(","))
        return [copy.deepcopy(j) for (ns, _), j in self.jobs.items()
                if ns == namespace and all(j["metadata"]["labels"].get(k) == v for k, v in wanted.items())]

    def finish(self, name: str, ok: bool = True, namespace: str = "ns") -> None:
        kind = "Complete" if ok else "Failed"
        self.jobs[(namespace, name)]["status"] = {"conditions": [{"type": kind, "status": "True", "reason": "X"}]}

    def termination(self, namespace: str, job_name: str) -> dict[str, Any] | None:
        return {"exitCode": 1, "message": json.dumps({"status": "failed", "error": "boom"})}

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        return {}

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.deployments.get(name)

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.deployments[name]["spec"].update(patch["spec"])

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.status_patches.append(patch)
        status = self.bodies[(namespace, name)].setdefault("status", {})
        for key, value in patch.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = value

    def event(self, owner: dict[str, Any], kind: str, reason: str, message: str) -> None:
        self.events.append((kind, reason, message))


class MemoryStore:
    def __init__(self, run_uri: str) -> None:
        self.run_uri = run_uri
        self.objects: dict[str, str] = {}

    def uri(self, *parts: str) -> str:
        return "/".join([self.run_uri, *parts])

    def read_text(self, *parts: str) -> str | None:
        return self.objects.get("/".join(parts))

    def write_text(self, text: str, *parts: str) -> None:
        self.objects["/".join(parts)] = text


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> str:
    run = tmp_path_factory.mktemp("run")
    prepare(make_body()["spec_model"].spec, str(run))
    return (run / PLAN_FILE).read_text()


def make_body(name: str = "job", **search: Any) -> dict[str, Any]:
    spec = {"task": "classification", "data": {"train": TRAIN, "label": "diagnosis"},
            "search": {"maxCandidates": 5, "maxParallel": 2, **search},
            "limits": {"timeout": "1h", "exitScore": None}, "output": f"s3://runs/{name}"}
    spec["limits"] = {"timeout": "1h"}
    body = {"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1,
                         "creationTimestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": spec}
    body["spec_model"] = parse_job({k: v for k, v in body.items() if k != "spec_model"})
    return body


class Harness:
    def __init__(self, plan_json: str, cap: int = 0) -> None:
        self.kube = FakeKube()
        self.stores: dict[str, MemoryStore] = {}
        self.ctx = Context(kube=self.kube, settings=Settings(poll_seconds=0.01), slots=Slots(cap))  # type: ignore[arg-type]
        self.plan_json = plan_json

    def reconciler(self, body: dict[str, Any]) -> JobReconciler:
        body.pop("spec_model", None)
        self.kube.bodies[("ns", body["metadata"]["name"])] = body
        rec = JobReconciler(body, self.ctx)
        store = self.stores.setdefault(body["metadata"]["name"], MemoryStore(body["spec"]["output"]))
        rec.store = store  # type: ignore[assignment]
        return rec

    def prepared(self, rec: JobReconciler) -> None:
        rec.step()  # Pending -> Preparing
        self.stores[rec.name].write_text(self.plan_json, PLAN_FILE)
        self.kube.finish(m.prepare_name(rec.name))
        rec.step()  # Preparing -> Training, first candidates

    def succeed(self, rec: JobReconciler, cid: str, score: float) -> None:
        job = self.kube.jobs[("ns", m.candidate_name(rec.name, cid))]
        candidate = Candidate.model_validate_json(job["metadata"]["annotations"][m.ANNOTATION_CANDIDATE])
        result = CandidateResult(id=cid, algorithm=candidate.algorithm, params=candidate.params,
                                 status="succeeded", metric="roc_auc", score=score)
        self.stores[rec.name].write_text(result.model_dump_json(), "candidates", cid, "result.json")
        self.kube.finish(m.candidate_name(rec.name, cid))


def candidate_names(kube: FakeKube, job: str = "job") -> list[str]:
    return [n for n in kube.created if n.startswith(f"{job}-c")]


def test_at_most_max_parallel_candidates_run(plan_json: str) -> None:
    h = Harness(plan_json)
    rec = h.reconciler(make_body())
    h.prepared(rec)
    assert rec.phase == "Training"
    assert candidate_names(h.kube) == ["job-c0000", "job-c0001"]
    rec.step()
    assert candidate_names(h.kube) == ["job-c0000", "job-c0001"]
    h.succeed(rec, "c0000", 0.9)
    rec.step()
    assert candidate_names(h.kube) == ["job-c0000", "job-c0001", "job-c0002"]


def test_a_restarted_operator_continues_the_same_search_without_duplicates(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    first = h.reconciler(body)
    h.prepared(first)
    h.succeed(first, "c0000", 0.9)
    # the operator dies here; a new one starts from the resource and the cluster
    second = h.reconciler(body)
    assert second.phase == "Training"
    second.step()
    assert candidate_names(h.kube) == ["job-c0000", "job-c0001", "job-c0002"]
    expected = SearchStrategy(parse_job({k: v for k, v in make_body().items() if k != "spec_model"}).spec,
                              first.plan)  # type: ignore[arg-type]
    proposals = [expected.ask() for _ in range(3)]
    stored = h.kube.jobs[("ns", "job-c0002")]["metadata"]["annotations"][m.ANNOTATION_CANDIDATE]
    assert Candidate.model_validate_json(stored) == proposals[2]
    for cid in ("c0001", "c0002"):
        h.succeed(second, cid, 0.8)
    second.step()
    h.succeed(second, "c0003", 0.7)
    h.succeed(second, "c0004", 0.7)
    second.step()
    second.step()
    assert len(candidate_names(h.kube)) == len(set(candidate_names(h.kube))) == 5
    assert second.phase == "Finalizing"


def test_the_global_cap_holds_across_jobs(plan_json: str) -> None:
    h = Harness(plan_json, cap=3)
    a, b = h.reconciler(make_body("a")), h.reconciler(make_body("b"))
    h.prepared(a)
    h.prepared(b)
    assert len(candidate_names(h.kube, "a")) + len(candidate_names(h.kube, "b")) == 3
    h.succeed(a, "c0000", 0.9)
    a.step()
    b.step()
    running = [n for n in h.kube.created if "-c" in n and "status" not in h.kube.jobs[("ns", n)]]
    assert len(running) == 3


def test_max_parallel_can_be_raised_on_a_running_job(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body(maxParallel=1)
    rec = h.reconciler(body)
    h.prepared(rec)
    assert len(candidate_names(h.kube)) == 1
    body["spec"]["search"]["maxParallel"] = 3  # kopf's body is a live view of the resource
    rec.step()
    assert len(candidate_names(h.kube)) == 3


def test_exit_score_ends_the_search_and_stops_running_candidates_at_once(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    body["spec"]["limits"]["exitScore"] = 0.95
    rec = h.reconciler(body)
    h.prepared(rec)
    h.succeed(rec, "c0000", 0.99)
    rec.step()
    assert h.kube.deleted == ["job-c0001"]
    assert rec.phase == "Finalizing"
    stopped = CandidateResult.model_validate_json(h.stores["job"].read_text("candidates", "c0001", "result.json") or "")
    assert stopped.status == "stopped" and "exitScore" in (stopped.error or "")
    assert "exitScore 0.95 reached by c0000" in body["status"]["stopReason"]


def test_failed_candidates_are_reported_and_too_many_fail_the_job(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    body["spec"]["limits"]["maxFailedCandidates"] = 1
    rec = h.reconciler(body)
    h.prepared(rec)
    h.kube.finish("job-c0000", ok=False)
    rec.step()
    assert ("Warning", "CandidateFailed", "c0000 (lightgbm) failed: boom") in h.kube.events
    assert rec.phase == "Training"
    h.kube.finish("job-c0001", ok=False)
    h.kube.finish("job-c0002", ok=False)
    rec.step()
    assert rec.phase == "Failed"
    assert body["status"]["reason"] == "TooManyFailedCandidates"
    assert "first error: c0000 (lightgbm): boom" in body["status"]["message"]


def test_status_is_written_only_when_it_changes(plan_json: str) -> None:
    h = Harness(plan_json)
    rec = h.reconciler(make_body())
    h.prepared(rec)
    before = len(h.kube.status_patches)
    rec.step()
    rec.step()
    assert len(h.kube.status_patches) == before
    h.succeed(rec, "c0000", 0.9)
    rec.step()
    assert len(h.kube.status_patches) == before + 1
    assert set(h.kube.status_patches[-1]) <= {"candidates", "progress", "leaderboard", "best"}


def test_a_job_without_output_fails_with_an_actionable_message(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    del body["spec"]["output"]
    rec = JobReconciler(body, h.ctx)
    h.kube.bodies[("ns", "job")] = body
    assert rec.step() is None
    assert rec.phase == "Failed"
    assert "spec.output is required" in body["status"]["message"]


def test_the_timeout_ends_the_search_and_fails_a_job_without_a_model(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    body["spec"]["limits"]["timeout"] = "10m"
    rec = h.reconciler(body)
    h.prepared(rec)
    assert candidate_names(h.kube) == ["job-c0000", "job-c0001"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)
    body["metadata"]["creationTimestamp"] = past.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert rec.step() is None
    assert sorted(h.kube.deleted) == ["job-c0000", "job-c0001"]
    assert rec.phase == "Failed" and body["status"]["reason"] == "Timeout"
    assert "limits.timeout (10m) reached before any candidate succeeded" in body["status"]["message"]
    assert ("Warning", "Timeout", body["status"]["message"]) in h.kube.events


def test_a_failed_prepare_names_the_problem(plan_json: str) -> None:
    h = Harness(plan_json)
    body = make_body()
    rec = h.reconciler(body)
    rec.step()
    h.kube.finish(m.prepare_name("job"), ok=False)
    assert rec.step() is None
    assert body["status"]["phase"] == "Failed"
    assert body["status"]["message"] == "preparing the data failed: boom"
    assert {c["type"]: c["status"] for c in body["status"]["conditions"]}["Failed"] == "True"
