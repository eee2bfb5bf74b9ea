"""The model runtime: ``load()``, ``predict()`` and ``ready`` — nothing about HTTP.

One runtime per worker process holds one model artifact. ``load()`` runs once, off the event
loop, at startup: it reads ``model.json``, then ``model.pkl``, checks the pickle's sha256
against the expected value *before* unpickling (``automl.artifact.load_model``) and pins the
model to one thread per worker (``set_n_jobs(1)``; OMP_NUM_THREADS=1 is set for the process
by ``automl.serving.server``), because the service scales with worker processes, not threads.

Until ``load()`` has succeeded the runtime is not ready and says why (``status``). Storage
errors (an S3 endpoint not up yet) are retried a few times with backoff; a checksum mismatch
or an unreadable pickle is final.

``predict()`` is synchronous and CPU-bound: the app calls it through :class:`MicroBatcher`,
which runs it on one thread beside the event loop and merges the requests that arrive while
a prediction is running into the next call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from automl import artifact
from automl.artifact import ArtifactMetadata
from automl.errors import AutoMLError, StorageError
from automl.serving import metrics
from automl.serving.codecs import InputSchema, Prediction, label_datatype
from automl.serving.errors import ModelNotReady, PredictionFailed
from automl.spec import Task

log = logging.getLogger("automl.serving")


@dataclass
class LoadState:
    phase: str = "pending"  # pending | loading | ready | failed
    reason: str = ""
    attempts: int = 0
    seconds: float | None = None


@dataclass
class ModelRuntime:
    location: str
    sha256: str | None = None
    name: str | None = None
    max_rows: int = 10_000
    load_attempts: int = 4
    state: LoadState = field(default_factory=LoadState)

    def __post_init__(self) -> None:
        self.model: Any = None
        self.meta: ArtifactMetadata | None = None
        self.inputs: InputSchema | None = None
        self.classes: np.ndarray = np.empty(0, dtype=object)
        self.label_type = "FP64"
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set once load() has succeeded or finally failed

    @property
    def ready(self) -> bool:
        return self.state.phase == "ready"

    @property
    def model_name(self) -> str:
        if self.name:
            return self.name
        return self.meta.name if self.meta else "model"

    def load(self, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Load the artifact; True when ready. Never raises for a bad artifact: see ``state``."""
        try:
            return self._load(sleep)
        finally:
            self._settled.set()

    def wait_loaded(self, timeout: float) -> bool:
        """Block until a load in progress has ended (True if it ended within ``timeout``)."""
        return self._settled.wait(timeout)

    @property
    def loading(self) -> bool:
        return self.state.phase in ("pending", "loading") and not self._settled.is_set()

    def _load(self, sleep: Callable[[float], None]) -> bool:
        with self._lock:
            started = time.monotonic()
            self.state.phase = "loading"
            delay = 1.0
            for attempt in range(1, self.load_attempts + 1):
                self.state.attempts = attempt
                try:
                    self._load_once()
                except StorageError as err:
                    self._fail(err, final=attempt == self.load_attempts)
                    if attempt < self.load_attempts:
                        sleep(delay)
                        delay *= 2
                        self.state.phase = "loading"
                        continue
                    return False
                except AutoMLError as err:
                    self._fail(err, final=True)
                    return False
                except Exception as err:  # a pickle can raise anything; keep the cause in the log
                    log.exception("cannot load the model from %s", self.location)
                    self._fail(err, final=True)
                    return False
                break
            self.state.seconds = time.monotonic() - started
            self.state.phase = "ready"
            self.state.reason = ""
            metrics.MODEL_LOAD_SECONDS.set(self.state.seconds)
            metrics.MODEL_READY.set(1)
            log.info(
                "model %r loaded from %s in %.2fs (%s, %s, %d input columns)",
                self.model_name,
                self.location,
                self.state.seconds,
                self.meta.task if self.meta else "?",
                self.meta.algorithm if self.meta else "?",
                len(self.inputs.names) if self.inputs else 0,
            )
            return True

    def _load_once(self) -> None:
        # model.json first: the model's name (used in URLs) is known even if the pickle is refused.
        self.meta = artifact.load_metadata(self.location)
        model, meta = artifact.load_model(self.location, self.sha256)
        try:
            model.set_n_jobs(1)
        except Exception as err:  # e.g. an estimator pickled by an older kube-automl; it still predicts
            log.warning("cannot limit the model to one thread per worker (%s: %s)", type(err).__name__, err)
        _one_thread()
        self.model, self.meta = model, meta
        self.inputs = InputSchema(meta.feature_schema, self.max_rows)
        classes = list(getattr(model, "classes", None) or meta.classes)
        self.classes = np.empty(len(classes), dtype=object)
        self.classes[:] = [c.item() if hasattr(c, "item") else c for c in classes]
        self.label_type = label_datatype(list(self.classes))

    def _fail(self, err: BaseException, *, final: bool) -> None:
        self.state.phase = "failed" if final else "loading"
        self.state.reason = f"{type(err).__name__}: {err}"
        metrics.MODEL_READY.set(0)
        metrics.LOAD_FAILURES.inc()
        if final:
            log.error("model not loaded, the service stays not-ready: %s", self.state.reason)
        else:
            log.warning("model load attempt %d failed, retrying: %s", self.state.attempts, self.state.reason)

    def require_ready(self) -> InputSchema:
        if not self.ready or self.inputs is None:
            why = f": {self.state.reason}" if self.state.reason else ""
            raise ModelNotReady(f"model {self.model_name!r} is not ready ({self.state.phase}{why})")
        return self.inputs

    def predict(self, frame: pd.DataFrame) -> Prediction:
        model = self.model
        try:
            if model.task is Task.classification:
                proba = np.asarray(model.predict_proba(frame), dtype=np.float64)
                labels = self.classes[proba.argmax(axis=1)].tolist()
                return Prediction(Task.classification, labels, proba)
            values = np.asarray(model.predict(frame), dtype=np.float64)
            return Prediction(Task.regression, values, None)
        except Exception as err:
            log.exception("prediction failed on %d validated rows", len(frame))
            raise PredictionFailed(f"the model failed on this input ({type(err).__name__}: {err})") from err


class MicroBatcher:
    """Runs predictions on one thread; requests that queue up meanwhile share the next call.

    There is no timer: a request that finds the predictor idle is predicted at once (no added
    latency at low load); requests that arrive while a prediction runs wait for it anyway, so
    they are merged into one DataFrame and predicted together (throughput under load: one
    pipeline call over N rows costs far less than N calls). A batch never exceeds
    ``max_rows`` unless a single request is larger. If a merged batch fails, its requests are
    retried one by one so that one bad request cannot fail the others.
    """

    def __init__(self, runtime: ModelRuntime, max_rows: int = 1024) -> None:
        self.runtime = runtime
        self.max_rows = max_rows
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="predict")
        self._pending: list[tuple[pd.DataFrame, asyncio.Future[Prediction]]] = []
        self._running = False

    async def predict(self, frame: pd.DataFrame) -> Prediction:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append((frame, future))
        if not self._running:
            self._running = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._take()
                frames = [frame for frame, _ in batch]
                try:
                    results = await loop.run_in_executor(self.executor, self._predict_many, frames)
                except BaseException as err:  # the executor is gone (shutdown): fail this batch
                    results = [err] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # the client went away
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running = False

    def _take(self) -> list[tuple[pd.DataFrame, asyncio.Future[Prediction]]]:
        rows = 0
        count = 0
        for frame, _ in self._pending:
            if count and rows + len(frame) > self.max_rows:
                break
            rows += len(frame)
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    def _predict_many(self, frames: list[pd.DataFrame]) -> list[Prediction | BaseException]:
        started = time.perf_counter()
        rows = sum(len(f) for f in frames)
        results: list[Prediction | BaseException]
        if len(frames) == 1:
            results = [_as_error(frames[0], self.runtime)]
        else:
            try:
                results = list(_split(self.runtime.predict(pd.concat(frames, ignore_index=True)), frames))
            except Exception:
                results = [_as_error(frame, self.runtime) for frame in frames]
        metrics.PREDICT_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_ROWS.observe(rows)
        metrics.BATCH_REQUESTS.observe(len(frames))
        return results

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)


def _one_thread() -> None:
    """Cap BLAS/OpenMP pools already loaded in this process (env variables only reach new ones)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # threadpoolctl comes with scikit-learn; without it the env variables apply
        return
    threadpool_limits(limits=1)


def _as_error(frame: pd.DataFrame, runtime: ModelRuntime) -> Prediction | BaseException:
    try:
        return runtime.predict(frame)
    except Exception as err:
        return err


def _split(pred: Prediction, frames: list[pd.DataFrame]) -> list[Prediction]:
    out = []
    start = 0
    for frame in frames:
        stop = start + len(frame)
        proba = pred.proba[start:stop] if pred.proba is not None else None
        out.append(Prediction(pred.task, pred.values[start:stop], proba))
        start = stop
    return out
