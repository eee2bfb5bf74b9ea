"""The serving layer's pieces in-process: request checking, v2 decoding, settings, micro-batching."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from automl.schema import ColumnSchema, FeatureSchema
from automl.serving.codecs import InputSchema, Prediction, label_datatype, v2_columns, v2_outputs
from automl.serving.errors import BadRequest, InvalidInput, PayloadTooLarge, ServingError
from automl.serving.runtime import MicroBatcher
from automl.serving.settings import Settings, usable_cpus
from automl.spec import Task

SCHEMA = FeatureSchema(
    label="y",
    columns=[
        ColumnSchema(name="id", dtype="int64", kind="dropped", reason="ID-like"),
        ColumnSchema(name="age", dtype="int64", kind="numeric"),
        ColumnSchema(name="plan", dtype="str", kind="categorical", categories=["a", "b"]),
        ColumnSchema(name="since", dtype="str", kind="datetime"),
    ],
)


@pytest.fixture
def inputs() -> InputSchema:
    return InputSchema(SCHEMA, max_rows=5)


def record(**changes: Any) -> dict[str, Any]:
    return {"id": 1, "age": 30, "plan": "a", "since": "2024-01-02", **changes}


def error(fn: Any, *args: Any) -> ServingError:
    with pytest.raises(ServingError) as info:
        fn(*args)
    return info.value


# -- records ---------------------------------------------------------------------------------


def test_records_become_a_frame_of_the_used_columns_with_their_types(inputs: InputSchema) -> None:
    frame = inputs.from_records([record(), record(age="41", plan=7, extra="ignored")])
    assert list(frame.columns) == ["age", "plan", "since"]
    assert frame["age"].dtype == np.float64 and frame["age"].tolist() == [30.0, 41.0]
    assert frame["plan"].tolist() == ["a", 7]  # the pipeline reads 7 as the category "7"


def test_a_single_object_is_one_record(inputs: InputSchema) -> None:
    assert len(inputs.from_records(record())) == 1


def test_missing_column_is_named(inputs: InputSchema) -> None:
    rows = [record(), record()]
    for r in rows:
        del r["plan"]
    err = error(inputs.from_records, rows)
    assert isinstance(err, InvalidInput) and err.kind == "missing_column" and "'plan'" in str(err)


def test_a_key_absent_from_some_records_is_a_missing_value(inputs: InputSchema) -> None:
    partial = record()
    del partial["age"]
    frame = inputs.from_records([record(), partial])
    assert np.isnan(frame["age"][1])


@pytest.mark.parametrize(
    ("changes", "kind", "fragments"),
    [
        ({"age": "thirty"}, "wrong_type", ["'age'", "row 1", "'thirty'"]),
        ({"age": {"years": 3}}, "wrong_type", ["'age'", "row 1"]),
        ({"age": [1]}, "wrong_type", ["'age'"]),
        ({"age": float("inf")}, "infinite", ["'age'", "row 1", "inf"]),
        ({"plan": ["a"]}, "wrong_type", ["'plan'", "row 1", "category"]),
        ({"since": "yesterday-ish"}, "wrong_type", ["'since'", "row 1", "not a date"]),
        ({"since": 20240102}, "wrong_type", ["'since'", "row 1"]),
    ],
)
def test_wrong_values_name_column_and_row(
    inputs: InputSchema, changes: dict[str, Any], kind: str, fragments: list[str]
) -> None:
    err = error(inputs.from_records, [record(), record(**changes)])
    assert isinstance(err, InvalidInput) and err.status == 422 and err.kind == kind
    for fragment in fragments:
        assert fragment in str(err)


def test_null_and_nan_are_missing_values(inputs: InputSchema) -> None:
    frame = inputs.from_records([record(age=None, plan=None, since=None), record(age=float("nan"))])
    assert frame["age"].isna().all() and frame["plan"].isna()[0] and frame["since"].isna()[0]


def test_unseen_categories_pass_through(inputs: InputSchema) -> None:
    assert inputs.from_records([record(plan="zzz")])["plan"][0] == "zzz"


def test_row_limits(inputs: InputSchema) -> None:
    assert isinstance(error(inputs.from_records, [record()] * 6), PayloadTooLarge)
    err = error(inputs.from_records, [])
    assert err.status == 422 and "no rows" in str(err)


def test_records_must_be_objects(inputs: InputSchema) -> None:
    assert isinstance(error(inputs.from_records, [record(), 3]), BadRequest)
    assert isinstance(error(inputs.from_records, "rows"), BadRequest)


def test_positional_rows_in_training_order_with_or_without_dropped_columns(inputs: InputSchema) -> None:
    full = inputs.from_positional([[1, 30, "a", "2024-01-02"]])
    used = inputs.from_positional([[30, "a", "2024-01-02"]])
    pd.testing.assert_frame_equal(full, used)
    err = error(inputs.from_positional, [[30, "a"]])
    assert "['age', 'plan', 'since']" in str(err) and err.status == 422
    err = error(inputs.from_positional, [[30, "a", "2024-01-02"], [30, "a"]])
    assert "row 1" in str(err)


# -- Open Inference Protocol v2 --------------------------------------------------------------


def tensor(
    name: str, data: list[Any], datatype: str = "FP64", shape: list[int] | None = None
) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data), 1], "data": data}


def test_v2_column_named_inputs(inputs: InputSchema) -> None:
    body = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            tensor("age", [30, 40], "INT64"),
            tensor("plan", ["a", "b"], "BYTES"),
            tensor("since", ["2024-01-01", "2024-02-01"], "BYTES"),
            tensor("id", [1, 2], "INT64"),
        ],
    }
    frame = v2_columns(body, inputs)
    assert frame["age"].tolist() == [30.0, 40.0] and frame["plan"].tolist() == ["a", "b"]


def test_v2_one_matrix_in_column_order(inputs: InputSchema) -> None:
    body = {"inputs": [tensor("input-0", [30, "a", "2024-01-01", 40, "b", None], "BYTES", [2, 3])]}
    assert v2_columns(body, inputs)["age"].tolist() == [30.0, 40.0]
    nested = {"inputs": [tensor("input-0", [[30, "a", "2024-01-01"]], "BYTES", [1, 3])]}
    assert len(v2_columns(nested, inputs)) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'inputs'"),
        ({"inputs": [{"datatype": "FP64"}]}, "'name'"),
        ({"inputs": [tensor("age", [1], "DOUBLE")]}, "DOUBLE"),
        ({"inputs": [tensor("age", [1, 2], shape=[3])]}, "'age'"),
        ({"inputs": [{"name": "age", "datatype": "FP64", "shape": [1]}]}, "no 'data'"),
        ({"inputs": [tensor("age", [1], shape=[-1])]}, "shape"),
    ],
)
def test_v2_malformed_requests_are_400(inputs: InputSchema, body: dict[str, Any], fragment: str) -> None:
    err = error(v2_columns, body, inputs)
    assert isinstance(err, BadRequest) and fragment in str(err)


def test_v2_inputs_of_different_lengths_are_422(inputs: InputSchema) -> None:
    body = {
        "inputs": [tensor("age", [1, 2]), tensor("plan", ["a"], "BYTES"), tensor("since", [None], "BYTES")]
    }
    err = error(v2_columns, body, inputs)
    assert err.status == 422 and "'age': 2" in str(err)


def test_v2_outputs_and_label_datatypes() -> None:
    pred = Prediction(Task.classification, ["x", "y"], np.array([[0.9, 0.1], [0.2, 0.8]]))
    outputs = v2_outputs(pred, "BYTES", None)
    assert [o["name"] for o in outputs] == ["predict", "predict_proba"]
    assert outputs[1]["shape"] == [2, 2]
    assert [o["name"] for o in v2_outputs(pred, "BYTES", [{"name": "predict"}])] == ["predict"]
    with pytest.raises(BadRequest, match="predict_proba"):
        v2_outputs(pred, "BYTES", [{"name": "transform"}])
    assert label_datatype([0, 1]) == "INT64" and label_datatype([True, False]) == "BOOL"
    assert label_datatype(["a", 1]) == "BYTES" and label_datatype([0.5, 1]) == "FP64"


# -- settings --------------------------------------------------------------------------------


def test_settings_flags_win_over_environment_over_pod_ip_over_defaults() -> None:
    env = {
        "AUTOML_MODEL_URI": "s3://m/model",
        "AUTOML_PORT": "9000",
        "POD_IP": "10.1.2.3",
        "AUTOML_ACCESS_LOG": "true",
    }
    settings = Settings.from_env(env)
    assert (settings.model_uri, settings.port, settings.host, settings.access_log) == (
        "s3://m/model",
        9000,
        "10.1.2.3",
        True,
    )
    assert Settings.from_env({**env, "AUTOML_HOST": "0.0.0.0"}).host == "0.0.0.0"
    assert Settings.from_env(env, port=1234, host="127.0.0.1", model_uri=None).port == 1234
    assert Settings.from_env({"AUTOML_MODEL_URI": "m"}).host == "127.0.0.1"


def test_settings_round_trip_through_the_environment() -> None:
    settings = Settings(
        model_uri="/m", sha256="ab", port=81, workers=3, graceful_seconds=2.5, access_log=True
    )
    assert Settings.from_env(settings.to_env()) == settings


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="AUTOML_MODEL_URI"):
        Settings.from_env({})
    with pytest.raises(ValueError, match="AUTOML_PORT"):
        Settings.from_env({"AUTOML_MODEL_URI": "m", "AUTOML_PORT": "http"})
    with pytest.raises(ValueError, match="max_rows"):
        Settings(model_uri="m", max_rows=0)


def test_usable_cpus_is_at_least_one() -> None:
    assert usable_cpus() >= 1


# -- micro-batching --------------------------------------------------------------------------


class FakeRuntime:
    """Predicts ``age * 2`` after a pause; rows with age < 0 make the model raise."""

    def __init__(self, pause: float = 0.05) -> None:
        self.pause = pause
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def predict(self, frame: pd.DataFrame) -> Prediction:
        with self.lock:
            self.calls.append(len(frame))
        time.sleep(self.pause)
        if (frame["age"] < 0).any():
            raise ValueError("negative age")
        return Prediction(Task.regression, frame["age"].to_numpy() * 2, None)


def frame(*ages: float) -> pd.DataFrame:
    return pd.DataFrame({"age": list(ages)})


def run_concurrently(
    batcher: MicroBatcher, frames: list[pd.DataFrame], first_alone: bool = False
) -> list[Any]:
    """Submit all frames at once (or the first, then the rest while it is being predicted)."""

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(batcher.predict(frames[0]))]
        if first_alone:
            await asyncio.sleep(0.02)
        tasks += [asyncio.ensure_future(batcher.predict(f)) for f in frames[1:]]
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        batcher.shutdown()


def test_requests_arriving_during_a_prediction_share_the_next_call() -> None:
    runtime = FakeRuntime()
    batcher = MicroBatcher(runtime, max_rows=100)  # type: ignore[arg-type]
    results = run_concurrently(batcher, [frame(i) for i in range(1, 7)], first_alone=True)
    assert [r.values.tolist() for r in results] == [[2.0 * i] for i in range(1, 7)]
    assert runtime.calls == [1, 5]  # the first at once (no waiting for others), the rest merged


def test_a_batch_never_exceeds_max_rows_unless_one_request_does() -> None:
    runtime = FakeRuntime(pause=0.01)
    batcher = MicroBatcher(runtime, max_rows=4)  # type: ignore[arg-type]
    run_concurrently(batcher, [frame(1), frame(1, 2, 3), frame(4, 5), frame(*range(10)), frame(1)])
    assert runtime.calls == [4, 2, 10, 1]


def test_a_failing_request_does_not_fail_the_others_in_its_batch() -> None:
    runtime = FakeRuntime()
    batcher = MicroBatcher(runtime, max_rows=100)  # type: ignore[arg-type]
    results = run_concurrently(batcher, [frame(1), frame(2), frame(-1), frame(3)])
    assert isinstance(results[2], ValueError)
    assert [r.values.tolist() for i, r in enumerate(results) if i != 2] == [[2.0], [4.0], [6.0]]
