"""Errors a prediction request or the model load can cause, each carrying its HTTP answer.

Every exception that the service turns into an HTTP response derives from
:class:`ServingError` (itself an :class:`automl.errors.AutoMLError`): ``status`` is the HTTP
status, ``kind`` the short label used in the ``errors_total`` metric, and the message names
the column and the problem. The single mapping to HTTP lives in ``automl.serving.app``;
anything else that escapes a handler is a bug and is answered with 500 and a logged traceback.
"""

from __future__ import annotations

from automl.errors import AutoMLError


class ServingError(AutoMLError):
    status = 500
    kind = "serving"


class BadRequest(ServingError):
    """The body is not JSON, or not the shape the endpoint takes."""

    status = 400
    kind = "bad_request"


class InvalidInput(ServingError):
    """The body is well-formed but does not fit the model's feature schema."""

    status = 422
    kind = "invalid_input"

    def __init__(self, message: str, *, kind: str = "invalid_input") -> None:
        super().__init__(message)
        self.kind = kind


class PayloadTooLarge(ServingError):
    status = 413
    kind = "too_large"


class ModelNotFound(ServingError):
    status = 404
    kind = "model_not_found"


class ModelNotReady(ServingError):
    status = 503
    kind = "not_ready"


class PredictionFailed(ServingError):
    """The pipeline raised on rows that passed validation: a bug or a schema gap, logged in full."""

    status = 500
    kind = "prediction_failed"
