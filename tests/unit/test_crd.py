"""One schema, no drift: the CRD is generated from the pydantic model, and both reach the
same verdict on the same example documents."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml

from automl.crd import render
from automl.errors import SpecError
from automl.spec import parse_job
from tests.conftest import ROOT
from tests.spec_cases import CASES

CRD_FILE = ROOT / "crds" / "automljob.yaml"


def test_the_committed_crd_is_generated_from_the_spec_model() -> None:
    assert CRD_FILE.read_text() == render(), "run: python -m automl.crd > crds/automljob.yaml"


def as_json_schema(node: Any) -> Any:
    """Read an OpenAPI v3 structural schema as JSON Schema, as the API server applies it
    with strict field validation (unknown fields rejected)."""
    if isinstance(node, list):
        return [as_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in out and not node.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


@pytest.fixture(scope="module")
def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    schema = copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    schema["properties"]["metadata"] = {"type": "object"}
    return as_json_schema(schema)


@pytest.mark.parametrize(("name", "valid", "document", "cel"), CASES, ids=[c[0] for c in CASES])
def test_model_and_crd_schema_agree(crd_schema: dict[str, Any], name: str, valid: bool, document: dict[str, Any], cel: bool) -> None:
    try:
        parse_job(document)
        model_accepts = True
    except SpecError:
        model_accepts = False
    assert model_accepts is valid, f"pydantic model: {name}"
    if cel:
        return  # a CEL rule decides this one; tests/integration/test_crd_apiserver.py checks it
    errors = list(jsonschema.Draft7Validator(crd_schema).iter_errors(document))
    assert (not errors) is valid, f"CRD schema: {name}: {[e.message for e in errors]}"
