"""The chart's namespace-scoped install: Roles in the watched namespaces, no ClusterRole.

A second release with ``watchNamespaces`` and an operator started with ``--namespace``: it
runs jobs in its namespace under a Role only, ignores other namespaces, and its
ServiceAccount can do nothing outside the namespaces it was given.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster
from tests.integration.test_operator_cluster import (
    CHART,
    OperatorProcess,
    apply,
    automljob,
    manifest,
    wait_phase,
)

pytestmark = pytest.mark.cluster

RELEASE = "automl-scoped"
OPERATOR_NS = "automl-scoped"
WATCHED = "scoped-team-a"
OTHER = "scoped-team-b"
SA = "automl-scoped-kube-automl"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scoped(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    for ns in (OPERATOR_NS, WATCHED, OTHER):
        cluster.create_namespace(ns)
    cluster.helm("install", RELEASE, str(CHART), "-n", OPERATOR_NS, "--set", "operator.replicas=0",
                 "--set", f"watchNamespaces={{{WATCHED}}}", "--wait", "--timeout", "60s")
    cluster.kubectl("wait", "--for=condition=Established", "crd/automljobs.automl.dev", "--timeout=60s")
    cluster.make_bucket("automl-data")
    cluster.make_bucket("automl-runs")
    cluster.s3_client().upload_file(str(ROOT / "examples/data/breast_cancer_train.csv"), "automl-data",
                                    "scoped/train.csv")
    for ns in (WATCHED, OTHER):
        cluster.kubectl("create", "secret", "generic", "minio-credentials", "-n", ns,
                        f"--from-literal=AWS_ACCESS_KEY_ID={cluster.s3.access_key}",
                        f"--from-literal=AWS_SECRET_ACCESS_KEY={cluster.s3.secret_key}",
                        f"--from-literal=AWS_ENDPOINT_URL={cluster.s3.endpoint_url}")
    op = OperatorProcess(cluster, cluster.service_account_kubeconfig(OPERATOR_NS, SA),
                         tmp_path_factory.mktemp("scoped-operator"), scope=("--namespace", WATCHED))
    op.start()
    try:
        yield op
    finally:
        for ns in (WATCHED, OTHER):
            cluster.kubectl("delete", "automljobs", "--all", "-n", ns, "--wait=true", "--timeout=60s", check=False)
        op.stop()
        cluster.helm("uninstall", RELEASE, "-n", OPERATOR_NS, check=False)
        for ns in (WATCHED, OTHER):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_the_chart_grants_roles_only_in_watched_namespaces(cluster: Cluster, scoped: OperatorProcess) -> None:
    who = f"--as=system:serviceaccount:{OPERATOR_NS}:{SA}"
    assert cluster.kubectl("auth", "can-i", "create", "jobs.batch", "-n", WATCHED, who, check=False).stdout.strip() == "yes"
    for verb, resource, ns in (("create", "jobs.batch", OTHER), ("get", "secrets", OTHER),
                               ("list", "secrets", WATCHED), ("delete", "automljobs.automl.dev", WATCHED),
                               ("list", "namespaces", WATCHED), ("get", "nodes", WATCHED)):
        answer = cluster.kubectl("auth", "can-i", verb, resource, "-n", ns, who, check=False).stdout.strip()
        assert answer == "no", f"{SA} may {verb} {resource} in {ns}"
    roles = json.loads(cluster.kubectl("get", "clusterroles", "-l", f"app.kubernetes.io/instance={RELEASE}",
                                       "-o", "json").stdout)["items"]
    assert roles == []


def test_a_namespaced_operator_runs_jobs_in_its_namespace_only(cluster: Cluster, scoped: OperatorProcess) -> None:
    for ns in (WATCHED, OTHER):
        apply(cluster, ns, manifest("scoped", "classification", "s3://automl-data/scoped/train.csv", "diagnosis",
                                    f"{ns}/scoped", search={"maxCandidates": 2, "maxParallel": 2},
                                    serving={"enabled": False}))
    status = wait_phase(cluster, scoped, WATCHED, "scoped", ("Succeeded", "Failed"))["status"]
    assert status["phase"] == "Succeeded", status
    time.sleep(2)
    assert "status" not in automljob(cluster, OTHER, "scoped")
    assert json.loads(cluster.kubectl("get", "jobs", "-n", OTHER, "-o", "json").stdout)["items"] == []
    assert "Forbidden" not in scoped.log_file.read_text()
