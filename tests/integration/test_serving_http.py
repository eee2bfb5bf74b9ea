"""The prediction service as a client sees it: a real server process on a loopback port.

Models are small sklearn pipelines built here with the engine's featurization (the same
first steps as every trained candidate), saved in the artifact format. Each server runs as
``python -m automl.serving`` in a subprocess on a free 127.0.0.1 port and is always stopped,
even when an assertion fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.pipeline import Pipeline

from automl import artifact
from automl.featurize import build_featurizer
from automl.model import AutoMLModel, Member
from automl.schema import infer_schema
from automl.spec import Task

PYTHON = sys.executable
CLASSES = ["no", "yes"]


# -- models ----------------------------------------------------------------------------------


def churn_frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            "age": rng.integers(18, 80, n),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50_000, 15_000, n).round(2)),
            "plan": rng.choice(["basic", "pro", "enterprise"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "signup": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )
    score = (frame["age"] > 50).astype(int) + (frame["plan"] == "basic").astype(int)
    label = pd.Series(np.where(score + rng.random(n) > 1.2, "yes", "no"), name="churned")
    return frame, label


def save(model: AutoMLModel, location: Path, name: str) -> artifact.ArtifactMetadata:
    return artifact.save_model(
        model,
        str(location),
        {
            "name": name,
            "task": model.task,
            "algorithm": model.algorithm,
            "members": [
                {"id": m.candidate_id, "algorithm": m.algorithm, "weight": m.weight} for m in model.members
            ],
            "primary_metric": "roc_auc" if model.task is Task.classification else "r2",
            "validation_score": 0.9,
            "classes": model.classes,
            "feature_schema": model.schema,
        },
    )


def build_classifier(location: Path) -> artifact.ArtifactMetadata:
    X, y = churn_frame()
    schema = infer_schema(X, "churned")
    pipeline = Pipeline(
        [*build_featurizer(schema, "tree", True).steps, ("model", RandomForestClassifier(20, random_state=0))]
    )
    pipeline.fit(X, pd.Series(y).map({c: i for i, c in enumerate(CLASSES)}))
    model = AutoMLModel(
        Task.classification, schema, [Member("c0000", "random_forest", 1.0, pipeline)], CLASSES
    )
    return save(model, location, "churn")


def build_regressor(location: Path) -> artifact.ArtifactMetadata:
    X, _ = churn_frame(seed=1)
    y = X["age"] * 2.0 + (X["plan"] == "pro") * 10
    schema = infer_schema(X, "spend")
    pipeline = Pipeline(
        [*build_featurizer(schema, "tree", False).steps, ("model", RandomForestRegressor(10, random_state=0))]
    )
    pipeline.fit(X, y)
    model = AutoMLModel(Task.regression, schema, [Member("c0001", "random_forest", 1.0, pipeline)])
    return save(model, location, "spend")


class SlowPipeline:
    """Sleeps ``delay`` seconds per call, then answers like a 2-class classifier (pickled by value)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.steps = [("model", self)]

    def get_params(self) -> dict[str, Any]:
        return {}

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray:
        time.sleep(self.delay)
        p = (rows["age"].to_numpy(dtype=float) > 50).astype(float)
        return np.column_stack([1 - p, p])


def build_slow(location: Path, delay: float) -> artifact.ArtifactMetadata:
    """A model whose predict takes ``delay`` s, written with cloudpickle so the server needs no test code."""
    import cloudpickle

    X, _ = churn_frame()
    schema = infer_schema(X, "churned")
    model = AutoMLModel(
        Task.classification, schema, [Member("c0002", "slow", 1.0, SlowPipeline(delay))], CLASSES
    )
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        payload = cloudpickle.dumps(model)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    digest = artifact.sha256_hex(payload)
    meta = artifact.ArtifactMetadata(
        name="slow",
        task=Task.classification,
        algorithm="slow",
        members=[],
        primary_metric="roc_auc",
        classes=CLASSES,
        feature_schema=schema,
        sha256=digest,
        size_bytes=len(payload),
    )
    location.mkdir(parents=True, exist_ok=True)
    (location / artifact.MODEL_FILE).write_bytes(payload)
    (location / artifact.META_FILE).write_text(meta.model_dump_json())
    return meta


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serving-models")
    build_classifier(root / "churn")
    build_regressor(root / "spend")
    build_slow(root / "slow", delay=1.0)
    return {"churn": root / "churn", "spend": root / "spend", "slow": root / "slow"}


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=20, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(lambda: httpx.get(f"{self.url}/v2/health/ready").status_code == 200, timeout, self)


def wait_for(condition: Any, timeout: float, server: Server) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server exited with {server.process.returncode}:\n{server.output()}")
        with contextlib.suppress(httpx.TransportError):
            if condition():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s; server log:\n{server.output()}")


@contextlib.contextmanager
def running(
    location: Path | str, *args: str, tmp_path: Path, ready: bool = True, env: dict[str, str] | None = None
) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    command = [PYTHON, "-m", "automl.serving", "--model-uri", str(location), "--port", str(port), *args]
    if "--workers" not in args:
        command += ["--workers", "1"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_for(lambda: httpx.get(f"{server.url}/v2/health/live").status_code == 200, 60, server)
        if ready:
            server.wait_ready()
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@pytest.fixture(scope="module")
def churn(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One classifier server shared by the endpoint tests, with small limits to test 413s."""
    tmp = tmp_path_factory.mktemp("churn-server")
    with running(models["churn"], "--max-rows", "100", "--max-body-bytes", "65536", tmp_path=tmp) as server:
        yield server


def rows(n: int, seed: int = 3) -> list[dict[str, Any]]:
    X, _ = churn_frame(n, seed)
    records = X.to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in records]


def v2_request(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Column-named inputs as MLServer's pandas codec sends them."""
    frame = pd.DataFrame(records)
    inputs = []
    for name in frame.columns:
        values = frame[name].tolist()
        if all(isinstance(v, str) or v is None for v in values):
            inputs.append(
                {
                    "name": name,
                    "datatype": "BYTES",
                    "shape": [len(values), 1],
                    "data": values,
                    "parameters": {"content_type": "str"},
                }
            )
        else:
            dtype = "INT64" if all(isinstance(v, int) for v in values) else "FP64"
            data = [None if isinstance(v, float) and np.isnan(v) else v for v in values]
            inputs.append({"name": name, "datatype": dtype, "shape": [len(values), 1], "data": data})
    return {"id": "req-1", "parameters": {"content_type": "pd"}, "inputs": inputs}


# -- endpoints -------------------------------------------------------------------------------


def test_health_live_and_ready_once_the_model_is_loaded(churn: Server) -> None:
    with churn.client() as http:
        assert http.get("/v2/health/live").json() == {"live": True}
        assert http.get("/v2/health/ready").json() == {"ready": True}
        assert http.get("/v2/models/churn/ready").json() == {"name": "churn", "ready": True}
        assert http.get("/v1/models/churn").json() == {"name": "churn", "ready": True}
        assert http.get("/v2").json()["name"] == "kube-automl"


def test_v2_metadata_lists_inputs_with_datatypes_and_outputs(churn: Server) -> None:
    meta = churn.client().get("/v2/models/churn").json()
    inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert inputs == {"age": "INT64", "income": "FP64", "plan": "BYTES", "region": "BYTES", "signup": "BYTES"}
    assert "customer_id" not in inputs  # ID-like, dropped in training
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    assert meta["outputs"][1]["shape"] == [-1, 2]
    assert meta["parameters"]["classes"] == CLASSES


def test_v2_infer_with_column_named_inputs_and_pandas_content_type(churn: Server) -> None:
    body = v2_request(rows(5))
    answer = churn.client().post("/v2/models/churn/infer", json=body)
    assert answer.status_code == 200, answer.text
    out = answer.json()
    assert out["model_name"] == "churn" and out["id"] == "req-1"
    predict, proba = out["outputs"]
    assert predict["name"] == "predict" and predict["datatype"] == "BYTES" and predict["shape"] == [5]
    assert set(predict["data"]) <= set(CLASSES)
    assert proba["shape"] == [5, 2] and len(proba["data"]) == 10
    assert np.allclose(np.asarray(proba["data"]).reshape(5, 2).sum(axis=1), 1.0)


def test_v2_infer_agrees_with_the_model_in_process(churn: Server, models: dict[str, Path]) -> None:
    records = rows(20, seed=9)
    model, _ = artifact.load_model(str(models["churn"]))
    expected = model.predict_proba(pd.DataFrame(records))
    out = churn.client().post("/v2/models/churn/infer", json=v2_request(records)).json()
    assert np.allclose(np.asarray(out["outputs"][1]["data"]).reshape(20, 2), expected)


def test_v2_infer_takes_one_2d_tensor_in_column_order_and_selected_outputs(churn: Server) -> None:
    records = rows(3)
    matrix = [list(r.values()) for r in records]  # every training column, dropped ones included
    body = {
        "inputs": [{"name": "input-0", "datatype": "BYTES", "shape": [3, len(matrix[0])], "data": matrix}],
        "outputs": [{"name": "predict_proba"}],
    }
    out = churn.client().post("/v2/models/churn/infer", json=body).json()
    assert [o["name"] for o in out["outputs"]] == ["predict_proba"]


def test_v1_predict_takes_records_or_lists_in_schema_order(churn: Server) -> None:
    records = rows(4)
    with churn.client() as http:
        by_name = http.post("/v1/models/churn:predict", json={"instances": records}).json()
        by_position = http.post(
            "/v1/models/churn:predict", json={"instances": [list(r.values()) for r in records]}
        ).json()
    assert len(by_name["predictions"]) == 4
    assert by_name == by_position


def test_plain_predict_returns_labels_and_class_probabilities(churn: Server) -> None:
    out = churn.client().post("/predict", json=rows(3)).json()
    assert len(out["predictions"]) == 3 and set(out["predictions"]) <= set(CLASSES)
    assert out["classes"] == CLASSES
    assert all(len(p) == 2 and abs(sum(p) - 1) < 1e-9 for p in out["probabilities"])


def test_regression_model_answers_values_without_probabilities(
    models: dict[str, Path], tmp_path: Path
) -> None:
    with running(models["spend"], tmp_path=tmp_path) as server, server.client() as http:
        out = http.post("/predict", json=rows(3)).json()
        assert "probabilities" not in out and all(isinstance(v, float) for v in out["predictions"])
        v2 = http.post("/v2/models/spend/infer", json=v2_request(rows(2))).json()
        assert [o["name"] for o in v2["outputs"]] == ["predict"] and v2["outputs"][0]["datatype"] == "FP64"


def test_metrics_count_requests_rows_errors_and_load_time(churn: Server) -> None:
    with churn.client() as http:
        http.post("/predict", json=rows(7))
        http.post("/predict", content=b"{not json")
        text = http.get("/metrics").text
    assert 'automl_serving_requests_total{code="200",endpoint="/predict"}' in text
    assert 'automl_serving_request_seconds_bucket{endpoint="/predict",le="0.005"}' in text
    assert _metric(text, 'automl_serving_rows_predicted_total{endpoint="/predict"}') >= 7
    assert _metric(text, 'automl_serving_errors_total{kind="bad_request"}') >= 1
    assert _metric(text, "automl_serving_model_load_seconds") > 0


def _metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in /metrics:\n{text}")


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "fragments"),
    [
        (lambda r: r.pop("plan"), 422, ["missing column", "'plan'"]),
        (lambda r: r.update(age="old"), 422, ["'age'", "row 1", "expected a number", "'old'"]),
        (lambda r: r.update(plan={"a": 1}), 422, ["'plan'", "expected a category"]),
        (lambda r: r.update(signup="not a date"), 422, ["'signup'", "not a date"]),
        (lambda r: r.update(age=[1, 2]), 422, ["'age'", "expected a number"]),
    ],
    ids=["missing-column", "wrong-type-number", "wrong-type-category", "bad-date", "nested-value"],
)
def test_bad_input_is_a_4xx_naming_the_column(
    churn: Server, change: Any, status: int, fragments: list[str]
) -> None:
    records = rows(3)
    if "missing" in fragments[0]:
        for r in records:
            change(r)
    else:
        change(records[1])
    for path, body in (("/predict", records), ("/v1/models/churn:predict", {"instances": records})):
        answer = churn.client().post(path, json=body)
        assert answer.status_code == status, (path, answer.text)
        for fragment in fragments:
            assert fragment in answer.json()["error"], (path, answer.text)


def test_v2_bad_inputs_name_the_input(churn: Server) -> None:
    body = v2_request(rows(3))
    body["inputs"][1]["data"][2] = "lots"  # age
    answer = churn.client().post("/v2/models/churn/infer", json=body)
    assert answer.status_code == 422 and "'age'" in answer.json()["error"]
    body = v2_request(rows(3))
    body["inputs"][1]["shape"] = [4, 1]
    answer = churn.client().post("/v2/models/churn/infer", json=body)
    assert answer.status_code == 400 and "'age'" in answer.json()["error"]
    body = v2_request(rows(3))
    body["inputs"] = [i for i in body["inputs"] if i["name"] != "region"]
    answer = churn.client().post("/v2/models/churn/infer", json=body)
    assert answer.status_code == 422 and "'region'" in answer.json()["error"]


def test_unseen_category_is_accepted_and_predicted_like_a_missing_one(churn: Server) -> None:
    records = rows(2)
    records[0]["plan"] = "platinum-never-seen"
    records[1]["plan"] = None
    records[1].update({k: v for k, v in records[0].items() if k != "plan"})
    out = churn.client().post("/predict", json=records)
    assert out.status_code == 200, out.text
    assert out.json()["probabilities"][0] == out.json()["probabilities"][1]


def test_null_and_nan_are_missing_values_and_infinity_is_refused(churn: Server) -> None:
    records = rows(2)
    records[0]["income"] = None
    with churn.client() as http:
        assert http.post("/predict", json=records).status_code == 200
        # Python's json module writes NaN for float("nan"): imputed like null.
        nan_body = json.dumps([{**records[1], "income": float("nan")}])
        assert http.post("/predict", content=nan_body).status_code == 200
        inf_body = json.dumps([{**records[1], "income": float("inf")}])
        answer = http.post("/predict", content=inf_body)
    assert answer.status_code == 422
    assert "'income'" in answer.json()["error"] and "inf" in answer.json()["error"]


def test_too_many_rows_and_too_large_bodies_are_413(churn: Server) -> None:
    with churn.client() as http:
        answer = http.post("/predict", json=rows(101))
        assert answer.status_code == 413 and "101 rows" in answer.json()["error"]
        answer = http.post("/predict", json=[{"pad": "x" * 70_000}])
        assert answer.status_code == 413 and "65536" in answer.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
            yield b"["
            for _ in range(100):
                yield b'{"pad": "' + b"x" * 1000 + b'"},'
            yield b"{}]"

        answer = http.post("/predict", content=chunks())
        assert answer.status_code == 413
        assert http.get("/v2/health/live").status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/predict", b"{not json", 400),
        ("/predict", b"", 400),
        ("/predict", b'"a string"', 400),
        ("/predict", b"[1, 2]", 400),
        ("/predict", b"[]", 422),
        ("/predict", b"[{}, 3]", 400),
        ("/v1/models/churn:predict", b'{"rows": []}', 400),
        ("/v2/models/churn/infer", b'{"inputs": "x"}', 400),
        (
            "/v2/models/churn/infer",
            b'{"inputs": [{"name": "age", "datatype": "TEXT", "shape": [1], "data": [1]}]}',
            400,
        ),
        ("/v2/models/churn/infer", b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 400),
    ],
)
def test_malformed_requests_are_4xx_never_500(churn: Server, path: str, body: bytes, status: int) -> None:
    answer = churn.client().post(path, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]


def test_unknown_model_and_route_are_404(churn: Server) -> None:
    with churn.client() as http:
        answer = http.post("/v2/models/other/infer", json=v2_request(rows(1)))
        assert answer.status_code == 404 and "'churn'" in answer.json()["error"]
        assert http.get("/v2/models/other").status_code == 404
        assert http.get("/nowhere").status_code == 404
        assert http.get("/predict").status_code == 405


# -- loading ---------------------------------------------------------------------------------


def test_sha256_mismatch_refuses_to_load_and_stays_not_ready(models: dict[str, Path], tmp_path: Path) -> None:
    wrong = "0" * 64
    with (
        running(models["churn"], "--sha256", wrong, tmp_path=tmp_path, ready=False) as server,
        server.client() as http,
    ):
        wait_for(lambda: http.get("/v2/health/ready").json().get("phase") == "failed", 30, server)
        health = http.get("/v2/health/ready")
        assert health.status_code == 503
        assert "sha256" in health.json()["reason"] and wrong in health.json()["reason"]
        assert http.get("/v2/health/live").status_code == 200
        answer = http.post("/predict", json=rows(1))
        assert answer.status_code == 503 and "sha256" in answer.json()["error"]
        assert http.get("/v2/models/churn/ready").status_code == 503
        assert "refusing to load" in server.output()


def test_expected_sha256_from_the_environment_is_enforced(models: dict[str, Path], tmp_path: Path) -> None:
    meta = artifact.load_metadata(str(models["churn"]))
    with running(models["churn"], tmp_path=tmp_path, env={"AUTOML_MODEL_SHA256": meta.sha256}) as server:
        assert server.client().get("/v2/health/ready").status_code == 200


def test_not_ready_while_loading_then_ready(models: dict[str, Path], tmp_path: Path) -> None:
    """model.pkl is a FIFO: the load blocks until the test writes the pickle into it."""
    slow = tmp_path / "model"
    slow.mkdir()
    for name in (artifact.META_FILE, artifact.SHA_FILE):
        (slow / name).write_bytes((models["churn"] / name).read_bytes())
    os.mkfifo(slow / artifact.MODEL_FILE)
    with running(slow, tmp_path=tmp_path, ready=False) as server, server.client() as http:
        answer = http.get("/v2/health/ready")
        assert answer.status_code == 503 and answer.json()["phase"] == "loading"
        # A prediction that arrives during the load waits for it instead of failing: with
        # several workers, a request may reach one that is still loading.
        waiting: list[httpx.Response] = []
        caller = threading.Thread(target=lambda: waiting.append(httpx.post(f"{server.url}/predict", json=rows(1), timeout=60)))
        caller.start()
        time.sleep(0.5)
        assert caller.is_alive() and not waiting
        with (slow / artifact.MODEL_FILE).open("wb") as fifo:
            fifo.write((models["churn"] / artifact.MODEL_FILE).read_bytes())
        caller.join(60)
        assert waiting[0].status_code == 200
        server.wait_ready(30)
        assert http.post("/predict", json=rows(1)).status_code == 200


def test_missing_model_is_not_ready_with_the_reason(tmp_path: Path) -> None:
    with running(tmp_path / "nothing", tmp_path=tmp_path, ready=False) as server, server.client() as http:
        wait_for(lambda: http.get("/v2/health/ready").json().get("phase") == "failed", 30, server)
        assert "no such file" in http.get("/v2/health/ready").json()["reason"]


# -- concurrency -----------------------------------------------------------------------------


def test_concurrent_requests_share_model_calls_and_shutdown_finishes_them(
    models: dict[str, Path], tmp_path: Path
) -> None:
    """The slow model takes 1 s per call: requests arriving during a call share the next one."""
    with running(models["slow"], tmp_path=tmp_path) as server:
        results: list[httpx.Response] = []

        def call(i: int) -> None:
            results.append(httpx.post(f"{server.url}/predict", json=rows(1, seed=i), timeout=30))

        def in_flight() -> float:  # not counting the /metrics request that asks
            return _metric(httpx.get(f"{server.url}/metrics").text, "automl_serving_requests_in_flight") - 1

        def start(n: int, offset: int) -> list[threading.Thread]:
            threads = [threading.Thread(target=call, args=(offset + i,)) for i in range(n)]
            for t in threads:
                t.start()
            return threads

        threads = start(1, 0)
        wait_for(lambda: in_flight() == 1, 20, server)
        threads += start(5, 1)
        wait_for(lambda: in_flight() == 6, 20, server)
        for t in threads:
            t.join(30)
        assert [r.status_code for r in results] == [200] * 6
        text = httpx.get(f"{server.url}/metrics").text
        assert _metric(text, "automl_serving_batch_requests_count") == 2  # the first alone, then 5 together
        assert _metric(text, "automl_serving_batch_requests_sum") == 6

        # Graceful shutdown: SIGTERM while requests are in flight; they still get their answers.
        results.clear()
        threads = start(3, 10)
        wait_for(lambda: in_flight() == 3, 20, server)
        server.process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(30)
        assert server.process.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it handled
        assert [r.status_code for r in results] == [200] * 3


def test_load_several_clients_two_workers_no_errors_no_lost_requests(
    models: dict[str, Path], tmp_path: Path
) -> None:
    clients, per_client = 6, 40
    with running(models["churn"], "--workers", "2", tmp_path=tmp_path) as server:
        payloads = [("/predict", rows(1, seed=i)) for i in range(5)] + [
            ("/v2/models/churn/infer", v2_request(rows(10, seed=7))),
            ("/v1/models/churn:predict", {"instances": rows(3, seed=8)}),
        ]
        sent_rows = 0
        lock = threading.Lock()

        def client(k: int) -> list[int]:
            nonlocal sent_rows
            codes = []
            with server.client() as http:
                for i in range(per_client):
                    path, body = payloads[(k + i) % len(payloads)]
                    codes.append(http.post(path, json=body).status_code)
                    n = (
                        len(body["instances"])
                        if "instances" in body
                        else (body["inputs"][0]["shape"][0] if "inputs" in body else len(body))
                    )
                    with lock:
                        sent_rows += n
            return codes

        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            codes = [c for result in pool.map(client, range(clients)) for c in result]
        elapsed = time.monotonic() - started
        assert codes == [200] * clients * per_client
        assert elapsed < 60

        def total(text: str, prefix: str, *, skip: tuple[str, ...] = ()) -> float:
            return sum(
                float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith(prefix) and not any(s in line for s in skip)
            )

        def counted() -> tuple[float, float]:  # summed over both workers
            text = httpx.get(f"{server.url}/metrics").text
            return (
                total(text, "automl_serving_rows_predicted_total{"),
                total(
                    text, "automl_serving_requests_total{", skip=("/metrics", "/health", 'code="5', 'code="4')
                ),
            )

        # A worker counts a request just after sending its answer: allow it a moment.
        wait_for(lambda: counted() == (sent_rows, clients * per_client), 10, server)


# -- what the serving image has --------------------------------------------------------------


def _trainer_only_modules() -> list[str]:
    """Top-level modules of packages the trainer extra installs and the serving extra does not."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {Requirement(r).name.lower() for r in extras["trainer"]} - {
        Requirement(r).name.lower() for r in extras["serving"]
    }
    modules = [
        m for m, dists in metadata.packages_distributions().items() if any(d.lower() in names for d in dists)
    ]
    return sorted(m for m in modules if not m.startswith("_"))


def test_every_engine_learner_loads_and_predicts_with_only_the_serving_packages(tmp_path: Path) -> None:
    from automl import algorithms
    from automl.spec import ALGORITHMS

    X, y = churn_frame()
    schema = infer_schema(X, "churned")
    codes = pd.Series(y).map({c: i for i, c in enumerate(CLASSES)})
    members = []
    for i, name in enumerate(ALGORITHMS[Task.classification]):
        learner = algorithms.get(name)
        # As the search builds them (early-stopped boosters are kube-automl classes), but small.
        params = {**learner.search_fixed}
        params.update({k: 50 for k in ("n_estimators", "max_iter") if k in params})
        pipeline = Pipeline(
            [
                *build_featurizer(schema, learner.style, True).steps,
                ("model", learner.build(Task.classification, params, seed=0, n_jobs=1)),
            ]
        )
        members.append(Member(f"c{i:04d}", name, 1.0, pipeline.fit(X, codes)))
    save(AutoMLModel(Task.classification, schema, members, CLASSES), tmp_path / "all", "all")
    blocked = _trainer_only_modules()
    assert "optuna" in blocked
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import pandas as pd\n"
        "from automl.serving.runtime import ModelRuntime\n"
        f"runtime = ModelRuntime({str(tmp_path / 'all')!r}, load_attempts=1)\n"
        "assert runtime.load(), runtime.state.reason\n"
        f"print(runtime.predict(pd.DataFrame({rows(3)!r})).values)\n"
    )
    result = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
