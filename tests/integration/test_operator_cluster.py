"""The operator end to end, against the real local control plane and real MinIO.

``helm install`` creates the CRD, the ServiceAccount and its RBAC; the chart's operator
Deployment is scaled to 0 (``operator.replicas=0``) because a pod of the test cluster could
not reach the API server. The operator instead runs as a local process (``python -m
automl.operator``) with a kubeconfig holding a *bound token of the chart's ServiceAccount*
(TokenRequest API), so every call it makes is held to the chart's RBAC — impersonation
(``as:``) would not do: kopf and the Python client ignore it and would act as admin.

Jobs are tiny (a few candidates on a few hundred rows) so the file runs in a few minutes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import Cluster
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kube-automl"
RELEASE = "kube-automl"
OPERATOR_NS = "automl-system"
SERVICE_ACCOUNT = "kube-automl"  # the chart's <release>-<chart> name collapses to the release
DATA_BUCKET = "automl-data"
RUNS_BUCKET = "automl-runs"
GLOBAL_CAP = 3  # the operator's cap on running candidate Jobs across all AutoMLJobs
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable




def get_json(cluster: Cluster, *args: str) -> dict[str, Any]:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


# ---------------------------------------------------------------------------- fixtures


class OperatorProcess:
    """``python -m automl.operator`` as a local process under the chart's ServiceAccount."""

    def __init__(self, cluster: Cluster, kubeconfig: Path, log_dir: Path, scope: tuple[str, ...] = ("--all-namespaces",)) -> None:
        from tests.cluster.cluster import free_port

        self.scope = scope
        self.liveness_port = free_port()
        self.cluster = cluster
        self.kubeconfig = kubeconfig
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1",
                   AUTOML_OPERATOR_POLL_SECONDS="1", AUTOML_OPERATOR_MAX_RUNNING_CANDIDATES=str(GLOBAL_CAP),
                   AUTOML_OPERATOR_FINALIZE_MIN_SECONDS="10")
        with open(self.log_file, "wb") as out:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "automl.operator", *self.scope,
                 "--liveness", f"http://127.0.0.1:{self.liveness_port}/healthz"],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(self.log_dir), start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-6000:] for p in sorted(self.log_dir.glob("operator-*.log")))


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Iterator[str]:
    cluster.create_namespace(OPERATOR_NS)
    cluster.helm("install", RELEASE, str(CHART), "-n", OPERATOR_NS, "--set", "operator.replicas=0",
                 "--set", "maxRunningCandidates=6", "--wait", "--timeout", "60s")
    cluster.kubectl("wait", "--for=condition=Established", "crd/automljobs.automl.dev", "--timeout=60s")
    try:
        yield RELEASE
    finally:
        cluster.helm("uninstall", RELEASE, "-n", OPERATOR_NS, check=False)


@pytest.fixture(scope="module")
def data(cluster: Cluster) -> dict[str, str]:
    cluster.make_bucket(DATA_BUCKET)
    cluster.make_bucket(RUNS_BUCKET)
    s3 = cluster.s3_client()
    out = {}
    for name in ("breast_cancer_train", "breast_cancer_test", "diabetes_train", "diabetes_test"):
        key = f"examples/{name}.csv"
        s3.upload_file(str(ROOT / "examples" / "data" / f"{name}.csv"), DATA_BUCKET, key)
        out[name] = f"s3://{DATA_BUCKET}/{key}"
    return out


@pytest.fixture(scope="module")
def operator(cluster: Cluster, installed: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    kubeconfig = cluster.service_account_kubeconfig(OPERATOR_NS, SERVICE_ACCOUNT)
    op = OperatorProcess(cluster, kubeconfig, tmp_path_factory.mktemp("operator"))
    op.start()
    try:
        yield op
    finally:
        op.stop()
    # Every handler ran without an unexpected exception, across all the tests of this module.
    for log in sorted(op.log_dir.glob("operator-*.log")):
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, f"{log}:\n{text[text.index('Traceback') - 2000:][:6000]}"


@pytest.fixture
def namespace(cluster: Cluster, operator: OperatorProcess) -> Iterator[str]:
    yield from _namespace(cluster, operator)


def _namespace(cluster: Cluster, operator: OperatorProcess) -> Iterator[str]:
    name = cluster.create_namespace(f"aml-{uuid.uuid4().hex[:6]}")
    s3 = cluster.s3
    cluster.kubectl("create", "secret", "generic", "minio-credentials", "-n", name,
                    f"--from-literal=AWS_ACCESS_KEY_ID={s3.access_key}",
                    f"--from-literal=AWS_SECRET_ACCESS_KEY={s3.secret_key}",
                    f"--from-literal=AWS_ENDPOINT_URL={s3.endpoint_url}",
                    f"--from-literal=AWS_DEFAULT_REGION={s3.region}")
    try:
        yield name
    finally:
        if operator.proc is None:  # a test killed it: the finalizers need it back
            operator.start()
        cluster.kubectl("delete", "automljobs", "--all", "-n", name, "--wait=true", "--timeout=60s", check=False)
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace2(cluster: Cluster, operator: OperatorProcess) -> Iterator[str]:
    yield from _namespace(cluster, operator)


def manifest(name: str, task: str, train: str, label: str, run: str, test: str | None = None,
             **spec: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"train": train, "label": label, "credentialsSecret": "minio-credentials"}
    if test:
        data["test"] = test
    body: dict[str, Any] = {
        "task": task,
        "data": data,
        "search": {"maxCandidates": 3, "maxParallel": 2},
        "validation": {"method": "cv", "folds": 3},
        "limits": {"timeout": "5m", "candidateTimeout": "2m", "maxFailedCandidates": 3},
        "ensemble": {"enabled": True, "size": 5},
        "output": f"s3://{RUNS_BUCKET}/{run}",
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return {"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": name}, "spec": body}


def apply(cluster: Cluster, namespace: str, document: dict[str, Any], check: bool = True) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=check)


def automljob(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return get_json(cluster, "automljob", name, "-n", namespace)


def wait_phase(cluster: Cluster, operator: OperatorProcess, namespace: str, name: str,
               phases: tuple[str, ...], timeout: float = 240) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        obj = automljob(cluster, namespace, name)
        return obj if (obj.get("status") or {}).get("phase") in phases else None

    try:
        return wait_for(reached, timeout, 1.0, f"{namespace}/{name} to reach {phases}")  # type: ignore[no-any-return]
    except AssertionError:
        obj = automljob(cluster, namespace, name)
        print(json.dumps(obj.get("status"), indent=2))
        print(operator.logs())
        raise


def children(cluster: Cluster, namespace: str, name: str) -> dict[str, list[str]]:
    out = {}
    for kind in ("jobs", "pods", "deployments", "services", "replicasets"):
        items = get_json(cluster, kind, "-n", namespace)["items"]
        out[kind] = [i["metadata"]["name"] for i in items if i["metadata"]["name"].startswith(f"{name}-")]
    return out


def events(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]]:
    items = get_json(cluster, "events", "-n", namespace)["items"]
    return [e for e in items if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "AutoMLJob"]


def serving_pod_ip(cluster: Cluster, namespace: str, name: str) -> str:
    pods = get_json(cluster, "pods", "-n", namespace, "-l", f"automl.dev/job={name},automl.dev/role=predictor")
    ready = [p for p in pods["items"] if any(c["type"] == "Ready" and c["status"] == "True"
                                             for c in p["status"].get("conditions", []))]
    assert ready, "no ready serving pod"
    return str(ready[0]["status"]["podIP"])


def rows(path: Path, label: str, n: int) -> list[dict[str, Any]]:
    with open(path) as handle:
        reader = csv.DictReader(handle)
        out = []
        for record in reader:
            record.pop(label, None)
            out.append({k: float(v) if v not in ("",) else None for k, v in record.items()})
            if len(out) == n:
                return out
    return out


def automl_predict(cluster: Cluster, model_uri: str, sha256: str, data: list[dict[str, Any]], tmp: Path) -> list[dict[str, str]]:
    source = tmp / "rows.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    done = subprocess.run([str(Path(PYTHON).parent / "automl"), "predict", model_uri, str(source), "--sha256", sha256],
                          capture_output=True, text=True, env={**os.environ, **cluster.s3_env()}, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(io.StringIO(done.stdout)))


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# ---------------------------------------------------------------------------- the checks


def test_chart_lints_renders_and_ships_the_generated_crd(cluster: Cluster) -> None:
    assert (CHART / "crds" / "automljob.yaml").read_bytes() == (ROOT / "crds" / "automljob.yaml").read_bytes()
    lint = cluster.helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in lint.stdout
    rendered = list(yaml.safe_load_all(cluster.helm("template", "x", str(CHART), "-n", "ops").stdout))
    kinds = sorted(d["kind"] for d in rendered if d)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"]
    for rule in next(d for d in rendered if d and d["kind"] == "ClusterRole")["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    scoped = list(yaml.safe_load_all(cluster.helm("template", "x", str(CHART), "-n", "ops",
                                                  "--set", "watchNamespaces={a,b}").stdout))
    assert sorted(d["kind"] for d in scoped if d) == ["Deployment", "Role", "Role", "RoleBinding", "RoleBinding",
                                                     "ServiceAccount"]
    deployment = next(d for d in scoped if d and d["kind"] == "Deployment")
    assert "--namespace=a" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


def test_operator_serves_kopf_liveness_endpoint(operator: OperatorProcess) -> None:
    url = f"http://127.0.0.1:{operator.liveness_port}/healthz"

    def healthy() -> bool:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200

    wait_for(healthy, 30, 0.5, "kopf's liveness endpoint")


def test_cluster_examples_pass_the_api_servers_validation(cluster: Cluster, installed: str, namespace: str) -> None:
    for name in ("classification.yaml", "regression.yaml"):
        done = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f",
                               str(ROOT / "examples" / "cluster" / name))
        assert "created (server dry run)" in done.stdout


def test_invalid_manifest_is_rejected_at_apply_time(cluster: Cluster, installed: str, namespace: str) -> None:
    bad = manifest("bad", "classification", "s3://data/train.csv", "target", "bad", search={"maxCandidates": 2, "maxParallel": 5})
    done = apply(cluster, namespace, bad, check=False)
    assert done.returncode != 0
    assert "search.maxParallel must not exceed search.maxCandidates" in done.stderr
    wrong_metric = manifest("bad", "regression", "s3://data/train.csv", "target", "bad", primaryMetric="roc_auc")
    done = apply(cluster, namespace, wrong_metric, check=False)
    assert "primaryMetric is not a metric of this task" in done.stderr
    unknown = manifest("bad", "classification", "s3://data/train.csv", "target", "bad", search={"maxCandidates": 0})
    done = apply(cluster, namespace, unknown, check=False)
    assert "spec.search.maxCandidates" in done.stderr and "should be greater than or equal to 1" in done.stderr


def test_task_and_data_are_immutable_but_limits_can_change(cluster: Cluster, operator: OperatorProcess,
                                                           namespace: str, data: dict[str, str]) -> None:
    doc = manifest("frozen", "classification", "s3://automl-data/none.csv", "diagnosis", f"{namespace}/frozen")
    apply(cluster, namespace, doc)
    changed = json.loads(json.dumps(doc))
    changed["spec"]["data"]["label"] = "other"
    done = apply(cluster, namespace, changed, check=False)
    assert "data.train, data.test and data.label are immutable" in done.stderr
    changed = json.loads(json.dumps(doc))
    changed["spec"]["task"] = "regression"
    changed["spec"]["primaryMetric"] = "r2"
    done = apply(cluster, namespace, changed, check=False)
    assert "task is immutable" in done.stderr
    changed = json.loads(json.dumps(doc))
    changed["spec"]["search"]["maxParallel"] = 3
    changed["spec"]["limits"]["timeout"] = "9m"
    apply(cluster, namespace, changed)


def test_classification_job_trains_deploys_predicts_and_cleans_up(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str], tmp_path: Path) -> None:
    name = "breast-cancer"
    applied = time.monotonic()
    apply(cluster, namespace, manifest(name, "classification", data["breast_cancer_train"], "diagnosis",
                                       f"{namespace}/{name}", test=data["breast_cancer_test"]))
    obj = wait_phase(cluster, operator, namespace, name, ("Succeeded", "Failed"))
    status = obj["status"]
    assert status["phase"] == "Succeeded", status
    print(f"classification job Succeeded after {time.monotonic() - applied:.1f}s")
    assert status["candidates"] == {"total": 3, "running": 0, "succeeded": 3, "failed": 0}
    assert status["progress"] == "3/3"
    assert status["endpoint"] == f"http://{name}-predictor.{namespace}.svc:8080"
    assert 0.9 < status["best"]["score"] <= 1.0 and status["best"]["testScore"] > 0.9
    assert len(status["best"]["sha256"]) == 64
    assert status["best"]["modelUri"] == f"s3://{RUNS_BUCKET}/{namespace}/{name}/model"
    assert [r["id"] for r in status["leaderboard"]] and len(status["leaderboard"]) <= 5
    assert {c["type"]: c["status"] for c in status["conditions"]} == {"Ready": "True", "Training": "False", "Failed": "False"}
    assert status["guardrails"]
    reasons = [e["reason"] for e in events(cluster, namespace, name)]
    for phase in ("Preparing", "Training", "Finalizing", "Deploying", "Succeeded"):
        assert phase in reasons
    # kubectl shows the printer columns
    table = cluster.kubectl("get", "amlj", name, "-n", namespace).stdout
    assert "Succeeded" in table and "3/3" in table
    # no credential ever lands in the resource or its events
    everything = json.dumps(obj) + json.dumps(events(cluster, namespace, name)) + operator.logs()
    assert cluster.s3.secret_key not in everything

    # the serving pod answers like `automl predict` on the same rows
    sample = rows(ROOT / "examples" / "data" / "breast_cancer_test.csv", "diagnosis", 8)
    answer = post_json(f"http://{serving_pod_ip(cluster, namespace, name)}:8080/predict", sample)
    expected = automl_predict(cluster, status["best"]["modelUri"], status["best"]["sha256"], sample, tmp_path)
    assert [str(p) for p in answer["predictions"]] == [r["prediction"] for r in expected]
    for got, want in zip(answer["probabilities"], expected, strict=True):
        assert got == pytest.approx([float(want[f"proba_{c}"]) for c in answer["classes"]], abs=1e-9)

    # the pods ran with the hardened security context and referenced, not copied, credentials
    job = get_json(cluster, "job", f"{name}-c0000", "-n", namespace)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert all("valueFrom" in e for e in container["env"] if e["name"].startswith("AWS_"))

    cluster.kubectl("delete", "automljob", name, "-n", namespace, "--timeout=60s")
    wait_for(lambda: not any(children(cluster, namespace, name).values()), 60, 1.0, "every child to be gone")


def test_two_regression_jobs_in_two_namespaces_at_once(
        cluster: Cluster, operator: OperatorProcess, namespace: str, namespace2: str, data: dict[str, str]) -> None:
    for ns in (namespace, namespace2):
        apply(cluster, ns, manifest("diabetes", "regression", data["diabetes_train"], "progression",
                                    f"{ns}/diabetes", test=data["diabetes_test"]))
    for ns in (namespace, namespace2):
        status = wait_phase(cluster, operator, ns, "diabetes", ("Succeeded", "Failed"))["status"]
        assert status["phase"] == "Succeeded", status
        assert status["candidates"]["succeeded"] == 3
        assert status["best"]["modelUri"] == f"s3://{RUNS_BUCKET}/{ns}/diabetes/model"
        answer = post_json(f"http://{serving_pod_ip(cluster, ns, 'diabetes')}:8080/predict",
                           rows(ROOT / "examples" / "data" / "diabetes_test.csv", "progression", 3))
        assert len(answer["predictions"]) == 3 and all(isinstance(p, float) for p in answer["predictions"])


def test_wrong_data_path_fails_with_a_message_naming_it(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    missing = f"s3://{DATA_BUCKET}/examples/no-such-file.csv"
    apply(cluster, namespace, manifest("wrong-path", "classification", missing, "diagnosis", f"{namespace}/wrong-path"))
    status = wait_phase(cluster, operator, namespace, "wrong-path", ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Failed"
    assert missing in status["message"] and "no such object" in status["message"]
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["status"] == "True" and failed["reason"] == "DataError"
    assert any(e["reason"] == "DataError" and e["type"] == "Warning" for e in events(cluster, namespace, "wrong-path"))


def test_missing_label_column_fails_with_a_message_naming_it(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    apply(cluster, namespace, manifest("no-label", "classification", data["breast_cancer_train"], "churned",
                                       f"{namespace}/no-label"))
    status = wait_phase(cluster, operator, namespace, "no-label", ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Failed"
    assert "churned" in status["message"], status["message"]


def _kill_candidate_pod(cluster: Cluster, namespace: str, pod_prefix: str, timeout: float = 60) -> None:
    """SIGKILL the trainer process of a candidate pod as soon as it starts: a real crash."""
    assert cluster.workdir is not None

    def pgid_file() -> Path | None:
        for folder in (cluster.workdir / "pods").glob(f"{namespace}_{pod_prefix}-*"):  # type: ignore[operator]
            path = folder / "trainer.pgid"
            if path.exists() and path.read_text().strip():
                return path
        return None

    path = wait_for(pgid_file, timeout, 0.02, f"pod {pod_prefix} to start")
    os.killpg(int(path.read_text().split()[0]), signal.SIGKILL)


def test_crashing_candidate_is_recorded_as_failed_and_the_job_succeeds(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    if not cluster.local:
        pytest.skip("kills a pod's process through the local node agent")
    name = "crash"
    apply(cluster, namespace, manifest(name, "classification", data["breast_cancer_train"], "diagnosis",
                                       f"{namespace}/{name}", search={"maxCandidates": 3, "maxParallel": 1},
                                       serving={"enabled": False}))
    _kill_candidate_pod(cluster, namespace, f"{name}-c0001")
    status = wait_phase(cluster, operator, namespace, name, ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Succeeded", status
    assert status["candidates"] == {"total": 3, "running": 0, "succeeded": 2, "failed": 1}
    warnings = [e for e in events(cluster, namespace, name) if e["reason"] == "CandidateFailed"]
    assert len(warnings) == 1 and "c0001" in warnings[0]["message"]
    result = json.loads(cluster.s3_client().get_object(
        Bucket=RUNS_BUCKET, Key=f"{namespace}/{name}/candidates/c0001/result.json")["Body"].read())
    assert result["status"] == "failed" and "137" in result["error"]


def test_exceeding_max_failed_candidates_fails_the_job(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    name = "too-many-failures"
    # A one-second candidate budget cannot even start Python with scikit-learn: every one times out.
    apply(cluster, namespace, manifest(name, "classification", data["breast_cancer_train"], "diagnosis",
                                       f"{namespace}/{name}", search={"maxCandidates": 6, "maxParallel": 2},
                                       limits={"candidateTimeout": "1s", "maxFailedCandidates": 1}))
    status = wait_phase(cluster, operator, namespace, name, ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Failed"
    assert "more than limits.maxFailedCandidates (1)" in status["message"], status["message"]
    assert next(c for c in status["conditions"] if c["type"] == "Failed")["reason"] == "TooManyFailedCandidates"
    assert status["candidates"]["failed"] >= 2 and status["candidates"]["running"] == 0
    # nothing of the search is left running
    wait_for(lambda: not [j for j in get_json(cluster, "jobs", "-n", namespace, "-l",
                                              f"automl.dev/job={name},automl.dev/role=candidate")["items"]
                          if not (j.get("status") or {}).get("conditions")], 30, 1.0, "no running candidate Job")


def test_operator_killed_mid_search_resumes_without_duplicates(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    from kubernetes import client, watch

    name = "restart"
    created: set[str] = set()
    stop = threading.Event()

    def record() -> None:
        with cluster.api_client() as api:
            batch = client.BatchV1Api(api)
            while not stop.is_set():
                w = watch.Watch()
                for event in w.stream(batch.list_namespaced_job, namespace, timeout_seconds=5,
                                      label_selector=f"automl.dev/job={name},automl.dev/role=candidate"):
                    if event["type"] == "ADDED":
                        created.add(event["object"].metadata.uid)
                    if stop.is_set():
                        w.stop()

    watcher = threading.Thread(target=record, daemon=True)
    watcher.start()
    apply(cluster, namespace, manifest(name, "classification", data["breast_cancer_train"], "diagnosis",
                                       f"{namespace}/{name}", search={"maxCandidates": 5, "maxParallel": 2},
                                       serving={"enabled": False}))

    def candidates_running() -> bool:
        jobs = get_json(cluster, "jobs", "-n", namespace, "-l", f"automl.dev/job={name},automl.dev/role=candidate")
        return any(not (j.get("status") or {}).get("conditions") for j in jobs["items"])

    wait_for(candidates_running, 120, 0.2, "a running candidate Job")
    operator.kill()
    time.sleep(3)  # candidates keep running (and may finish) while no operator watches
    operator.start()
    status = wait_phase(cluster, operator, namespace, name, ("Succeeded", "Failed"))["status"]
    stop.set()
    watcher.join(timeout=15)
    assert status["phase"] == "Succeeded", status
    assert status["candidates"]["total"] == 5 and status["candidates"]["succeeded"] == 5
    jobs = get_json(cluster, "jobs", "-n", namespace, "-l", f"automl.dev/job={name},automl.dev/role=candidate")
    assert sorted(j["metadata"]["name"] for j in jobs["items"]) == [f"{name}-c{i:04d}" for i in range(5)]
    assert len(created) == 5, f"{len(created)} candidate Jobs were created for 5 candidates"
    assert f"{namespace}/{name}: resumed the search" in operator.log_file.read_text()
    keys = cluster.s3_client().list_objects_v2(Bucket=RUNS_BUCKET, Prefix=f"{namespace}/{name}/candidates/")
    assert len([k for k in keys.get("Contents", []) if k["Key"].endswith("/result.json")]) == 5


def test_exit_score_ends_the_search_and_stops_running_candidates(
        cluster: Cluster, operator: OperatorProcess, namespace: str, data: dict[str, str]) -> None:
    name = "exit-score"
    apply(cluster, namespace, manifest(name, "classification", data["breast_cancer_train"], "diagnosis",
                                       f"{namespace}/{name}", search={"maxCandidates": 8, "maxParallel": 3},
                                       limits={"exitScore": 0.5}, serving={"enabled": False}))
    status = wait_phase(cluster, operator, namespace, name, ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Succeeded", status
    assert "limits.exitScore 0.5 reached by" in status["stopReason"]
    assert status["candidates"]["total"] < 8
    s3 = cluster.s3_client()
    jobs = {j["metadata"]["name"]: j for j in get_json(
        cluster, "jobs", "-n", namespace, "-l", f"automl.dev/job={name},automl.dev/role=candidate")["items"]}
    for i in range(status["candidates"]["total"]):
        cid = f"c{i:04d}"
        result = json.loads(s3.get_object(Bucket=RUNS_BUCKET, Key=f"{namespace}/{name}/candidates/{cid}/result.json")["Body"].read())
        if result["status"] == "stopped":  # it was still running: its Job (and pod) were deleted at once
            assert f"{name}-{cid}" not in jobs
        else:
            assert result["status"] == "succeeded"

    def nothing_runs() -> bool:
        pods = get_json(cluster, "pods", "-n", namespace, "-l", f"automl.dev/job={name},automl.dev/role=candidate")
        return all(p["status"].get("phase") in ("Succeeded", "Failed") for p in pods["items"])

    wait_for(nothing_runs, 30, 0.5, "no candidate pod left running")


def test_global_cap_limits_running_candidates_across_jobs(
        cluster: Cluster, operator: OperatorProcess, namespace: str, namespace2: str, data: dict[str, str]) -> None:
    from kubernetes import client

    names = {namespace: "cap-a", namespace2: "cap-b"}
    peak = 0
    stop = threading.Event()

    def observe() -> None:
        nonlocal peak
        with cluster.api_client() as api:
            batch = client.BatchV1Api(api)
            while not stop.is_set():
                jobs = batch.list_job_for_all_namespaces(label_selector="automl.dev/role=candidate").items
                running = [j for j in jobs if names.get(j.metadata.namespace) == j.metadata.labels.get("automl.dev/job")
                           and not (j.status and j.status.conditions)]
                peak = max(peak, len(running))
                time.sleep(0.2)

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    for ns, name in names.items():
        apply(cluster, ns, manifest(name, "classification", data["breast_cancer_train"], "diagnosis", f"{ns}/{name}",
                                    search={"maxCandidates": 3, "maxParallel": 2}, serving={"enabled": False}))
    try:
        for ns, name in names.items():
            status = wait_phase(cluster, operator, ns, name, ("Succeeded", "Failed"))["status"]
            assert status["phase"] == "Succeeded", status
            assert status["candidates"]["succeeded"] == 3
    finally:
        stop.set()
        watcher.join(timeout=10)
    print(f"peak of running candidate Jobs across both jobs: {peak} (cap {GLOBAL_CAP}, wanted 4)")
    assert 0 < peak <= GLOBAL_CAP, f"{peak} candidate Jobs ran at once; the operator's cap is {GLOBAL_CAP}"
