"""One schema, no drift, checked by the real API server: the CRD served from
crds/automljob.yaml reaches the same verdict as the pydantic model on every example
document, CEL rules included (server-side dry run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from automl.errors import SpecError
from automl.spec import parse_job
from tests.conftest import ROOT
from tests.spec_cases import CASES

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def crd_namespace(cluster) -> str:  # type: ignore[no-untyped-def]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds" / "automljob.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", "crd/automljobs.automl.dev", "--timeout=60s")
    return cluster.create_namespace("crd-drift")


@pytest.mark.parametrize(("name", "valid", "document", "cel"), CASES, ids=[c[0] for c in CASES])
def test_api_server_and_model_agree(cluster, crd_namespace: str, name: str, valid: bool, document: dict[str, Any], cel: bool) -> None:  # type: ignore[no-untyped-def]
    try:
        parse_job(document)
        model_accepts = True
    except SpecError:
        model_accepts = False
    body = {**document, "metadata": {**document["metadata"], "namespace": crd_namespace}}
    applied = cluster.kubectl("create", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-",
                              input=json.dumps(body), check=False)
    server_accepts = applied.returncode == 0
    assert model_accepts is valid, name
    assert server_accepts is valid, f"{name}: {applied.stderr.strip()}"


def test_the_server_fills_in_defaults(cluster, crd_namespace: str) -> None:  # type: ignore[no-untyped-def]
    name, _, document, _ = CASES[0]
    body = {**document, "metadata": {"name": "defaults", "namespace": crd_namespace}}
    created = cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(body))
    spec = json.loads(created.stdout)["spec"]
    model = parse_job(document).spec
    assert spec["search"]["maxCandidates"] == model.search.max_candidates
    assert spec["limits"]["timeout"] == model.limits.timeout
    assert spec["validation"]["method"] == model.validation.method
