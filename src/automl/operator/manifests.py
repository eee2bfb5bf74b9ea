"""Pure functions from an AutoMLJob (and the operator's settings) to the objects it owns.

Nothing here talks to the API server, so every manifest is unit-tested as plain data.

Decisions a reader would otherwise rediscover:

- **Deterministic names** (``<job>-prepare``, ``<job>-c0003``, ``<job>-finalize``,
  ``<job>-predictor``): a create that answers "already exists" means the work was already
  started, so a crash between create and bookkeeping never duplicates a Job. The CRD keeps
  AutoMLJob names short enough (:data:`MAX_NAME_LENGTH`) for every child name to be valid.
- **The candidate travels with its Job**: as the ``--candidate`` argument *and* the
  :data:`ANNOTATION_CANDIDATE` annotation, so a restarted operator rebuilds the search from
  the Jobs it lists.
- **Results come back as termination messages** (and in storage), never through a metrics
  sidecar. The trainer writes its summary to ``--summary-file``; the container's shell
  wrapper points that at ``$TERMINATION_MESSAGE_PATH`` when the node provides one (the test
  harness's node agent) and at Kubernetes' default ``/dev/termination-log`` otherwise.
- **Credentials** come from the Secret named in ``spec.data.credentialsSecret`` through
  ``valueFrom.secretKeyRef``: the operator never reads them into a manifest, status or log.
- **Hardened pods**: non-root UID, no privilege escalation, read-only root file system with
  an ``emptyDir`` at ``/tmp`` (``HOME`` too), all capabilities dropped, RuntimeDefault
  seccomp, no service-account token, no service links.
"""

from __future__ import annotations

import json
import math
from typing import Any

from automl.candidate import Candidate
from automl.spec import API_VERSION, KIND, MAX_NAME_LENGTH, AutoMLJob, PodSpec, Resources, dump_job

from .settings import Settings

__all__ = ["MAX_NAME_LENGTH"]

GROUP = "automl.dev"
LABEL_JOB = f"{GROUP}/job"
LABEL_ROLE = f"{GROUP}/role"
LABEL_CANDIDATE = f"{GROUP}/candidate"
ANNOTATION_CANDIDATE = f"{GROUP}/candidate"
ANNOTATION_MODEL_SHA256 = f"{GROUP}/model-sha256"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on its pods

ROLE_PREPARE = "prepare"
ROLE_CANDIDATE = "candidate"
ROLE_FINALIZE = "finalize"
ROLE_PREDICTOR = "predictor"

TERMINATION_MESSAGE_PATH = "/dev/termination-log"
TRAINER_CONTAINER = "trainer"
SERVING_CONTAINER = "serving"
# The trainer's summary goes to the termination message; see the module docstring.
TRAINER_SHELL = (
    'exec python -m automl.trainer "$@" '
    f'--summary-file "${{TERMINATION_MESSAGE_PATH:-{TERMINATION_MESSAGE_PATH}}}"'
)
CREDENTIAL_KEYS = (
    ("AWS_ACCESS_KEY_ID", False),
    ("AWS_SECRET_ACCESS_KEY", False),
    ("AWS_ENDPOINT_URL", True),
    ("AWS_ENDPOINT_URL_S3", True),
    ("AWS_DEFAULT_REGION", True),
)


# ---------------------------------------------------------------- names and labels


def prepare_name(job: str) -> str:
    return f"{job}-prepare"


def candidate_name(job: str, candidate_id: str) -> str:
    return f"{job}-{candidate_id}"


def finalize_name(job: str) -> str:
    return f"{job}-finalize"


def predictor_name(job: str) -> str:
    return f"{job}-predictor"


def endpoint(job: str, namespace: str, port: int) -> str:
    return f"http://{predictor_name(job)}.{namespace}.svc:{port}"


def labels(job: str, role: str, candidate_id: str | None = None) -> dict[str, str]:
    out = {
        "app.kubernetes.io/name": "kube-automl",
        "app.kubernetes.io/component": role,
        "app.kubernetes.io/managed-by": "kube-automl-operator",
        LABEL_JOB: job,
        LABEL_ROLE: role,
    }
    if candidate_id is not None:
        out[LABEL_CANDIDATE] = candidate_id
    return out


def selector(job: str, role: str | None = None) -> str:
    """A label selector string for the children of ``job`` (of one role)."""
    parts = [f"{LABEL_JOB}={job}"]
    if role:
        parts.append(f"{LABEL_ROLE}={role}")
    return ",".join(parts)


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _metadata(owner: dict[str, Any], name: str, role: str, candidate_id: str | None = None,
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": labels(owner["metadata"]["name"], role, candidate_id),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        meta["annotations"] = annotations
    return meta


# ---------------------------------------------------------------- pod pieces


def pod_security_context(settings: Settings) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": settings.run_as_user,
        "runAsGroup": settings.run_as_user,
        "fsGroup": settings.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def credential_env(secret: str | None) -> list[dict[str, Any]]:
    """Storage credentials as references to the user's Secret (never their values)."""
    if not secret:
        return []
    return [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": optional}}}
        for key, optional in CREDENTIAL_KEYS
    ]


def _base_env() -> list[dict[str, Any]]:
    return [
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "MPLCONFIGDIR", "value": "/tmp/matplotlib"},
    ]


def resources(spec: Resources) -> dict[str, dict[str, str | int]]:
    """Container resources as the API takes them (empty sections left out)."""
    return {k: dict(v) for k, v in (("requests", spec.requests), ("limits", spec.limits)) if v}


def _cpu_count(spec: Resources) -> int:
    """Whole CPUs the container may use (limits first, then requests), at least 1."""
    for section in (spec.limits, spec.requests):
        value = section.get("cpu")
        if value is None:
            continue
        text = str(value)
        cores = float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        return max(1, int(cores))
    return 1


def _pod_template(owner: dict[str, Any], role: str, pod: PodSpec, container: dict[str, Any],
                  settings: Settings, restart_policy: str, candidate_id: str | None = None,
                  extra_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    job = owner["metadata"]["name"]
    pod_labels = {**pod.labels, **labels(job, role, candidate_id)}
    annotations = {**pod.annotations, **(extra_annotations or {})}
    spec: dict[str, Any] = {
        "restartPolicy": restart_policy,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(settings),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 10,
    }
    if pod.node_selector:
        spec["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        spec["tolerations"] = [dict(t) for t in pod.tolerations]
    if pod.service_account_name:
        spec["serviceAccountName"] = pod.service_account_name
    meta: dict[str, Any] = {"labels": pod_labels}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


def _trainer_container(job: AutoMLJob, args: list[str], settings: Settings) -> dict[str, Any]:
    pod = job.spec.trainer
    container: dict[str, Any] = {
        "name": TRAINER_CONTAINER,
        "image": pod.image or settings.trainer_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["/bin/sh", "-c", TRAINER_SHELL, "automl-trainer"],
        "args": args,
        "env": [*_base_env(), *credential_env(job.spec.data.credentials_secret)],
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if resources(pod.resources):
        container["resources"] = resources(pod.resources)
    return container


def _job(owner: dict[str, Any], job: AutoMLJob, name: str, role: str, args: list[str],
         settings: Settings, deadline_seconds: float, backoff_limit: int,
         candidate: Candidate | None = None) -> dict[str, Any]:
    annotations = {ANNOTATION_CANDIDATE: candidate.model_dump_json()} if candidate else None
    cid = candidate.id if candidate else None
    container = _trainer_container(job, args, settings)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(owner, name, role, cid, annotations),
        "spec": {
            "backoffLimit": backoff_limit,
            "activeDeadlineSeconds": max(1, math.ceil(deadline_seconds)),
            "template": _pod_template(owner, role, job.spec.trainer, container, settings, "Never", cid),
        },
    }


def job_json(job: AutoMLJob) -> str:
    """The manifest as the trainer's ``--job`` argument (no status, no server fields)."""
    document = dump_job(job)
    document.pop("status", None)
    document["metadata"] = {"name": job.metadata.name, **({"namespace": job.metadata.namespace}
                                                          if job.metadata.namespace else {})}
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


# ---------------------------------------------------------------- the children


def prepare_job(owner: dict[str, Any], job: AutoMLJob, run_uri: str, settings: Settings,
                deadline_seconds: float) -> dict[str, Any]:
    """Read and check the data; write the prepared data, plan and guardrails under run_uri.

    No retries: a bad data path or a missing label column fails the same way every time.
    """
    args = ["prepare", "--run", run_uri, "--job", job_json(job)]
    return _job(owner, job, prepare_name(job.name), ROLE_PREPARE, args, settings, deadline_seconds, 0)


def candidate_job(owner: dict[str, Any], job: AutoMLJob, candidate: Candidate, run_uri: str,
                  settings: Settings, deadline_seconds: float) -> dict[str, Any]:
    """Train and validate one candidate. A crash is that candidate's failure, not retried."""
    args = ["train", "--run", run_uri, "--candidate", candidate.model_dump_json(),
            "--n-jobs", str(_cpu_count(job.spec.trainer.resources))]
    return _job(owner, job, candidate_name(job.name, candidate.id), ROLE_CANDIDATE, args, settings,
                deadline_seconds, 0, candidate)


def finalize_job(owner: dict[str, Any], job: AutoMLJob, run_uri: str, settings: Settings,
                 seconds_left: float) -> dict[str, Any]:
    """Ensemble, refit and write the model. Retried once: it only reads and overwrites."""
    args = ["finalize", "--run", run_uri, "--job", job_json(job),
            "--seconds-left", f"{max(seconds_left, 1.0):.0f}",
            "--n-jobs", str(_cpu_count(job.spec.trainer.resources))]
    deadline = max(seconds_left, 0.0) + 120.0  # refitting is skipped when time is short
    return _job(owner, job, finalize_name(job.name), ROLE_FINALIZE, args, settings, deadline, 1)


def predictor_deployment(owner: dict[str, Any], job: AutoMLJob, model_uri: str, sha256: str,
                         settings: Settings) -> dict[str, Any]:
    """The prediction service for the final model: checks the model's sha256 before loading it."""
    name = owner["metadata"]["name"]
    serving = job.spec.serving
    port = settings.serving_port
    env = [
        *_base_env(),
        {"name": "AUTOML_MODEL_URI", "value": model_uri},
        {"name": "AUTOML_MODEL_SHA256", "value": sha256},
        {"name": "AUTOML_MODEL_NAME", "value": name},
        {"name": "AUTOML_PORT", "value": str(port)},
        {"name": "AUTOML_WORKERS", "value": str(_cpu_count(serving.resources))},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        *credential_env(job.spec.data.credentials_secret),
    ]
    http = {"path": "/v2/health/ready", "port": "http"}
    container: dict[str, Any] = {
        "name": SERVING_CONTAINER,
        "image": serving.image or settings.serving_image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python", "-m", "automl.serving"],
        "env": env,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "startupProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"},
                         "periodSeconds": 1, "failureThreshold": 120, "timeoutSeconds": 2},
        "readinessProbe": {"httpGet": http, "periodSeconds": 2, "failureThreshold": 3, "timeoutSeconds": 2},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"},
                          "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if resources(serving.resources):
        container["resources"] = resources(serving.resources)
    template = _pod_template(owner, ROLE_PREDICTOR, serving, container, settings, "Always",
                             extra_annotations={ANNOTATION_MODEL_SHA256: sha256})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(owner, predictor_name(name), ROLE_PREDICTOR,
                              annotations={ANNOTATION_MODEL_SHA256: sha256}),
        "spec": {
            "replicas": serving.replicas,
            "selector": {"matchLabels": {LABEL_JOB: name, LABEL_ROLE: ROLE_PREDICTOR}},
            "progressDeadlineSeconds": 600,
            "template": template,
        },
    }


def predictor_service(owner: dict[str, Any], settings: Settings) -> dict[str, Any]:
    name = owner["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(owner, predictor_name(name), ROLE_PREDICTOR),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_JOB: name, LABEL_ROLE: ROLE_PREDICTOR},
            "ports": [{"name": "http", "port": settings.serving_port, "targetPort": "http",
                       "protocol": "TCP"}],
        },
    }
