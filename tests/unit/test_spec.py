"""The AutoMLJob spec: defaults per task, and errors that name the field and the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from automl.errors import SpecError
from automl.spec import ALGORITHMS, Task, load_job, parse_duration, parse_job


def doc(**spec: Any) -> dict[str, Any]:
    body = {"task": "classification", "data": {"train": "s3://bucket/train.csv", "label": "y"}, **spec}
    return {"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": "churn"}, "spec": body}


def test_defaults_depend_on_the_task() -> None:
    classification = parse_job(doc())
    regression = parse_job(doc(task="regression"))
    assert classification.spec.metric == "roc_auc"
    assert regression.spec.metric == "r2"
    assert classification.spec.validation.method == "auto"
    assert classification.spec.limits.timeout_seconds == 3600
    assert classification.spec.candidate_algorithms() == list(ALGORITHMS[Task.classification])


def test_allowed_and_blocked_algorithms_narrow_the_search() -> None:
    job = parse_job(doc(search={"allowedAlgorithms": ["lightgbm", "knn", "random_forest"], "blockedAlgorithms": ["knn"]}))
    assert job.spec.candidate_algorithms() == ["lightgbm", "random_forest"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"search": {"allowedAlgorithms": ["xgboost"]}}, "spec.search.allowedAlgorithms.0"),
        ({"search": {"allowedAlgorithms": ["ridge"]}}, "'ridge' is not a classification algorithm"),
        ({"primaryMetric": "r2"}, "primaryMetric 'r2' is not a classification metric"),
        ({"search": {"maxParallel": "four"}}, "spec.search.maxParallel: Input should be a valid integer"),
        ({"search": {"maxParallel": "4"}}, "spec.search.maxParallel: Input should be a valid integer"),
        ({"search": {"maxParallel": 8, "maxCandidates": 4}}, "maxParallel (8) must not exceed search.maxCandidates (4)"),
        ({"limits": {"timeout": "ten minutes"}}, "spec.limits.timeout: String should match pattern"),
        ({"task": "clustering"}, "spec.task: Input should be 'classification' or 'regression'"),
        ({"search": {"blockedAlgorithms": list(ALGORITHMS[Task.classification])}}, "leave no algorithm to try"),
        ({"surprise": 1}, "spec.surprise: is not a known field"),
        ({"data": {"train": "x.csv"}}, "spec.data.label: is required"),
    ],
)
def test_invalid_specs_name_the_field_and_the_reason(spec: dict[str, Any], expected: str) -> None:
    document = doc(**spec)
    if "data" in spec:
        document["spec"]["data"] = spec["data"]
    with pytest.raises(SpecError) as caught:
        parse_job(document)
    assert expected in str(caught.value)


def test_durations_read_like_go_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 minutes")


def test_a_manifest_file_is_read_like_kubectl_apply_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        "# a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ml}\n---\n"
        "apiVersion: automl.dev/v1alpha1\nkind: AutoMLJob\nmetadata: {name: churn, namespace: ml}\n"
        "spec:\n  task: regression\n  data: {train: data.csv, label: price}\n  limits: {timeout: 5m}\n"
    )
    job = load_job(path)
    assert job.name == "churn"
    assert job.spec.limits.timeout_seconds == 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "no such manifest file"),
        ("spec: [unclosed", "not valid YAML"),
        ("apiVersion: v1\nkind: ConfigMap\n", "expected exactly one document of kind AutoMLJob, found 0"),
    ],
)
def test_unreadable_manifests_get_one_clear_error(tmp_path: Path, text: str | None, expected: str) -> None:
    path = tmp_path / "job.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SpecError, match=expected):
        load_job(path)
