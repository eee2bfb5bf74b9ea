"""The engine against real S3 (MinIO from the test cluster): data read from s3://, the whole
run written to s3://, and a model loaded back from there."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import PYTHON, classification_frame

pytestmark = pytest.mark.cluster


def automl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "automl.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_a_run_reads_and_writes_s3_and_its_model_predicts(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bucket = cluster.make_bucket("engine-s3")
    s3 = cluster.s3_client()
    frame = classification_frame(n=300)
    parquet = io.BytesIO()
    frame.iloc[:240].to_parquet(parquet, index=False)
    s3.put_object(Bucket=bucket, Key="data/train.parquet", Body=parquet.getvalue())
    s3.put_object(Bucket=bucket, Key="data/test.csv", Body=frame.iloc[240:].to_csv(index=False).encode())
    manifest = {
        "apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": "s3-run"},
        "spec": {"task": "classification",
                 "data": {"train": f"s3://{bucket}/data/train.parquet", "test": f"s3://{bucket}/data/test.csv", "label": "y"},
                 "search": {"maxCandidates": 3, "maxParallel": 2, "strategy": "portfolio"},
                 "limits": {"timeout": "120s"}, "output": f"s3://{bucket}/runs/s3-run"},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(manifest))
    env = cluster.s3_env()

    run = automl(env, "run", str(tmp_path / "job.yaml"))
    assert run.returncode == 0, run.stderr
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="runs/s3-run/")["Contents"]}
    assert {"runs/s3-run/result.json", "runs/s3-run/leaderboard.csv", "runs/s3-run/model/model.pkl",
            "runs/s3-run/model/model.sha256", "runs/s3-run/candidates/c0000/result.json"} <= keys
    result = json.loads(s3.get_object(Bucket=bucket, Key="runs/s3-run/result.json")["Body"].read())
    assert result["status"] == "succeeded" and result["best"]["test_score"] > 0.7

    frame.iloc[240:].to_csv(tmp_path / "rows.csv", index=False)
    predicted = automl(env, "predict", f"s3://{bucket}/runs/s3-run", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "p.csv"))
    assert predicted.returncode == 0, predicted.stderr
    assert len(pd.read_csv(tmp_path / "p.csv")) == 60


def test_s3_problems_are_one_clear_line(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bucket = cluster.make_bucket("engine-s3-errors")
    manifest = {
        "apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": "s3-missing"},
        "spec": {"task": "regression", "data": {"train": f"s3://{bucket}/nope.csv", "label": "y"},
                 "output": str(tmp_path / "run")},
    }
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(manifest))
    missing = automl(cluster.s3_env(), "run", str(tmp_path / "job.yaml"))
    assert missing.returncode == 2 and f"s3://{bucket}/nope.csv: no such object" in missing.stderr
    wrong_keys = {**cluster.s3_env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    denied = automl(wrong_keys, "run", str(tmp_path / "job.yaml"))
    assert denied.returncode == 2 and "access denied" in denied.stderr
    assert "not-the-secret" not in denied.stderr + denied.stdout
