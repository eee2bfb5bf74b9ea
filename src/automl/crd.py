"""Generate ``crds/automljob.yaml`` from the pydantic models in :mod:`automl.spec`.

Kubernetes needs a *structural* OpenAPI v3 schema: no ``$ref``, no ``anyOf`` with null,
no ``additionalProperties: false``. This module turns pydantic's JSON Schema into one, adds
the CEL rules, defaults for nested objects (so the API server fills in nested defaults),
printer columns and the status subresource. ``python -m automl.crd`` prints the CRD; a
unit test fails when the committed file differs from what this produces.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml

from automl.spec import API_GROUP, CEL_RULES, KIND, AutoMLJobSpec

PLURAL = "automljobs"
SHORT_NAMES = ["amlj"]


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        merged = {**copy.deepcopy(target), **{k: v for k, v in schema.items() if k != "$ref"}}
        return _inline(merged, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "$defs"):
            continue
        if key == "additionalProperties" and value is False:
            continue  # the API server prunes or (strict validation) rejects unknown fields
        if key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _inline(value, defs)
        elif key == "anyOf":
            out.update(_any_of(value, defs))
        else:
            out[key] = value
    if out.get("default", 0) is None:
        del out["default"]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if out.get("type") == "object" and not out.get("properties") and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def _any_of(options: list[dict[str, Any]], defs: dict[str, Any]) -> dict[str, Any]:
    non_null = [o for o in options if o.get("type") != "null"]
    nullable = len(non_null) < len(options)
    types = sorted(o.get("type", "") for o in non_null)
    if types == ["integer", "string"]:
        result: dict[str, Any] = {"x-kubernetes-int-or-string": True}
    elif len(non_null) == 1:
        result = _inline(non_null[0], defs)
    else:
        raise ValueError(f"cannot express anyOf {options} in a structural schema")
    if nullable:
        result["nullable"] = True
    return result


def _object_defaults(schema: dict[str, Any]) -> None:
    """Give optional object-valued properties ``default: {}`` so nested defaults apply."""
    required = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub:
            _object_defaults(sub)
            if name not in required and "default" not in sub:
                sub["default"] = {}


def spec_schema() -> dict[str, Any]:
    raw = AutoMLJobSpec.model_json_schema(by_alias=True, mode="validation")
    schema = _inline(raw, raw.get("$defs", {}))
    _object_defaults(schema)
    schema["x-kubernetes-validations"] = CEL_RULES["spec"]
    return schema


STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "phase": {
            "type": "string",
            "enum": ["Pending", "Preparing", "Training", "Finalizing", "Deploying", "Succeeded", "Failed"],
        },
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer"},
        "candidates": {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("total", "running", "succeeded", "failed")},
        },
        "progress": {"type": "string"},
        "best": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "endpoint": {"type": "string"},
    },
}


def crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": SHORT_NAMES,
                "categories": ["automl"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {"name": "Candidates", "type": "string", "jsonPath": ".status.progress",
                         "description": "candidates done / maximum"},
                        {"name": "Best", "type": "string", "jsonPath": ".status.best.algorithm"},
                        {"name": "Score", "type": "number", "jsonPath": ".status.best.score"},
                        {"name": "Metric", "type": "string", "jsonPath": ".spec.primaryMetric",
                         "priority": 1},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "An automated machine learning job on tabular data.",
                            "required": ["spec"],
                            "x-kubernetes-validations": CEL_RULES["root"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": STATUS_SCHEMA,
                            },
                        }
                    },
                }
            ],
        },
    }


HEADER = "# Generated by `python -m automl.crd` from src/automl/spec.py. Do not edit by hand.\n"


def render() -> str:
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
