"""The operator's manifests, as plain data: names, ownership, security, credentials, settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automl.candidate import Candidate
from automl.operator import manifests as m
from automl.operator.settings import Settings
from automl.spec import parse_job

SETTINGS = Settings(trainer_image="trainer:test", serving_image="serving:test")
OWNER = {"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob",
         "metadata": {"name": "churn", "namespace": "team-a", "uid": "uid-1"}}


def job(**spec: Any):
    base: dict[str, Any] = {
        "task": "classification",
        "data": {"train": "s3://data/churn.csv", "label": "churned", "credentialsSecret": "minio"},
        "output": "s3://models/churn",
    }
    base.update(spec)
    return parse_job({"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob",
                      "metadata": {"name": "churn", "namespace": "team-a"}, "spec": base})


CANDIDATE = Candidate(id="c0003", algorithm="lightgbm", params={"n_estimators": 50})


def candidate_job(**spec: Any) -> dict[str, Any]:
    return m.candidate_job(OWNER, job(**spec), CANDIDATE, "s3://models/churn", SETTINGS, 300)


def test_children_have_deterministic_names() -> None:
    assert m.prepare_name("churn") == "churn-prepare"
    assert m.candidate_name("churn", "c0003") == "churn-c0003"
    assert m.finalize_name("churn") == "churn-finalize"
    assert m.predictor_name("churn") == "churn-predictor"
    assert candidate_job()["metadata"]["name"] == "churn-c0003"


def test_every_child_is_owned_by_the_automljob_and_labelled() -> None:
    spec = job()
    children = [
        m.prepare_job(OWNER, spec, "s3://models/churn", SETTINGS, 60),
        candidate_job(),
        m.finalize_job(OWNER, spec, "s3://models/churn", SETTINGS, 60),
        m.predictor_deployment(OWNER, spec, "s3://models/churn/model", "ab" * 32, SETTINGS),
        m.predictor_service(OWNER, SETTINGS),
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["ownerReferences"] == [{"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob",
                                            "name": "churn", "uid": "uid-1", "controller": True,
                                            "blockOwnerDeletion": True}]
        assert meta["labels"][m.LABEL_JOB] == "churn"
        assert meta["labels"][m.LABEL_ROLE] in ("prepare", "candidate", "finalize", "predictor")


def test_candidate_travels_on_its_job_as_annotation_and_argument() -> None:
    manifest = candidate_job()
    stored = manifest["metadata"]["annotations"][m.ANNOTATION_CANDIDATE]
    assert Candidate.model_validate_json(stored) == CANDIDATE
    args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:3] == ["train", "--run", "s3://models/churn"]
    assert Candidate.model_validate_json(args[args.index("--candidate") + 1]) == CANDIDATE
    assert manifest["metadata"]["labels"][m.LABEL_CANDIDATE] == "c0003"
    assert manifest["spec"]["template"]["metadata"]["labels"][m.LABEL_CANDIDATE] == "c0003"


def test_candidate_job_has_deadline_no_retries_and_an_explicit_command() -> None:
    manifest = candidate_job()
    assert manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["activeDeadlineSeconds"] == 300
    pod = manifest["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    container = pod["containers"][0]
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert "python -m automl.trainer" in container["command"][2]
    assert "TERMINATION_MESSAGE_PATH" in container["command"][2]
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container["image"] == "trainer:test"


def test_pods_are_hardened() -> None:
    for manifest in (candidate_job(), m.predictor_deployment(OWNER, job(), "s3://m", "00" * 32, SETTINGS)):
        pod = manifest["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == SETTINGS.run_as_user
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        container = pod["containers"][0]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]


def test_credentials_are_secret_references_never_values() -> None:
    env = candidate_job()["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}
    assert refs["AWS_ACCESS_KEY_ID"] == {"name": "minio", "key": "AWS_ACCESS_KEY_ID", "optional": False}
    assert refs["AWS_SECRET_ACCESS_KEY"]["name"] == "minio"
    assert refs["AWS_ENDPOINT_URL"]["optional"] is True
    assert not any(e["name"].startswith("AWS_") and "value" in e for e in env)


def test_no_credentials_secret_means_no_credential_env() -> None:
    spec = job(data={"train": "s3://data/churn.csv", "label": "churned"})
    manifest = m.candidate_job(OWNER, spec, CANDIDATE, "s3://models/churn", SETTINGS, 60)
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert not [e for e in env if e["name"].startswith("AWS_")]


def test_trainer_pod_settings_come_from_the_spec() -> None:
    manifest = candidate_job(trainer={
        "image": "my/trainer:1", "labels": {"team": "a"}, "annotations": {"sidecar.istio.io/inject": "false"},
        "nodeSelector": {"pool": "cpu"}, "tolerations": [{"key": "ml", "operator": "Exists"}],
        "serviceAccountName": "trainer", "resources": {"requests": {"cpu": "2", "memory": "1Gi"},
                                                       "limits": {"cpu": "2"}},
    })
    template = manifest["spec"]["template"]
    assert template["metadata"]["labels"]["team"] == "a"
    assert template["metadata"]["labels"][m.LABEL_JOB] == "churn"
    assert template["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    pod = template["spec"]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == [{"key": "ml", "operator": "Exists"}]
    assert pod["serviceAccountName"] == "trainer"
    container = pod["containers"][0]
    assert container["image"] == "my/trainer:1"
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "2"}}
    assert container["args"][-2:] == ["--n-jobs", "2"]


def test_user_labels_cannot_override_the_operators() -> None:
    manifest = candidate_job(trainer={"labels": {m.LABEL_JOB: "other"}})
    assert manifest["spec"]["template"]["metadata"]["labels"][m.LABEL_JOB] == "churn"


def test_prepare_and_finalize_carry_the_job_as_json() -> None:
    spec = job()
    for manifest in (m.prepare_job(OWNER, spec, "s3://r", SETTINGS, 60), m.finalize_job(OWNER, spec, "s3://r", SETTINGS, 42)):
        args = manifest["spec"]["template"]["spec"]["containers"][0]["args"]
        document = json.loads(args[args.index("--job") + 1])
        assert parse_job(document).spec == spec.spec
        assert "status" not in document
    finalize = m.finalize_job(OWNER, spec, "s3://r", SETTINGS, 42)
    args = finalize["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--seconds-left") + 1] == "42"


def test_predictor_deployment_checks_the_model_and_probes_health() -> None:
    spec = job(serving={"replicas": 2, "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}})
    deployment = m.predictor_deployment(OWNER, spec, "s3://models/churn/model", "ab" * 32, SETTINGS)
    assert deployment["metadata"]["name"] == "churn-predictor"
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["AUTOML_MODEL_URI"] == "s3://models/churn/model"
    assert env["AUTOML_MODEL_SHA256"] == "ab" * 32
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert container["command"] == ["python", "-m", "automl.serving"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["resources"] == {"limits": {"cpu": "1", "memory": "512Mi"}}
    assert deployment["spec"]["selector"]["matchLabels"] == {m.LABEL_JOB: "churn", m.LABEL_ROLE: "predictor"}


def test_predictor_service_is_cluster_ip_on_the_serving_port() -> None:
    service = m.predictor_service(OWNER, SETTINGS)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 8080
    assert m.endpoint("churn", "team-a", 8080) == "http://churn-predictor.team-a.svc:8080"


@pytest.mark.parametrize(("env", "expected"), [
    ({}, 16),
    ({"AUTOML_OPERATOR_MAX_RUNNING_CANDIDATES": "3"}, 3),
])
def test_settings_come_from_the_environment(env: dict[str, str], expected: int) -> None:
    assert Settings.from_env(env).max_running_candidates == expected


def test_flags_win_over_the_environment_and_bad_values_are_named() -> None:
    env = {"AUTOML_OPERATOR_MAX_RUNNING_CANDIDATES": "3"}
    assert Settings.from_env(env, max_running_candidates=5).max_running_candidates == 5
    with pytest.raises(ValueError, match="AUTOML_OPERATOR_POLL_SECONDS"):
        Settings.from_env({"AUTOML_OPERATOR_POLL_SECONDS": "soon"})
    with pytest.raises(ValueError, match="s3://"):
        Settings.from_env({"AUTOML_OPERATOR_DEFAULT_OUTPUT": "/data"})


def test_operator_help_exits_zero() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "automl.operator", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--all-namespaces" in done.stdout


@pytest.mark.parametrize("name", ["classification.yaml", "regression.yaml"])
def test_cluster_examples_are_valid_jobs_with_s3_output(name: str) -> None:
    from pathlib import Path

    from automl.spec import load_job

    job = load_job(Path(__file__).resolve().parents[2] / "examples" / "cluster" / name)
    assert job.spec.output and job.spec.output.startswith("s3://")
    assert job.spec.data.train.startswith("s3://") and job.spec.data.credentials_secret


def test_chart_ships_the_generated_crd_unchanged() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    assert (root / "charts/kube-automl/crds/automljob.yaml").read_bytes() == (root / "crds/automljob.yaml").read_bytes()
