"""Example AutoMLJob documents with the verdict both the pydantic model and the CRD schema
must reach. ``cel`` marks rules the API server checks with CEL (a JSON Schema validator
cannot), so the unit test skips those and the API-server test covers them."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "apiVersion": "automl.dev/v1alpha1",
    "kind": "AutoMLJob",
    "metadata": {"name": "case"},
    "spec": {"task": "classification", "data": {"train": "s3://data/train.csv", "label": "y"}},
}


def case(
    name: str, valid: bool, patch: dict[str, Any], cel: bool = False, job_name: str = "case"
) -> tuple[str, bool, dict[str, Any], bool]:
    document = copy.deepcopy(BASE)
    document["metadata"]["name"] = job_name
    spec = document["spec"]
    for dotted, value in patch.items():
        target = spec
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        if value is ...:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return name, valid, document, cel


CASES = [
    case("minimal", True, {}),
    case("full", True, {
        "data.test": "s3://data/test.csv",
        "data.credentialsSecret": "minio-credentials",
        "data.dropColumns": ["customer_id"],
        "primaryMetric": "log_loss",
        "validation": {"method": "cv", "folds": 5, "holdoutFraction": 0.2},
        "search": {"maxCandidates": 40, "maxParallel": 4, "allowedAlgorithms": ["lightgbm", "knn"],
                   "blockedAlgorithms": [], "strategy": "auto"},
        "limits": {"timeout": "30m", "candidateTimeout": "5m", "exitScore": 0.99, "maxFailedCandidates": 5},
        "ensemble": {"enabled": True, "size": 20, "maxMembers": 5},
        "seed": 42,
        "trainer": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": 2}},
                    "annotations": {"sidecar.istio.io/inject": "false"}, "nodeSelector": {"pool": "ml"},
                    "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
                    "serviceAccountName": "trainer"},
        "serving": {"enabled": True, "replicas": 2, "labels": {"team": "risk"}},
        "output": "s3://models/churn/",
    }),
    case("regression", True, {"task": "regression", "primaryMetric": "rmse"}),
    case("local path", True, {"data.train": "examples/data/train.parquet"}),
    case("exit score null", True, {"limits": {"exitScore": None}}),
    case("missing task", False, {"task": ...}),
    case("missing label", False, {"data.label": ...}),
    case("empty label", False, {"data.label": ""}),
    case("unknown task", False, {"task": "clustering"}),
    case("unknown metric", False, {"primaryMetric": "auc_weighted"}),
    case("unknown algorithm", False, {"search": {"allowedAlgorithms": ["xgboost"]}}),
    case("string for an integer", False, {"search": {"maxParallel": "4"}}),
    case("float for an integer", False, {"search": {"maxCandidates": 2.5}}),
    case("zero parallel", False, {"search": {"maxParallel": 0}}),
    case("too many folds", False, {"validation": {"method": "cv", "folds": 50}}),
    case("unknown validation method", False, {"validation": {"method": "bootstrap"}}),
    case("bad duration", False, {"limits": {"timeout": "ten minutes"}}),
    case("bad secret name", False, {"data.credentialsSecret": "Not_A_Name"}),
    case("unknown field", False, {"surprise": True}),
    case("unknown nested field", False, {"search": {"maxParallels": 2}}),
    case("resources with an unknown key", False, {"trainer": {"resources": {"requests": {"cpu": "1"}, "limit": {}}}}),
    case("name of 53 characters", True, {}, job_name="n" * 53),
    case("name too long for child names", False, {}, cel=True, job_name="n" * 54),
    case("parallel above candidates", False, {"search": {"maxCandidates": 2, "maxParallel": 4}}, cel=True),
    case("regression metric on classification", False, {"primaryMetric": "r2"}, cel=True),
]
