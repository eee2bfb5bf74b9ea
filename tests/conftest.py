"""Shared test fixtures. The ``cluster`` fixture (a real local control plane + MinIO) comes
from the harness plugin in tests/cluster; everything else here is for the engine's tests."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

pytest_plugins = ["tests.cluster.fixtures"]

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def wait_for(fn: Callable[[], Any], timeout: float = 60, interval: float = 0.3, what: str = "") -> Any:
    """Poll ``fn`` until it returns something truthy; fail with the last value or error."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as err:  # noqa: BLE001 - keep polling, report the last error
            last = err
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or fn}: last={last!r}")


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Path]:
    """Write a manifest for a frame to tmp_path and return its path."""

    def make(
        frame: pd.DataFrame | None,
        label: str = "y",
        task: str = "classification",
        name: str = "test-job",
        train_file: str = "train.csv",
        **spec: Any,
    ) -> Path:
        train = tmp_path / train_file
        if frame is not None:
            if train_file.endswith(".parquet"):
                frame.to_parquet(train, index=False)
            else:
                frame.to_csv(train, index=False)
        body: dict[str, Any] = {
            "task": task,
            "data": {"train": str(train), "label": label},
            "search": {"maxCandidates": 3, "maxParallel": 1, "strategy": "portfolio"},
            "limits": {"timeout": "120s", "candidateTimeout": "60s"},
            "output": str(tmp_path / "run"),
        }
        for key, value in spec.items():
            if isinstance(value, dict) and isinstance(body.get(key), dict):
                body[key] = {**body[key], **value}
            else:
                body[key] = value
        manifest = {"apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": name}, "spec": body}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        return path

    return make


def classification_frame(n: int = 300, seed: int = 0, classes: int = 2) -> pd.DataFrame:
    """Numbers, a categorical with missing values, a date, a constant and an ID column."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    score = x1 + 0.5 * x2 + (color == "red") * 1.0 + rng.normal(scale=0.3, size=n)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    y = np.array([f"class_{k}" for k in np.digitize(score, edges)])
    frame = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n),
            "x1": x1.round(4),
            "x2": x2.round(4),
            "color": color,
            "signup": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "constant": 7,
            "y": y,
        }
    )
    frame.loc[frame.sample(frac=0.1, random_state=seed).index, "color"] = np.nan
    frame.loc[frame.sample(frac=0.05, random_state=seed + 1).index, "x2"] = np.nan
    return frame


def regression_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    group = rng.choice(list("abcd"), size=n)
    y = 3 * x1 - 2 * x2 + (group == "a") * 2 + rng.normal(scale=0.5, size=n)
    return pd.DataFrame({"x1": x1.round(4), "x2": x2.round(4), "group": group, "y": y.round(4)})
