"""The HTTP face of the service: routes for three protocols over one runtime.

- Open Inference Protocol v2 (KServe, MLServer, Triton): ``/v2/health/live``,
  ``/v2/health/ready``, ``/v2/models/{name}``, ``/v2/models/{name}/ready``,
  ``/v2/models/{name}/infer``;
- KServe v1: ``/v1/models/{name}`` and ``/v1/models/{name}:predict`` with ``instances``;
- plain JSON: ``POST /predict`` with a list of records;
- ``GET /metrics`` for Prometheus.

Handlers are thin: read the body (bounded), decode with :mod:`automl.serving.codecs`,
predict through the :class:`~automl.serving.runtime.MicroBatcher`, encode. Bodies are parsed
with orjson rather than pydantic models: a v2 request of 1,000 rows is a few hundred thousand
JSON values and pydantic would spend more time on it than the model. Every exception becomes
an HTTP answer in :func:`_install_error_handlers` and nowhere else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.serving import codecs, metrics
from automl.serving.errors import BadRequest, ModelNotFound, PayloadTooLarge, ServingError
from automl.serving.runtime import MicroBatcher, ModelRuntime
from automl.serving.settings import Settings

# How long a prediction request waits for a model load in progress before a 503.
LOAD_WAIT_SECONDS = 60.0
log = logging.getLogger("automl.serving")
_DUMPS = orjson.OPT_SERIALIZE_NUMPY


def json_response(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content, option=_DUMPS), status_code=status, media_type="application/json")


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics.IN_FLIGHT.dec()
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            metrics.REQUESTS.labels(endpoint, str(status)).inc()
            metrics.REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, refusing more than ``limit`` bytes before reading them all."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"the body has {int(length)} bytes; at most {limit} are accepted")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequest("the body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        try:
            # Python's json module writes NaN and Infinity, which strict JSON lacks.
            return json.loads(body)
        except (ValueError, RecursionError):
            raise BadRequest(f"the body is not valid JSON ({err})") from err


def create_app(settings: Settings) -> FastAPI:
    runtime = ModelRuntime(settings.model_uri, settings.sha256, settings.name, max_rows=settings.max_rows)
    batcher = MicroBatcher(runtime, max_rows=settings.max_batch_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load beside the event loop: liveness answers while a large model downloads.
        loading = asyncio.create_task(asyncio.to_thread(runtime.load))
        yield
        # uvicorn has stopped accepting and finished the in-flight requests by now.
        if not loading.done():
            log.info("shutting down while the model is still loading")
        await asyncio.to_thread(batcher.shutdown)

    app = FastAPI(
        title="kube-automl prediction service",
        summary="Open Inference Protocol v2, KServe v1 and plain JSON predictions for one AutoML model",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.batcher = batcher
    app.add_middleware(MetricsMiddleware)
    _install_error_handlers(app)

    def model(name: str) -> ModelRuntime:
        if name != runtime.model_name:
            raise ModelNotFound(f"no model {name!r}; this service serves {runtime.model_name!r}")
        return runtime

    async def predict_body(
        request: Request, decode: Callable[[Any, codecs.InputSchema], Any], endpoint: str
    ) -> tuple[Any, codecs.Prediction]:
        if runtime.loading:
            # Several workers share the socket and each loads its own copy: a request that
            # reaches a worker still loading waits for it rather than failing with 503.
            await asyncio.to_thread(runtime.wait_loaded, LOAD_WAIT_SECONDS)
        inputs = runtime.require_ready()
        body = await read_json(request, settings.max_body_bytes)
        frame = decode(body, inputs)
        prediction = await batcher.predict(frame)
        metrics.ROWS.labels(endpoint).inc(len(prediction))
        return body, prediction

    # -- Open Inference Protocol v2 --------------------------------------------------------

    @app.get("/v2/health/live", tags=["v2"])
    async def live() -> Response:
        return json_response({"live": True})

    @app.get("/v2/health/ready", tags=["v2"])
    async def ready() -> Response:
        if runtime.ready:
            return json_response({"ready": True})
        state = runtime.state
        return json_response(
            {"ready": False, "phase": state.phase, "reason": state.reason, "attempts": state.attempts}, 503
        )

    @app.get("/v2", tags=["v2"])
    async def server_metadata() -> Response:
        from importlib.metadata import version

        return json_response({"name": "kube-automl", "version": version("kube-automl"), "extensions": []})

    @app.get("/v2/models/{name}", tags=["v2"])
    async def model_metadata(name: str) -> Response:
        rt = model(name)
        rt.require_ready()
        assert rt.meta is not None and rt.inputs is not None
        meta = rt.meta
        outputs: list[dict[str, Any]] = [
            {
                "name": "predict",
                "datatype": rt.label_type if meta.task == "classification" else "FP64",
                "shape": [-1],
            }
        ]
        if meta.task == "classification":
            outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(rt.classes)]})
        return json_response(
            {
                "name": rt.model_name,
                "versions": [meta.sha256[:12]],
                "platform": "kube-automl",
                "inputs": [
                    {"name": c.name, "datatype": c.datatype, "shape": [-1]} for c in rt.inputs.columns
                ],
                "outputs": outputs,
                "parameters": {
                    "content_type": "pd",
                    "task": str(meta.task),
                    "algorithm": meta.algorithm,
                    "classes": rt.classes.tolist(),
                    "primary_metric": meta.primary_metric,
                    "validation_score": meta.validation_score,
                    "test_score": meta.test_score,
                    "sha256": meta.sha256,
                    "input_kinds": {c.name: c.kind for c in rt.inputs.columns},
                },
            }
        )

    @app.get("/v2/models/{name}/ready", tags=["v2"])
    async def model_ready(name: str) -> Response:
        rt = model(name)
        return json_response({"name": rt.model_name, "ready": rt.ready}, 200 if rt.ready else 503)

    @app.post("/v2/models/{name}/infer", tags=["v2"])
    async def infer(name: str, request: Request) -> Response:
        model(name)
        body, pred = await predict_body(request, codecs.v2_columns, "/v2/models/{name}/infer")
        response: dict[str, Any] = {
            "model_name": runtime.model_name,
            "outputs": codecs.v2_outputs(pred, runtime.label_type, body.get("outputs")),
        }
        if runtime.meta is not None:
            response["model_version"] = runtime.meta.sha256[:12]
        if "id" in body:
            response["id"] = body["id"]
        return json_response(response)

    # -- KServe v1 -------------------------------------------------------------------------

    @app.get("/v1/models/{name}", tags=["v1"])
    async def v1_model(name: str) -> Response:
        rt = model(name)
        return json_response({"name": rt.model_name, "ready": rt.ready}, 200 if rt.ready else 503)

    def v1_instances(body: Any, inputs: codecs.InputSchema) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            raise BadRequest("a v1 predict request is a JSON object with an 'instances' list")
        return inputs.from_records(body["instances"], where="instances")

    @app.post("/v1/models/{name}:predict", tags=["v1"])
    async def v1_predict(name: str, request: Request) -> Response:
        model(name)
        _, pred = await predict_body(request, v1_instances, "/v1/models/{name}:predict")
        return json_response({"predictions": pred.values})

    # -- plain records ---------------------------------------------------------------------

    @app.post("/predict", tags=["records"])
    async def predict(request: Request) -> Response:
        """A JSON list of records keyed by column name; predictions and class probabilities back."""
        _, pred = await predict_body(request, lambda body, inputs: inputs.from_records(body), "/predict")
        out: dict[str, Any] = {"predictions": pred.values}
        if pred.proba is not None:
            out["classes"] = runtime.classes.tolist()
            out["probabilities"] = pred.proba
        return json_response(out)

    @app.get("/metrics", tags=["operations"])
    async def prometheus_metrics() -> Response:
        payload, content_type = metrics.exposition()
        return Response(payload, media_type=content_type)

    return app


def _install_error_handlers(app: FastAPI) -> None:
    """The one place where exceptions become HTTP answers: ``{"error": message}``."""

    def answer(status: int, kind: str, message: str) -> Response:
        metrics.ERRORS.labels(kind).inc()
        return json_response({"error": message}, status)

    async def serving_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServingError)
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return answer(exc.status, exc.kind, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        return answer(exc.status_code, kind, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return answer(422, "invalid_request", f"invalid request: {exc.errors()}")

    async def bug(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return answer(500, "internal", f"internal error ({type(exc).__name__}); see the service log")

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ServingError: serving_error,
        StarletteHTTPException: http_error,
        RequestValidationError: validation_error,
        Exception: bug,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)


def app_from_env() -> FastAPI:
    """The factory uvicorn workers call: settings come from the environment (``Settings.to_env``)."""
    return create_app(Settings.from_env())
