"""``python -m automl.trainer``: the trainer image's entrypoint, one step of a job per process.

    prepare   read and check the data, write the prepared data, plan and guardrails
    train     train and validate one candidate, write its result, model and predictions
    finalize  choose the best candidate or an ensemble, refit, score on test data, write the model

Each step writes a short JSON summary to ``--summary-file`` (a pod's
``terminationMessagePath``), exits 0 on success and non-zero with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automl import storage
from automl.errors import AutoMLError

EXIT_FAILED = 1  # the step ran and failed (bad data, candidate error)


def _write_summary(path: str | None, payload: dict[str, Any] | str) -> None:
    if not path:
        return
    text = payload if isinstance(payload, str) else json.dumps(payload)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text[:4000])


def _default_summary_file() -> str | None:
    """In a pod, the termination-message file (Kubernetes creates it writable)."""
    path = os.environ.get("TERMINATION_MESSAGE_PATH") or "/dev/termination-log"
    return path if os.path.exists(path) and os.access(path, os.W_OK) else None


def _load_job(source: str) -> Any:
    from automl.spec import load_job, parse_job

    if source.lstrip().startswith("{"):
        return parse_job(json.loads(source), "--job")
    if "://" in source and not source.startswith("file://"):
        import yaml

        return parse_job(yaml.safe_load(storage.read_text(source)), source)
    return load_job(source)


def cmd_train(args: argparse.Namespace) -> int:
    from automl.candidate import Candidate
    from automl.trainer.core import train_candidate

    try:
        candidate = Candidate.model_validate_json(args.candidate)
    except ValueError as err:
        raise AutoMLError(f"--candidate is not a valid candidate: {err}".replace("\n", " ")) from err
    result = train_candidate(args.run, candidate, n_jobs=args.n_jobs)
    _write_summary(args.summary_file, result.summary())
    if not result.ok:
        print(f"candidate {candidate.id} failed: {result.error}", file=sys.stderr)
        return EXIT_FAILED
    print(result.summary())
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from automl.guardrails import check_all
    from automl.prepare import prepare

    job = _load_job(args.job)
    plan = prepare(job.spec, args.run, check_all)
    storage.write_text(storage.join(args.run, "job.json"), json.dumps(job.model_dump(mode="json", by_alias=True, exclude_none=True)))
    summary = {
        "status": "succeeded",
        "rows": plan.n_rows,
        "features": plan.n_features,
        "classes": len(plan.classes),
        "validation": f"{plan.validation.method}:{plan.validation.folds}",
        "alerts": [g.check for g in plan.guardrails if g.result == "alerted"],
    }
    _write_summary(args.summary_file, summary)
    print(json.dumps(summary))
    return 0


def cmd_finalize(args: argparse.Namespace) -> int:
    from automl.candidate import CandidateResult
    from automl.finalize import finalize

    job = _load_job(args.job)
    uris = [u for u in storage.storage_for(args.run).list(storage.join(args.run, "candidates")) if u.endswith("/result.json")]
    results = [CandidateResult.model_validate_json(storage.read_text(u)) for u in uris]
    started = time.monotonic()
    final = finalize(job.spec, job.name, args.run, results, args.seconds_left, n_jobs=args.n_jobs)
    storage.write_text(storage.join(args.run, "final.json"), final.model_dump_json(indent=2))
    summary = {
        "status": "succeeded",
        "algorithm": final.algorithm,
        "score": final.validation_score,
        "testScore": final.test_score,
        "modelUri": final.model_uri,
        "sha256": final.sha256,
        "seconds": round(time.monotonic() - started, 3),
    }
    _write_summary(args.summary_file, summary)
    print(json.dumps(summary))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m automl.trainer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run", required=True, help="the run location (path, file:// or s3://)")
    common.add_argument(
        "--summary-file",
        default=_default_summary_file(),
        help="write a short JSON summary here (default in a pod: its termination-message file)",
    )
    common.add_argument("--n-jobs", type=int, default=1, help="threads the learner may use")

    train = sub.add_parser("train", parents=[common], help="train one candidate")
    train.add_argument("--candidate", required=True, help="the candidate as JSON")
    train.set_defaults(fn=cmd_train)

    prepare = sub.add_parser("prepare", parents=[common], help="read and check the data")
    prepare.add_argument("--job", required=True, help="the AutoMLJob: a manifest path/URI or inline JSON")
    prepare.set_defaults(fn=cmd_prepare)

    finalize = sub.add_parser("finalize", parents=[common], help="ensemble, refit and write the model")
    finalize.add_argument("--job", required=True, help="the AutoMLJob: a manifest path/URI or inline JSON")
    finalize.add_argument("--seconds-left", type=float, default=None, help="time left in the job's budget")
    finalize.set_defaults(fn=cmd_finalize)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except AutoMLError as err:
        message = str(err).replace("\n", " ")
        _write_summary(getattr(args, "summary_file", None), {"status": "failed", "error": message[:3000]})
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
