"""Starting the service: uvicorn, one or several worker processes, graceful shutdown.

Each worker is a separate process with its own copy of the model, predicting on one thread
(OMP_NUM_THREADS=1 and ``model.set_n_jobs(1)``, since LightGBM ignores the former): with
P cores, P single-threaded workers give more requests per second and steadier latency than
one worker whose model calls fight over threads. The workers share one listening socket.

On SIGTERM (what Kubernetes sends) uvicorn stops accepting connections, lets the requests in
flight finish (for at most ``graceful_seconds``), then runs the app's shutdown.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from automl.serving.settings import Settings, default_workers

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def serve(settings: Settings) -> None:
    """Run the service in the foreground until SIGINT/SIGTERM."""
    import uvicorn

    workers = settings.workers or default_workers()
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    os.environ.update(settings.to_env())
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="automl-serving-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        uvicorn.run(
            "automl.serving.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=settings.log_level,
            access_log=settings.access_log,
            timeout_graceful_shutdown=max(1, round(settings.graceful_seconds)),
            lifespan="on",
            server_header=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def run(
    location: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int | None = None,
    sha256: str | None = None,
    name: str | None = None,
    **options: object,
) -> None:
    """Serve the model artifact at ``location`` (a directory, ``file://`` or ``s3://`` prefix).

    ``workers=None`` starts one worker per usable CPU. ``sha256`` is the checksum to trust;
    without it the one recorded in ``model.json`` is checked. Other keyword arguments are
    :class:`~automl.serving.settings.Settings` fields (``max_rows``, ``max_body_bytes``, ...).
    """
    settings = Settings(
        model_uri=location,
        host=host,
        port=port,
        workers=workers or 0,
        sha256=sha256,
        name=name,
        **options,  # type: ignore[arg-type]
    )
    serve(settings)
