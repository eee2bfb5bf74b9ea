"""The test cluster itself: real API server, controllers, scheduler, MinIO, and the node agent.

Each test pins down one thing the operator's end-to-end tests will rely on. Pods use a
``python`` image and always set ``command``, so the same tests also run on kind / k3d through
the escape hatch (tests that look at local OS processes or the agent's files skip there).
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from typing import Any

import pytest
import yaml

from tests.cluster import Cluster
from tests.conftest import wait_for

pytestmark = pytest.mark.cluster

IMAGE = "python:3.12-slim"




def get(cluster: Cluster, *args: str) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def apply(cluster: Cluster, *objs: dict, namespace: str | None = None, check: bool = True, kubeconfig=None):
    ns = ["-n", namespace] if namespace else []
    return cluster.kubectl(
        "apply", *ns, "-f", "-", input=yaml.safe_dump_all(objs), check=check, kubeconfig=kubeconfig
    )


def pod_spec(command: list[str], restart: str = "Never", **extra: Any) -> dict:
    container = {"name": "main", "image": IMAGE, "command": command}
    container.update(extra.pop("container", {}))
    return {"restartPolicy": restart, "terminationGracePeriodSeconds": 5, "containers": [container], **extra}


def job(name: str, command: list[str], backoff_limit: int = 0, restart: str = "Never", **extra: Any) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": {"job": name}},
                "spec": pod_spec(command, restart=restart, **extra),
            },
        },
    }


def job_condition(cluster: Cluster, ns: str, name: str, type_: str) -> dict | None:
    j = get(cluster, "job", name, "-n", ns)
    for c in j.get("status", {}).get("conditions") or []:
        if c["type"] == type_ and c["status"] == "True":
            return c
    return None


def pods(cluster: Cluster, ns: str, selector: str) -> list[dict]:
    return get(cluster, "pods", "-n", ns, "-l", selector)["items"]


def main_state(pod: dict) -> dict:
    return pod["status"]["containerStatuses"][0]


def pid_of(pod: dict) -> int:
    return int(main_state(pod)["containerID"].removeprefix("automl://"))


def process_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def ns(cluster: Cluster):
    name = cluster.create_namespace(f"harness-{secrets.token_hex(3)}")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_cluster_started_warm_within_30_seconds(cluster: Cluster) -> None:
    if not cluster.local:
        pytest.skip("external cluster")
    took = cluster._state["ready_seconds"]
    print(f"warm start: {took}s")
    assert took < 30


def test_job_running_python_completes(cluster: Cluster, ns: str) -> None:
    apply(
        cluster, job("hello", ["python", "-c", "import sys; print('hello from', sys.version)"]), namespace=ns
    )
    wait_for(lambda: job_condition(cluster, ns, "hello", "Complete"), 60, what="Job Complete")
    (pod,) = pods(cluster, ns, "job=hello")
    assert pod["status"]["phase"] == "Succeeded"
    assert main_state(pod)["state"]["terminated"]["exitCode"] == 0
    if cluster.local:
        assert "hello from 3." in cluster.pod_log(ns, pod["metadata"]["name"])


def test_failing_job_reports_exit_code_and_fails_after_backoff_limit(cluster: Cluster, ns: str) -> None:
    apply(cluster, job("fails", ["python", "-c", "import sys; sys.exit(3)"], backoff_limit=1), namespace=ns)
    cond = wait_for(lambda: job_condition(cluster, ns, "fails", "Failed"), 90, what="Job Failed")
    assert cond["reason"] == "BackoffLimitExceeded"
    failed = pods(cluster, ns, "job=fails")
    assert len(failed) == 2  # the first try and one retry: backoffLimit 1
    for p in failed:
        assert p["status"]["phase"] == "Failed"
        term = main_state(p)["state"]["terminated"]
        assert term["exitCode"] == 3
        assert term["reason"] == "Error"


def test_termination_message_appears_in_pod_status(cluster: Cluster, ns: str) -> None:
    script = (
        "import os\n"
        "path = os.environ.get('TERMINATION_MESSAGE_PATH', '/dev/termination-log')\n"
        "open(path, 'w').write('best score 0.93')\n"
    )
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "says-done"},
            "spec": pod_spec(["python", "-c", script]),
        },
        namespace=ns,
    )

    def terminated():
        p = get(cluster, "pod", "says-done", "-n", ns)
        return main_state(p)["state"].get("terminated") if p["status"].get("containerStatuses") else None

    term = wait_for(terminated, 60, what="container terminated")
    assert term["exitCode"] == 0
    assert term["message"] == "best score 0.93"


def test_failed_container_falls_back_to_its_log_when_asked(cluster: Cluster, ns: str) -> None:
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "crashes"},
            "spec": pod_spec(
                ["python", "-c", "raise SystemExit('cannot read train.csv')"],
                container={"terminationMessagePolicy": "FallbackToLogsOnError"},
            ),
        },
        namespace=ns,
    )
    p = wait_for(
        lambda: (lambda p: p if p["status"].get("phase") == "Failed" else None)(
            get(cluster, "pod", "crashes", "-n", ns)
        ),
        60,
        what="pod Failed",
    )
    term = main_state(p)["state"]["terminated"]
    assert term["exitCode"] == 1
    assert "cannot read train.csv" in term["message"]


def test_active_deadline_fails_the_pod_and_stops_its_process(cluster: Cluster, ns: str) -> None:
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "too-slow"},
            "spec": pod_spec(["sleep", "300"], activeDeadlineSeconds=2),
        },
        namespace=ns,
    )
    p = wait_for(
        lambda: (lambda p: p if p["status"].get("phase") == "Failed" else None)(
            get(cluster, "pod", "too-slow", "-n", ns)
        ),
        60,
        what="pod Failed",
    )
    assert p["status"]["reason"] == "DeadlineExceeded"
    if cluster.local:
        assert not process_running(pid_of(p))


def test_container_without_command_fails_with_a_clear_reason(cluster: Cluster, ns: str) -> None:
    if not cluster.local:
        pytest.skip("only the node agent refuses to run images")
    spec = pod_spec([])
    del spec["containers"][0]["command"]
    apply(
        cluster,
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "no-command"}, "spec": spec},
        namespace=ns,
    )
    p = wait_for(
        lambda: (lambda p: p if p["status"].get("phase") == "Failed" else None)(
            get(cluster, "pod", "no-command", "-n", ns)
        ),
        60,
        what="pod Failed",
    )
    term = main_state(p)["state"]["terminated"]
    assert term["reason"] == "ContainerCannotRun"
    assert "command" in term["message"]
    events = get(cluster, "events", "-n", ns, "--field-selector", "involvedObject.name=no-command")
    assert "ContainerCannotRun" in {e["reason"] for e in events["items"]}


def test_env_from_secret_configmap_and_fields_and_tmp_volume(cluster: Cluster, ns: str) -> None:
    if not cluster.local:
        pytest.skip("reads the agent's log files")
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"key": "s3cr3t"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"metric": "roc_auc"},
        },
        namespace=ns,
    )
    script = (
        "import os, tempfile\n"
        "f = tempfile.NamedTemporaryFile(dir=None, delete=False)\n"
        "print('|'.join([os.environ['KEY'], os.environ['METRIC'], os.environ['ME'], "
        "os.environ['NS'], os.environ['IP'], os.environ['URL'], "
        "str(f.name.startswith(os.environ['TMPDIR'])), os.getcwd()]))\n"
    )
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "env"},
            "spec": pod_spec(
                ["python", "-c", script],
                volumes=[{"name": "tmp", "emptyDir": {}}],
                container={
                    "workingDir": "/work",
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    "env": [
                        {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}}},
                        {
                            "name": "METRIC",
                            "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "metric"}},
                        },
                        {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "URL", "value": "http://$(IP):8080"},
                    ],
                },
            ),
        },
        namespace=ns,
    )
    p = wait_for(
        lambda: (lambda p: p if p["status"].get("phase") in ("Succeeded", "Failed") else None)(
            get(cluster, "pod", "env", "-n", ns)
        ),
        60,
    )
    out = cluster.pod_log(ns, "env").strip()
    assert p["status"]["phase"] == "Succeeded", out
    key, metric, me, pns, ip, url, in_tmp, cwd = out.split("|")
    assert (key, metric, me, pns) == ("s3cr3t", "roc_auc", "env", ns)
    assert ip == p["status"]["podIP"] and url == f"http://{ip}:8080"
    assert in_tmp == "True"
    assert cwd.endswith("/work") and cwd != "/work"


def test_deployment_pods_serve_on_own_ip_are_listed_and_removed_with_it(cluster: Cluster, ns: str) -> None:
    labels = {"app": "web"}
    serve = "echo $(POD_NAME) > index.html && exec python -m http.server 8080 --bind $(POD_IP)"
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(
                    ["sh", "-c", serve],
                    restart="Always",
                    container={
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "env": [
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        ],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                    },
                ),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    apply(cluster, deployment, service, namespace=ns)

    def available():
        d = get(cluster, "deployment", "web", "-n", ns)
        return (
            any(
                c["type"] == "Available" and c["status"] == "True"
                for c in d.get("status", {}).get("conditions") or []
            )
            and d["status"].get("readyReplicas") == 2
        )

    wait_for(available, 90, what="Deployment Available with 2 ready replicas")
    running = pods(cluster, ns, "app=web")
    assert len(running) == 2
    ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in running}
    assert len(set(ips.values())) == 2
    for name, ip in ips.items():
        with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as r:
            assert r.read().decode().strip() == name

    if cluster.endpointslices_supported:

        def sliced():
            slices = get(cluster, "endpointslices", "-n", ns, "-l", "kubernetes.io/service-name=web")["items"]
            ready = {
                a
                for s in slices
                for e in s.get("endpoints") or []
                if (e.get("conditions") or {}).get("ready")
                for a in e["addresses"]
            }
            return ready == set(ips.values())

        wait_for(sliced, 30, what="EndpointSlice lists both pods")

    pids = [pid_of(p) for p in running] if cluster.local else []
    assert all(process_running(pid) for pid in pids)
    cluster.kubectl("delete", "deployment", "web", "-n", ns)
    wait_for(lambda: not pods(cluster, ns, "app=web"), 60, what="pods garbage-collected")
    for pid in pids:
        wait_for(lambda pid=pid: not process_running(pid), 10, what=f"process {pid} gone")
    if not cluster.endpointslices_supported:
        pytest.skip("loopback pod network: EndpointSlices refuse 127/8 addresses")


def test_deleting_a_namespace_removes_it_with_its_pods(cluster: Cluster) -> None:
    doomed = cluster.create_namespace(f"harness-doomed-{secrets.token_hex(3)}")
    apply(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sleeper"},
            "spec": pod_spec(["sleep", "300"]),
        },
        namespace=doomed,
    )
    running = wait_for(
        lambda: (lambda p: p if p["status"].get("phase") == "Running" else None)(
            get(cluster, "pod", "sleeper", "-n", doomed)
        ),
        60,
        what="pod Running",
    )
    cluster.kubectl("delete", "namespace", doomed, "--wait=true", "--timeout=90s")
    assert cluster.kubectl("get", "namespace", doomed, check=False).returncode != 0
    if cluster.local:
        assert not process_running(pid_of(running))


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.harness.automl.test"},
    "spec": {
        "group": "harness.automl.test",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer", "minimum": 1, "maximum": 10}},
                                "x-kubernetes-validations": [
                                    {"rule": "self.size % 2 == 0", "message": "size must be an even number"}
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_is_served_and_schema_violations_are_rejected(cluster: Cluster, ns: str) -> None:
    apply(cluster, CRD)
    try:
        cluster.kubectl(
            "wait", "--for=condition=Established", "crd/widgets.harness.automl.test", "--timeout=30s"
        )

        def widget(name: str, size: int) -> dict:
            return {
                "apiVersion": "harness.automl.test/v1",
                "kind": "Widget",
                "metadata": {"name": name},
                "spec": {"size": size},
            }

        # discovery can lag a moment behind Established
        wait_for(
            lambda: apply(cluster, widget("ok", 4), namespace=ns, check=False).returncode == 0,
            30,
            what="valid Widget accepted",
        )
        assert get(cluster, "widgets", "-n", ns)["items"][0]["spec"]["size"] == 4

        odd = apply(cluster, widget("odd", 3), namespace=ns, check=False)
        assert odd.returncode != 0
        assert "size must be an even number" in odd.stderr
        big = apply(cluster, widget("big", 12), namespace=ns, check=False)
        assert big.returncode != 0
        assert "should be less than or equal to 10" in big.stderr
    finally:
        cluster.kubectl("delete", "crd", "widgets.harness.automl.test", "--wait=false", check=False)


def test_service_account_role_allows_what_it_grants_and_403s_the_rest(cluster: Cluster, ns: str) -> None:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    apply(
        cluster,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "configmap-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}],
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "visible"}, "data": {"a": "1"}},
        namespace=ns,
    )
    as_sa = cluster.impersonating_kubeconfig(ns, "reader")
    sa_token = cluster.service_account_kubeconfig(ns, "reader")
    for kc in (as_sa, sa_token):
        ok = cluster.kubectl("get", "configmap", "visible", "-n", ns, "-o", "name", kubeconfig=kc)
        assert ok.stdout.strip() == "configmap/visible"
        denied = cluster.kubectl("create", "configmap", "nope", "-n", ns, kubeconfig=kc, check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
        assert f"system:serviceaccount:{ns}:reader" in denied.stderr

        with cluster.api_client(kc) as api:
            core = client.CoreV1Api(api)
            assert core.read_namespaced_config_map("visible", ns).data == {"a": "1"}
            for call in (
                lambda core=core: core.list_namespaced_secret(ns),
                lambda core=core: core.list_namespaced_config_map("default"),
                lambda core=core: core.delete_namespaced_config_map("visible", ns),
            ):
                with pytest.raises(ApiException) as err:
                    call()
                assert err.value.status == 403


def test_boto3_puts_and_gets_an_object_in_minio(cluster: Cluster) -> None:
    bucket = cluster.make_bucket(f"harness-{secrets.token_hex(3)}")
    s3 = cluster.s3_client()
    s3.put_object(Bucket=bucket, Key="data/train.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket=bucket, Key="data/train.csv")["Body"].read() == b"a,b\n1,2\n"
    env = cluster.s3_env()
    assert env["AWS_ENDPOINT_URL_S3"] == cluster.s3.endpoint_url
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} <= set(env)


def test_pod_reads_minio_with_credentials_from_a_secret(cluster: Cluster, ns: str) -> None:
    if not cluster.local:
        pytest.skip("needs boto3 inside the pod, which only the local node agent has")
    bucket = cluster.make_bucket(f"harness-{secrets.token_hex(3)}")
    cluster.s3_client().put_object(Bucket=bucket, Key="hello.txt", Body=b"from minio")
    apply(
        cluster,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "minio"}, "stringData": cluster.s3_env()},
        namespace=ns,
    )
    script = (
        "import boto3, os\n"
        f"body = boto3.client('s3').get_object(Bucket='{bucket}', Key='hello.txt')\n"
        "open(os.environ['TERMINATION_MESSAGE_PATH'], 'w').write(body['Body'].read().decode())\n"
    )
    apply(
        cluster,
        job("reads-s3", ["python", "-c", script], container={"envFrom": [{"secretRef": {"name": "minio"}}]}),
        namespace=ns,
    )
    wait_for(
        lambda: (
            job_condition(cluster, ns, "reads-s3", "Complete")
            or job_condition(cluster, ns, "reads-s3", "Failed")
        ),
        60,
        what="Job finished",
    )
    (pod,) = pods(cluster, ns, "job=reads-s3")
    term = main_state(pod)["state"]["terminated"]
    assert term["exitCode"] == 0, cluster.pod_log(ns, pod["metadata"]["name"])
    assert term["message"] == "from minio"


def test_restart_on_failure_retries_in_place_then_completes(cluster: Cluster, ns: str) -> None:
    script = (
        "import os, sys\n"
        "marker = os.path.join(os.environ['STATE'], 'tried')\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').close(); sys.exit(7)\n"
    )
    apply(
        cluster,
        job(
            "retries",
            ["python", "-c", script],
            backoff_limit=3,
            restart="OnFailure",
            volumes=[{"name": "state", "emptyDir": {}}],
            container={
                "env": [{"name": "STATE", "value": "/state"}],
                "volumeMounts": [{"name": "state", "mountPath": "/state"}],
            },
        ),
        namespace=ns,
    )
    wait_for(lambda: job_condition(cluster, ns, "retries", "Complete"), 60, what="Job Complete")
    (pod,) = pods(cluster, ns, "job=retries")
    st = main_state(pod)
    assert st["restartCount"] == 1
    assert st["lastState"]["terminated"]["exitCode"] == 7
    assert st["state"]["terminated"]["exitCode"] == 0


def test_deleting_a_pod_kills_its_process_group_after_the_grace_period(cluster: Cluster, ns: str) -> None:
    if not cluster.local:
        pytest.skip("looks at local OS processes")
    stubborn = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen(['sleep', '1000'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(1000)\n"
    )
    spec = pod_spec(["python", "-c", stubborn])
    spec["terminationGracePeriodSeconds"] = 2
    apply(
        cluster,
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn"}, "spec": spec},
        namespace=ns,
    )
    wait_for(lambda: cluster.pod_log(ns, "stubborn").strip().isdigit(), 60, what="child started")
    child = int(cluster.pod_log(ns, "stubborn").strip())
    parent = pid_of(get(cluster, "pod", "stubborn", "-n", ns))
    assert process_running(parent) and process_running(child)
    t0 = time.monotonic()
    cluster.kubectl("delete", "pod", "stubborn", "-n", ns, "--wait=true", "--timeout=30s")
    took = time.monotonic() - t0
    assert not process_running(parent) and not process_running(child)
    assert 1.5 < took < 15, took  # SIGTERM ignored: SIGKILL came after the 2 s grace


def test_helm_lints_templates_installs_and_uninstalls_a_chart(cluster: Cluster, ns: str, tmp_path) -> None:
    chart = tmp_path / "tiny"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: tiny\nversion: 0.1.0\nkubeVersion: '>=1.30.0-0'\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    assert cluster.helm("lint", str(chart)).returncode == 0
    rendered = cluster.helm("template", "demo", str(chart), "--set", "greeting=hi").stdout
    assert 'greeting: "hi"' in rendered
    cluster.helm("install", "demo", str(chart), "-n", ns, "--wait", "--timeout", "60s")
    cm = get(cluster, "configmap", "demo-cm", "-n", ns)
    assert cm["data"] == {"greeting": "hello"}
    cluster.helm("uninstall", "demo", "-n", ns, "--wait")
    assert cluster.kubectl("get", "configmap", "demo-cm", "-n", ns, check=False).returncode != 0


def test_helm_is_the_pinned_v4_cli(cluster: Cluster) -> None:
    out = cluster.helm("version", "--short").stdout
    if cluster.local:
        assert out.startswith("v4.3.2"), out
    assert os.path.exists(cluster._tool("helm"))
