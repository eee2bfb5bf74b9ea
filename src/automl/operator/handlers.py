"""The kopf handlers. Thin on purpose: they wire kopf's events to :mod:`.reconcile`.

- One **daemon** per AutoMLJob runs its :class:`~.reconcile.JobReconciler` in a loop. kopf
  starts it for every existing job when the operator starts (that *is* the restart path) and
  stops it when the job is deleted; children go with the job through their ownerReferences.
- An **event handler on labelled Jobs** wakes that job's daemon at once, so a finished
  candidate is noticed in milliseconds instead of at the next poll. It carries no state:
  missing a wake-up costs one poll interval, nothing more.
- Errors: :class:`~.kube.TransientError` (API server busy or unreachable) is retried after a
  delay with a fresh reconciler, rebuilt from the cluster; user-caused problems end in
  ``Failed`` with a message (inside the reconciler); anything else is a bug, which kopf logs
  and retries with back-off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import kopf

from automl.spec import API_GROUP

from . import manifests as m
from .kube import TransientError
from .reconcile import Context, JobReconciler

VERSION = "v1alpha1"
PLURAL = "automljobs"
RETRY_SECONDS = 3.0
STOP_CHECK_SECONDS = 0.25


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf settings: our own finalizer/annotation names, no cluster scanning, quiet events."""
    settings.persistence.finalizer = f"{API_GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration")
    # No namespace/CRD discovery: watch exactly what we are told (fewer RBAC verbs).
    settings.scanning.disabled = True
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.reconnect_backoff = 1.0
    settings.networking.request_timeout = 60
    settings.execution.max_workers = 64
    # A deleted job's daemon notices `stopped` within STOP_CHECK_SECONDS: wait for that
    # graceful exit before cancelling it, so the finalizer goes at once.
    settings.background.instant_exit_timeout = 1.0


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure(settings)


@kopf.daemon(API_GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
def run_job(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo,
            logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    ctx: Context = memo["context"]
    key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    wake = ctx.wakeups.get(key)
    reconciler = JobReconciler(body, ctx, logger)
    try:
        while not stopped:
            try:
                delay = reconciler.step()
            except TransientError as err:
                logger.warning("%s: will retry in %.0fs: %s", key, RETRY_SECONDS, err)
                reconciler = JobReconciler(body, ctx, logger)
                delay = RETRY_SECONDS
            if delay is None:
                return
            _pause(wake, stopped, delay)
    finally:
        ctx.slots.release(key)
        ctx.wakeups.forget(key)


def _pause(wake: threading.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Sleep until woken by a Job event, stopped by kopf (job deleted, operator exiting), or timed out."""
    deadline = time.monotonic() + seconds
    while not stopped:
        left = deadline - time.monotonic()
        if left <= 0 or wake.wait(min(left, STOP_CHECK_SECONDS)):
            break
    wake.clear()


@kopf.on.event("batch", "v1", "jobs", labels={m.LABEL_JOB: kopf.PRESENT})
def job_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    ctx: Context = memo["context"]
    ctx.wakeups.wake(f"{meta['namespace']}/{meta['labels'][m.LABEL_JOB]}")
