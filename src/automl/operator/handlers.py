"""The kopf handlers. Thin on purpose: they wire kopf's events to :mod:`.reconcile`.

- One **daemon** per AutoMLJob runs its :class:`~.reconcile.JobReconciler` in a loop. kopf
  starts it for every existing job when the operator starts (that *is* the restart path) and
  stops it when the job is deleted; children go with the job through their ownerReferences.
  The daemon is async and runs each (blocking) step in a worker thread: a *sync* kopf daemon
  would hold one of kopf's executor threads for its whole life, so a few dozen running jobs
  would starve every other handler.
- An **event handler on labelled Jobs** wakes that job's daemon at once, so a finished
  candidate is noticed in milliseconds instead of at the next poll. It carries no state:
  missing a wake-up costs one poll interval, nothing more.
- Errors: :class:`~.kube.TransientError` (API server busy or unreachable) is retried after a
  delay with a fresh reconciler, rebuilt from the cluster; user-caused problems end in
  ``Failed`` with a message (inside the reconciler); anything else is a bug, which kopf logs
  and retries with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from automl.spec import API_GROUP

from . import manifests as m
from .kube import TransientError
from .reconcile import Context, JobReconciler

VERSION = "v1alpha1"
PLURAL = "automljobs"
RETRY_SECONDS = 3.0


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
    # A deleted job's daemon exits as soon as `stopped` is set (or at its step's end): wait
    # for that graceful exit before cancelling it, so the finalizer goes at once.
    settings.background.instant_exit_timeout = 1.0


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    configure(settings)


class Wakeups:
    """Per-job asyncio events the Job watch sets, so a daemon reacts at once, not at its next poll."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def get(self, key: str) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def wake(self, key: str) -> None:
        event = self._events.get(key)
        if event is not None:
            event.set()

    def forget(self, key: str) -> None:
        self._events.pop(key, None)


@kopf.daemon(API_GROUP, VERSION, PLURAL, cancellation_timeout=10.0)
async def run_job(stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo,
                  logger: logging.Logger | logging.LoggerAdapter[Any], **_: Any) -> None:
    ctx: Context = memo["context"]
    wakeups: Wakeups = memo["wakeups"]
    key = f"{body['metadata']['namespace']}/{body['metadata']['name']}"
    wake = wakeups.get(key)
    reconciler = JobReconciler(body, ctx, logger)
    try:
        while not stopped:
            wake.clear()
            try:
                delay = await asyncio.to_thread(reconciler.step)
            except TransientError as err:
                logger.warning("%s: will retry in %.0fs: %s", key, RETRY_SECONDS, err)
                reconciler = JobReconciler(body, ctx, logger)
                delay = RETRY_SECONDS
            if delay is None:
                return
            await _pause(wake, stopped, delay)
    finally:
        ctx.slots.release(key)
        wakeups.forget(key)


async def _pause(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Sleep until woken by a Job event, stopped by kopf (job deleted, operator exiting), or timed out."""
    if seconds <= 0:
        return
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


@kopf.on.event("batch", "v1", "jobs", labels={m.LABEL_JOB: kopf.PRESENT})
async def job_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    wakeups: Wakeups = memo["wakeups"]
    wakeups.wake(f"{meta['namespace']}/{meta['labels'][m.LABEL_JOB]}")
