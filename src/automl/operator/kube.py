"""A thin adapter over the Kubernetes API: the few calls the reconciler makes, and nothing else.

Errors are sorted here once: a conflict on create means "already exists", which is *done*
(deterministic names make creates idempotent); 404 on delete is done too; 429, 5xx and
connection problems are :class:`TransientError` (the reconciler retries later); anything
else escapes as a bug.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import secrets
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from automl.spec import API_GROUP

from .manifests import JOB_NAME_LABEL

PLURAL = "automljobs"
VERSION = "v1alpha1"
COMPONENT = "kube-automl-operator"


class TransientError(Exception):
    """The API server could not answer now; try again later."""


def _transient(err: Exception) -> bool:
    if isinstance(err, ApiException):
        return err.status in (0, 408, 429) or (err.status or 0) >= 500
    return isinstance(err, HTTPError | ConnectionError | TimeoutError)


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if _transient(err):
                raise TransientError(f"{getattr(fn, '__name__', fn)}: {err}".splitlines()[0]) from err
            raise

    # -------------------------------------------------------------- create / delete

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create a child; False when it already exists (which counts as done)."""
        ns = manifest["metadata"]["namespace"]
        kind = manifest["kind"]
        fn = {
            "Job": self.batch.create_namespaced_job,
            "Deployment": self.apps.create_namespaced_deployment,
            "Service": self.core.create_namespaced_service,
        }[kind]
        try:
            self._call(fn, ns, manifest)
        except ApiException as err:
            if err.status == 409:
                return False
            raise
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job now, and its pods with it (background propagation)."""
        try:
            self._call(self.batch.delete_namespaced_job, name, namespace,
                       body=client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=0))
        except ApiException as err:
            if err.status != 404:
                raise

    # -------------------------------------------------------------- reads

    def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        result = self._call(self.batch.list_namespaced_job, namespace, label_selector=label_selector,
                            _preload_content=False)
        return list(json.loads(result.data)["items"])

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result = self._call(self.apps.read_namespaced_deployment, name, namespace, _preload_content=False)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return dict(json.loads(result.data))

    def patch_deployment(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self._call(self.apps.patch_namespaced_deployment, name, namespace, patch)

    def termination(self, namespace: str, job_name: str) -> dict[str, Any] | None:
        """The terminated state (exitCode, reason, message) of the Job's newest finished pod."""
        result = self._call(self.core.list_namespaced_pod, namespace,
                            label_selector=f"{JOB_NAME_LABEL}={job_name}", _preload_content=False)
        pods = json.loads(result.data)["items"]
        pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
        for pod in pods:
            for status in pod.get("status", {}).get("containerStatuses") or []:
                terminated = (status.get("state") or {}).get("terminated")
                if terminated:
                    return dict(terminated)
        return None

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A Secret's decoded data, or None when it does not exist. Never logged."""
        try:
            secret = self._call(self.core.read_namespaced_secret, name, namespace)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    # -------------------------------------------------------------- the AutoMLJob itself

    def patch_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        try:
            self._call(self.custom.patch_namespaced_custom_object_status, API_GROUP, VERSION, namespace,
                       PLURAL, name, {"status": patch})
        except ApiException as err:
            if err.status != 404:  # deleted meanwhile: nothing to report on
                raise

    def event(self, owner: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """A core/v1 Event on the AutoMLJob (what ``kubectl describe`` shows)."""
        meta = owner["metadata"]
        stamp = dt.datetime.now(dt.UTC)
        body = {
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"), "name": meta["name"],
                "namespace": meta["namespace"], "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        with contextlib.suppress(ApiException, TransientError):  # best-effort, as in the kubelet
            self._call(self.core.create_namespaced_event, meta["namespace"], body)
