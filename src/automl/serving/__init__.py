"""The prediction service: one model artifact behind HTTP.

Layers, bottom up (each imports only those below it):

- ``errors``   — :class:`ServingError` and its subclasses, each with its HTTP status;
- ``settings`` — flags and environment variables, one format for the parent and its workers;
- ``codecs``   — request bodies to a schema-checked DataFrame, predictions to response bodies;
- ``runtime``  — ``ModelRuntime`` (load / predict / ready) and the ``MicroBatcher``;
- ``app``      — the FastAPI routes and the single exception-to-HTTP mapping;
- ``server``   — uvicorn, worker processes, graceful shutdown; ``run()``.

The service depends on the shared bottom of the package (artifact, schema, storage, errors)
and on nothing of the trainer, the runner or the operator.
"""

from __future__ import annotations

from automl.serving.server import run, serve
from automl.serving.settings import Settings

__all__ = ["Settings", "run", "serve"]
