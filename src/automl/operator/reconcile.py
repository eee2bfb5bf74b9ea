"""One AutoMLJob's state machine, driven by what the operator observes.

    Pending -> Preparing -> Training -> Finalizing -> Deploying -> Succeeded
                  \\____________\\_____________\\____________\\______> Failed

Each :meth:`JobReconciler.step` looks at the world as it is — the child Jobs (by label),
their pods' termination messages, the results in storage — decides, acts (create/delete
children, write status, emit Events) and says when to look again. Nothing depends on
having seen an edge: a restarted operator lists the same Jobs and continues. The search
object is rebuilt once per daemon start from the candidates stored on the Jobs and their
results (``SearchStrategy.restore`` when available, else by replaying ask/tell), then kept
in memory and fed as results arrive.

Limits are read from the live resource on every step, so ``maxParallel``, ``maxCandidates``
and the limits can be changed on a running job. A global cap across jobs (:class:`Slots`)
is shared by all daemons of this operator process.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from automl import metrics
from automl.candidate import Candidate, CandidateResult
from automl.errors import AutoMLError, SpecError
from automl.prepare import PLAN_FILE, Plan
from automl.search import SearchStrategy
from automl.spec import AutoMLJob, parse_job

from . import manifests as m
from . import status as st
from .kube import Kube
from .runstore import RunStore
from .settings import Settings

log = logging.getLogger(__name__)


class Slots:
    """The global cap on running candidate Jobs across every AutoMLJob of this operator."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    def grant(self, key: str, running: int, want: int) -> int:
        """Record ``running`` for ``key`` and reserve up to ``want`` more slots."""
        with self._lock:
            self._running[key] = running
            if self.cap <= 0:
                granted = want
            else:
                used = sum(self._running.values())
                granted = max(0, min(want, self.cap - used))
            self._running[key] = running + granted
            return granted

    def release(self, key: str, unused: int = 0) -> None:
        with self._lock:
            if unused:
                self._running[key] = max(0, self._running.get(key, 0) - unused)
            else:
                self._running.pop(key, None)

    def total(self) -> int:
        with self._lock:
            return sum(self._running.values())


@dataclass
class Context:
    kube: Kube
    settings: Settings
    slots: Slots


class Failure(Exception):
    """The job failed for a reason the user can act on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_time(text: str | None) -> float:
    if not text:
        return time.time()
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def job_state(job: dict[str, Any]) -> tuple[str, str, str]:
    """("running" | "succeeded" | "failed", reason, message) from a Job's conditions."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return "succeeded", "", ""
        if cond.get("type") == "Failed":
            return "failed", cond.get("reason", ""), cond.get("message", "")
    return "running", "", ""


def termination_error(term: dict[str, Any] | None, reason: str, message: str) -> str:
    """The most useful one-line explanation of a failed step's pod."""
    if term:
        text = (term.get("message") or "").strip()
        if text.startswith("{"):
            try:
                error = json.loads(text).get("error")
            except ValueError:
                error = None
            if error:
                return str(error)
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1].removeprefix("error: ")[:1000]
        code = term.get("exitCode")
        signal = f"; killed by signal {code - 128}" if isinstance(code, int) and code > 128 else ""
        return f"the pod exited with code {code} ({term.get('reason', 'Error')}{signal}) and left no message"
    if reason == "DeadlineExceeded":
        return "it ran out of time (activeDeadlineSeconds)"
    return message or reason or "unknown error"


def termination_summary(term: dict[str, Any] | None) -> dict[str, Any] | None:
    text = ((term or {}).get("message") or "").strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class JobReconciler:
    """Drive one AutoMLJob. ``body`` is kopf's live view of the resource."""

    def __init__(self, body: Any, ctx: Context, logger: logging.Logger | logging.LoggerAdapter | None = None) -> None:
        self.body = body
        self.ctx = ctx
        self.kube = ctx.kube
        self.settings = ctx.settings
        self.log = logger or log
        meta = body["metadata"]
        self.name: str = meta["name"]
        self.namespace: str = meta["namespace"]
        self.key = f"{self.namespace}/{self.name}"
        current = dict(body.get("status") or {})
        self.written: dict[str, Any] = {k: v for k, v in current.items() if k in st.MANAGED_KEYS}
        self.desired: dict[str, Any] = dict(self.written)
        self.phase: str = current.get("phase") or "Pending"
        self.store: RunStore | None = None
        self.plan: Plan | None = None
        self.strategy: SearchStrategy | None = None
        self.proposed: dict[str, Candidate] = {}
        self.results: dict[str, CandidateResult] = {}
        self.space_exhausted = False
        self.restored = False
        self.created: dict[str, float] = {}  # candidate id -> monotonic time its Job was created here

    # ------------------------------------------------------------------ helpers

    def owner(self) -> dict[str, Any]:
        meta = self.body["metadata"]
        return {
            "apiVersion": self.body.get("apiVersion"),
            "kind": self.body.get("kind"),
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                         "resourceVersion": meta.get("resourceVersion")},
        }

    def parse(self) -> AutoMLJob:
        document = {
            "apiVersion": self.body.get("apiVersion"),
            "kind": self.body.get("kind"),
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": dict(self.body.get("spec") or {}),
        }
        return parse_job(json.loads(json.dumps(document)), f"{self.key}")

    def deadline(self, job: AutoMLJob) -> float:
        return parse_time(self.body["metadata"].get("creationTimestamp")) + job.spec.limits.timeout_seconds

    def search_deadline(self, job: AutoMLJob) -> float:
        timeout = job.spec.limits.timeout_seconds
        reserve = max(self.settings.finalize_min_seconds, self.settings.finalize_share * timeout)
        reserve = min(reserve, 0.5 * timeout)
        return self.deadline(job) - reserve

    def run_uri(self, job: AutoMLJob) -> str:
        output = job.spec.output
        if not output:
            if not self.settings.default_output:
                raise Failure("InvalidSpec", "spec.output is required on a cluster: set it to an s3:// URI "
                              "where the run and its model are written (e.g. s3://models/" + self.name + ")")
            return f"{self.settings.default_output.rstrip('/')}/{self.namespace}/{self.name}"
        if not output.startswith("s3://"):
            raise Failure("InvalidSpec", f"spec.output {output!r} is not an s3:// URI; on a cluster the run "
                          "is written to object storage that every pod can reach")
        return output.rstrip("/")

    def open_store(self, job: AutoMLJob) -> RunStore | None:
        if self.store is not None:
            return self.store
        secret = job.spec.data.credentials_secret
        credentials = None
        if secret:
            credentials = self.kube.read_secret_data(self.namespace, secret)
            if credentials is None:
                self.set_status(message=f"waiting for Secret {secret!r} (spec.data.credentialsSecret) "
                                f"in namespace {self.namespace}", reason="SecretNotFound")
                return None
        self.store = RunStore(self.run_uri(job), credentials)
        return self.store

    def set_status(self, **fields: Any) -> None:
        self.desired.update({k: v for k, v in fields.items()})

    def flush(self) -> None:
        """Write status if, and only if, it changed."""
        self.desired["phase"] = self.phase
        self.desired["observedGeneration"] = self.body["metadata"].get("generation")
        reason = self.desired.get("reason") or self.phase
        message = self.desired.get("message") or ""
        self.desired["conditions"] = st.conditions(self.phase, reason, message, self.written.get("conditions"))
        desired = {k: v for k, v in self.desired.items() if v is not None}
        patch = st.changes(self.written, desired)
        if not patch:
            return
        self.kube.patch_status(self.namespace, self.name, patch)
        self.written = desired
        self.desired = dict(desired)

    def transition(self, phase: str, reason: str, message: str) -> None:
        if phase == self.phase:
            return
        self.log.info("%s: %s -> %s (%s) %s", self.key, self.phase, phase, reason, message)
        self.phase = phase
        self.set_status(reason=reason, message=message)
        if phase in st.TERMINAL_PHASES:
            self.set_status(completedAt=st.now())
        self.kube.event(self.owner(), "Warning" if phase == "Failed" else "Normal", reason, message)

    # ------------------------------------------------------------------ the loop body

    def step(self) -> float | None:
        """Advance the job; seconds until the next look, or None once it is finished."""
        try:
            return self._step()
        except Failure as failure:
            self.stop_running(failure.message)
            self.transition("Failed", failure.reason, failure.message)
            self.flush()
            return None
        except AutoMLError as err:
            # Storage reads by the operator itself (plan, results): report and retry.
            self.set_status(message=str(err))
            self.flush()
            return 5.0

    def _step(self) -> float | None:
        if self.phase in st.TERMINAL_PHASES:
            return None
        try:
            job = self.parse()
        except SpecError as err:
            raise Failure("InvalidSpec", str(err)) from err
        if "startedAt" not in self.desired:
            self.set_status(startedAt=self.body["metadata"].get("creationTimestamp") or st.now())
        store = self.open_store(job)
        if store is None:
            self.flush()
            return 5.0
        self.set_status(runUri=store.run_uri)
        handler = {
            "Pending": self.pending,
            "Preparing": self.preparing,
            "Training": self.training,
            "Finalizing": self.finalizing,
            "Deploying": self.deploying,
        }[self.phase]
        delay = handler(job, store)
        self.flush()
        return delay

    # ------------------------------------------------------------------ phases

    def pending(self, job: AutoMLJob, store: RunStore) -> float:
        self.kube.create(m.prepare_job(self.owner(), job, store.run_uri, self.settings,
                                       max(1.0, self.deadline(job) - time.time())))
        self.set_status(candidates=st.counts([], 0), progress=st.progress([], job.spec.search.max_candidates))
        self.transition("Preparing", "Preparing", f"reading and checking {job.spec.data.train}")
        return 0.5

    def _single(self, role: str) -> dict[str, Any] | None:
        jobs = self.kube.list_jobs(self.namespace, m.selector(self.name, role))
        return jobs[0] if jobs else None

    def preparing(self, job: AutoMLJob, store: RunStore) -> float:
        child = self._single(m.ROLE_PREPARE)
        if child is None:
            return self.pending(job, store)
        state, reason, message = job_state(child)
        if state == "running":
            if time.time() > self.deadline(job):
                raise Failure("Timeout", f"limits.timeout ({job.spec.limits.timeout}) reached while preparing the data")
            return self.settings.poll_seconds
        if state == "failed":
            term = self.kube.termination(self.namespace, child["metadata"]["name"])
            error = termination_error(term, reason, message)
            raise Failure("DataError", f"preparing the data failed: {error}")
        self.load_plan(store)
        assert self.plan is not None
        self.set_status(
            guardrails=st.guardrails([g.model_dump() for g in self.plan.guardrails]),
            validation=f"{self.plan.validation.method}:{self.plan.validation.folds}",
        )
        self.transition("Training", "Training",
                        f"{self.plan.n_rows} rows, {self.plan.n_features} features; searching with "
                        f"{job.spec.metric} (up to {job.spec.search.max_candidates} candidates)")
        return self.training(job, store)

    def load_plan(self, store: RunStore) -> Plan:
        if self.plan is None:
            text = store.read_text(PLAN_FILE)
            if text is None:
                raise Failure("DataError", f"the prepare step left no {store.uri(PLAN_FILE)}")
            self.plan = Plan.model_validate_json(text)
        return self.plan

    # ------------------------------------------------------------------ training

    def candidate_jobs(self) -> dict[str, dict[str, Any]]:
        jobs = self.kube.list_jobs(self.namespace, m.selector(self.name, m.ROLE_CANDIDATE))
        out = {}
        for child in jobs:
            cid = child["metadata"].get("labels", {}).get(m.LABEL_CANDIDATE)
            if cid and not child["metadata"].get("deletionTimestamp"):
                out[cid] = child
        return out

    def restore(self, job: AutoMLJob, store: RunStore, children: dict[str, dict[str, Any]]) -> None:
        """Rebuild the search from the candidates on the Jobs and their results in storage."""
        plan = self.load_plan(store)
        proposed = []
        for cid in sorted(children):
            raw = children[cid]["metadata"].get("annotations", {}).get(m.ANNOTATION_CANDIDATE)
            if raw:
                proposed.append(Candidate.model_validate_json(raw))
        # Candidates whose Jobs were deleted (stopped) still count: their results are stored.
        results: list[CandidateResult] = []
        for candidate in proposed:
            state, reason, message = job_state(children[candidate.id])
            if state != "running":
                results.append(self.collect(job, store, candidate, children[candidate.id], state, reason, message))
        restore = getattr(SearchStrategy, "restore", None)
        if restore is not None:
            self.strategy = restore(job.spec, plan, proposed, results)
        else:
            strategy = SearchStrategy(job.spec, plan)
            for index, candidate in enumerate(proposed):
                replayed = strategy.ask()
                if replayed is None or replayed.id != candidate.id:
                    self.log.warning("%s: search replay diverged at %s", self.key, candidate.id)
                if index < len(strategy.proposed):
                    strategy.proposed[index] = candidate
                else:
                    strategy.proposed.append(candidate)
            for result in results:
                strategy.tell(result)
            self.strategy = strategy
        self.proposed = {c.id: c for c in proposed}
        self.results = {r.id: r for r in results}
        self.restored = True
        if proposed:
            self.log.info("%s: resumed the search with %d candidates, %d finished", self.key,
                          len(proposed), len(results))

    def collect(self, job: AutoMLJob, store: RunStore, candidate: Candidate, child: dict[str, Any],
                state: str, reason: str, message: str) -> CandidateResult:
        """A finished candidate's result: storage first, then the termination message, then the Job."""
        text = store.read_text("candidates", candidate.id, "result.json")
        stored = CandidateResult.model_validate_json(text) if text else None
        if state == "succeeded" and stored is not None and stored.ok:
            return stored
        if state == "failed" and stored is not None and not stored.ok:
            return stored
        term = self.kube.termination(self.namespace, child["metadata"]["name"])
        summary = termination_summary(term) or {}
        common: dict[str, Any] = dict(id=candidate.id, algorithm=candidate.algorithm, params=candidate.params,
                      style=candidate.style, source=candidate.source, sample_rows=candidate.sample_rows,
                      metric=job.spec.metric)
        if state == "succeeded" and summary.get("score") is not None:
            return CandidateResult(status="succeeded", score=float(summary["score"]),
                                   fit_seconds=float(summary.get("fit_seconds") or 0.0),
                                   total_seconds=float(summary.get("total_seconds") or 0.0), **common)
        if reason == "DeadlineExceeded":
            result = CandidateResult(status="timeout", error=f"stopped at limits.candidateTimeout "
                                     f"({job.spec.limits.candidate_timeout})", **common)
        else:
            result = CandidateResult(status="failed", error=termination_error(term, reason, message), **common)
        store.write_text(result.model_dump_json(indent=2), "candidates", candidate.id, "result.json")
        return result

    def training(self, job: AutoMLJob, store: RunStore) -> float:
        children = self.candidate_jobs()
        if not self.restored:
            self.restore(job, store, children)
        assert self.strategy is not None and self.plan is not None
        if hasattr(self.strategy, "spec"):
            self.strategy.spec = job.spec  # limits may have been edited
        limits = job.spec.limits
        metric = metrics.get(self.plan.metric)
        stop = ""
        running: list[str] = []
        for cid, candidate in self.proposed.items():
            if cid in self.results:
                continue
            child = children.get(cid)
            if child is None:  # created by this process a moment ago, or deleted by someone
                if time.monotonic() - self.created.get(cid, 0.0) < 30.0:
                    running.append(cid)
                    continue
                child, state, reason, message = {"metadata": {"name": m.candidate_name(self.name, cid)}}, \
                    "failed", "JobDeleted", "its Job was deleted before it finished"
            else:
                state, reason, message = job_state(child)
            if state == "running":
                running.append(cid)
                continue
            result = self.collect(job, store, candidate, child, state, reason, message)
            self.log.info("%s: %s %s%s", self.key, cid, result.status,
                          f" {result.metric}={result.score:.6g}" if result.ok and result.score is not None else "")
            self.results[cid] = result
            self.strategy.tell(result)
            if not result.ok:
                self.kube.event(self.owner(), "Warning", "CandidateFailed",
                                f"{cid} ({result.algorithm}) {result.status}: {result.error}")
            elif limits.exit_score is not None and metric.reached(result.score or 0.0, limits.exit_score):
                stop = f"limits.exitScore {limits.exit_score} reached by {cid}"
        # Candidates this process proposed but whose Jobs vanished without a result are lost.
        results = list(self.results.values())
        failed = sum(r.status in st.FAILED_STATUSES for r in results)
        if not stop and failed > limits.max_failed_candidates:
            stop = f"more than limits.maxFailedCandidates ({limits.max_failed_candidates}) candidates failed"
        if not stop and time.time() >= self.search_deadline(job):
            stop = f"limits.timeout ({limits.timeout}) reached"
        exhausted = len(self.proposed) >= job.spec.search.max_candidates or self.space_exhausted
        if not stop and not running and exhausted:
            stop = (f"search.maxCandidates ({job.spec.search.max_candidates}) tried" if not self.space_exhausted
                    else "search space exhausted")
        if not stop and not exhausted:
            running += self.launch(job, store, len(running))
        self.ctx.slots.grant(self.key, len(running), 0)
        self.update_search_status(job, len(running))
        if stop:
            return self.end_search(job, store, stop, running)
        return self.settings.poll_seconds

    def launch(self, job: AutoMLJob, store: RunStore, running: int) -> list[str]:
        assert self.strategy is not None
        want = min(job.spec.search.max_parallel - running, job.spec.search.max_candidates - len(self.proposed))
        if want <= 0:
            return []
        granted = self.ctx.slots.grant(self.key, running, want)
        started: list[str] = []
        left = self.search_deadline(job) - time.time()
        deadline = min(job.spec.limits.candidate_timeout_seconds, max(left, 1.0) + 1.0)
        for _ in range(granted):
            candidate = self.strategy.ask()
            if candidate is None:
                self.space_exhausted = True
                break
            self.proposed[candidate.id] = candidate
            self.created[candidate.id] = time.monotonic()
            self.kube.create(m.candidate_job(self.owner(), job, candidate, store.run_uri, self.settings, deadline))
            self.log.info("%s: started %s (%s)", self.key, candidate.id, candidate.algorithm)
            started.append(candidate.id)
        if len(started) < granted:
            self.ctx.slots.release(self.key, granted - len(started))
        return started

    def update_search_status(self, job: AutoMLJob, running: int) -> None:
        assert self.plan is not None
        results = list(self.results.values())
        self.set_status(
            candidates=st.counts(results, running),
            progress=st.progress(results, job.spec.search.max_candidates),
            leaderboard=st.leaderboard(results, self.plan.metric, self.settings.leaderboard_size),
            best=st.best_candidate(results, self.plan.metric),
        )

    def stop_running(self, reason: str) -> None:
        """Delete candidate Jobs still running, at once (their pods go with them)."""
        for child in self.kube.list_jobs(self.namespace, m.selector(self.name, m.ROLE_CANDIDATE)):
            if job_state(child)[0] == "running":
                self.kube.delete_job(self.namespace, child["metadata"]["name"])
        self.ctx.slots.release(self.key)

    def end_search(self, job: AutoMLJob, store: RunStore, reason: str, running: list[str]) -> float:
        self.log.info("%s: search ended: %s", self.key, reason)
        for cid in running:
            self.kube.delete_job(self.namespace, m.candidate_name(self.name, cid))
            candidate = self.proposed[cid]
            result = CandidateResult(id=cid, algorithm=candidate.algorithm, params=candidate.params,
                                     style=candidate.style, source=candidate.source, status="stopped",
                                     error=f"stopped: {reason}", metric=job.spec.metric)
            store.write_text(result.model_dump_json(indent=2), "candidates", cid, "result.json")
            self.results[cid] = result
        self.ctx.slots.release(self.key)
        self.update_search_status(job, 0)
        self.set_status(stopReason=reason)
        results = list(self.results.values())
        failed = [r for r in results if r.status in st.FAILED_STATUSES]
        first = next((f"{r.id} ({r.algorithm}): {r.error}" for r in sorted(failed, key=lambda r: r.id)), "none")
        if len(failed) > job.spec.limits.max_failed_candidates:
            raise Failure("TooManyFailedCandidates",
                          f"{len(failed)} candidates failed, more than limits.maxFailedCandidates "
                          f"({job.spec.limits.max_failed_candidates}); first error: {first}")
        if not any(r.ok for r in results):
            if "timeout" in reason:
                raise Failure("Timeout", f"{reason} before any candidate succeeded")
            raise Failure("AllCandidatesFailed", f"every candidate failed; first error: {first}")
        self.transition("Finalizing", "Finalizing", f"search ended ({reason}); building the final model")
        return 0.2

    # ------------------------------------------------------------------ finalize and deploy

    def finalizing(self, job: AutoMLJob, store: RunStore) -> float:
        child = self._single(m.ROLE_FINALIZE)
        if child is None:
            self.kube.create(m.finalize_job(self.owner(), job, store.run_uri, self.settings,
                                            self.deadline(job) - time.time()))
            return 0.5
        state, reason, message = job_state(child)
        if state == "running":
            return self.settings.poll_seconds
        term = self.kube.termination(self.namespace, child["metadata"]["name"])
        if state == "failed":
            raise Failure("FinalizeFailed", f"building the final model failed: {termination_error(term, reason, message)}")
        summary = termination_summary(term)
        if not summary or not summary.get("sha256"):
            text = store.read_text("final.json")
            if text is None:
                raise Failure("FinalizeFailed", "the finalize step left no summary and no final.json")
            final = json.loads(text)
            summary = {"algorithm": final.get("algorithm"), "score": final.get("validation_score"),
                       "testScore": final.get("test_score"), "modelUri": final.get("model_uri"),
                       "sha256": final.get("sha256")}
        self.set_status(best=st.best_model(summary))
        if not job.spec.serving.enabled:
            self.transition("Succeeded", "Succeeded", f"model written to {summary.get('modelUri')}")
            return 0.0
        self.transition("Deploying", "Deploying", f"deploying {summary.get('algorithm')} from {summary.get('modelUri')}")
        return self.deploying(job, store)

    def deploying(self, job: AutoMLJob, store: RunStore) -> float:
        best = self.desired.get("best") or {}
        model_uri, sha256 = best.get("modelUri"), best.get("sha256")
        if not model_uri or not sha256:
            raise Failure("DeployFailed", "status.best has no modelUri/sha256 to deploy")
        owner = self.owner()
        self.kube.create(m.predictor_deployment(owner, job, model_uri, sha256, self.settings))
        self.kube.create(m.predictor_service(owner, self.settings))
        deployment = self.kube.read_deployment(self.namespace, m.predictor_name(self.name))
        if deployment is None:
            return 0.5
        if deployment["spec"].get("replicas") != job.spec.serving.replicas:
            self.kube.patch_deployment(self.namespace, m.predictor_name(self.name),
                                       {"spec": {"replicas": job.spec.serving.replicas}})
            return 0.5
        conditions = {c["type"]: c for c in (deployment.get("status") or {}).get("conditions") or []}
        progressing = conditions.get("Progressing", {})
        if progressing.get("status") == "False" and progressing.get("reason") == "ProgressDeadlineExceeded":
            raise Failure("DeployFailed", f"the prediction service did not become available: {progressing.get('message')}")
        observed = (deployment.get("status") or {}).get("observedGeneration", 0) >= deployment["metadata"].get("generation", 0)
        if observed and conditions.get("Available", {}).get("status") == "True":
            url = m.endpoint(self.name, self.namespace, self.settings.serving_port)
            self.set_status(endpoint=url)
            self.transition("Succeeded", "Succeeded", f"serving {best.get('algorithm')} at {url}")
            return 0.0
        return 1.0
