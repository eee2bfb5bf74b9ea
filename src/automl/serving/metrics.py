"""Prometheus metrics of the prediction service, and their exposition for ``GET /metrics``.

With several worker processes each worker counts on its own; prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set up by ``automl.serving.server`` before
the workers start) makes ``/metrics`` on any worker report the sum over all of them. The
directory must be set before this module is first imported in a worker, which the server
guarantees by exporting it before it spawns them.

``model_ready`` counts the ready workers; ``model_load_seconds`` is the slowest worker's load.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

_LATENCY = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)

REQUESTS = Counter("automl_serving_requests", "HTTP requests answered", ["endpoint", "code"])
REQUEST_SECONDS = Histogram(
    "automl_serving_request_seconds",
    "Time from request to response, per endpoint",
    ["endpoint"],
    buckets=_LATENCY,
)
IN_FLIGHT = Gauge(
    "automl_serving_requests_in_flight", "HTTP requests being answered", multiprocess_mode="livesum"
)
ROWS = Counter("automl_serving_rows_predicted", "Rows predicted", ["endpoint"])
ERRORS = Counter("automl_serving_errors", "Requests answered with an error, by kind", ["kind"])
PREDICT_SECONDS = Histogram(
    "automl_serving_predict_seconds", "Time of one model call over a (micro-)batch", buckets=_LATENCY
)
BATCH_ROWS = Histogram("automl_serving_batch_rows", "Rows per model call", buckets=_ROWS)
BATCH_REQUESTS = Histogram(
    "automl_serving_batch_requests",
    "Requests merged into one model call",
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32, 64),
)
MODEL_LOAD_SECONDS = Gauge(
    "automl_serving_model_load_seconds",
    "Time to load the model (read, verify, unpickle)",
    multiprocess_mode="max",
)
MODEL_READY = Gauge(
    "automl_serving_model_ready", "Workers with the model loaded", multiprocess_mode="livesum"
)
LOAD_FAILURES = Counter("automl_serving_model_load_failures", "Failed model load attempts")


def exposition() -> tuple[bytes, str]:
    """The text format for ``GET /metrics``, summed over workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
