"""pytest plugin: the session-scoped ``cluster`` fixture.

Enable with ``pytest_plugins = ["tests.cluster.fixtures"]`` in ``tests/conftest.py``.

The cluster starts on first use and is stopped once at the end of the session, in a
``finally`` (failing tests included), again from ``atexit`` if the session ends abnormally,
and by a reaper process if the pytest process itself is killed.

Escape hatch — use a cluster and S3 that someone else runs (kind, k3d, a real cluster):
set ``AUTOML_TEST_KUBECONFIG=/path/to/kubeconfig`` (or ``KUBECONFIG`` together with
``AUTOML_TEST_EXTERNAL=1``) and ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) with
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and optionally ``AWS_DEFAULT_REGION``).
Nothing is then started or stopped, and ``cluster.local`` is False.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator

import pytest

from . import build
from .cluster import Cluster, S3Settings


def external_settings() -> tuple[str, S3Settings] | None:
    kubeconfig = os.environ.get("AUTOML_TEST_KUBECONFIG")
    if not kubeconfig and os.environ.get("AUTOML_TEST_EXTERNAL") == "1":
        kubeconfig = os.environ.get("KUBECONFIG")
        if not kubeconfig:
            raise pytest.UsageError("AUTOML_TEST_EXTERNAL=1 needs KUBECONFIG")
    if not kubeconfig:
        return None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise pytest.UsageError(
            "an external cluster needs an S3 endpoint: set AWS_ENDPOINT_URL_S3 "
            "(or AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return kubeconfig.split(os.pathsep)[0], S3Settings(
        endpoint_url=endpoint,
        access_key=os.environ.get("AWS_ACCESS_KEY_ID", ""),
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        region=os.environ.get("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1")),
    )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    ext = external_settings()
    if ext is not None:
        yield Cluster.external(*ext)
        return
    if build.missing():
        if os.environ.get("AUTOML_CLUSTER_BUILD", "1") == "0":
            pytest.skip("cluster binaries not built and AUTOML_CLUSTER_BUILD=0")
        build.ensure_built()
    c = Cluster.start(nodes=int(os.environ.get("AUTOML_CLUSTER_NODES", "1")), watch_pid=os.getpid())
    atexit.register(c.stop)
    try:
        yield c
    finally:
        keep = os.environ.get("AUTOML_CLUSTER_KEEP_LOGS") == "1"
        c.stop(keep_workdir=keep)
        atexit.unregister(c.stop)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs the local Kubernetes control plane + MinIO (tests/cluster)"
    )
