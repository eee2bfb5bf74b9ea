"""Operator overhead: the same AutoMLJob through the operator and through the embedded runner.

    python -m benchmarks.operator.run [--candidates 8] [--parallel 2] [--repeats 1]

Starts the local test cluster (tests/cluster: real API server, controllers, scheduler, MinIO,
node agent), installs the chart with the operator scaled to 0 and runs ``python -m
automl.operator`` locally under the chart's ServiceAccount (as the end-to-end tests do). Then,
for each repeat, it measures

- through the operator: ``kubectl apply`` -> first candidate Job created, -> model written
  (phase Deploying), -> Succeeded (serving Deployment Available);
- embedded: ``automl.runner.run_job`` on the same spec (same data in MinIO, same output
  store, same ``maxParallel``), wall time of the whole call;

and prints both and their ratio, and writes ``results.json`` next to this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.cluster import Cluster  # noqa: E402
from tests.integration.test_operator_cluster import (  # noqa: E402
    CHART,
    OPERATOR_NS,
    RELEASE,
    SERVICE_ACCOUNT,
    OperatorProcess,
)


def spec(name: str, candidates: int, parallel: int, output: str) -> dict[str, Any]:
    return {
        "apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": name},
        "spec": {
            "task": "classification",
            "data": {"train": "s3://automl-data/bench/train.csv", "test": "s3://automl-data/bench/test.csv",
                     "label": "diagnosis", "credentialsSecret": "minio-credentials"},
            "search": {"maxCandidates": candidates, "maxParallel": parallel},
            "validation": {"method": "cv", "folds": 3},
            "limits": {"timeout": "20m", "candidateTimeout": "5m"},
            "ensemble": {"enabled": True, "size": 10},
            "serving": {"enabled": True},
            "output": output,
        },
    }


def through_operator(cluster: Cluster, namespace: str, document: dict[str, Any]) -> dict[str, float]:
    from kubernetes import client, watch

    name = document["metadata"]["name"]
    marks: dict[str, float] = {}
    done = threading.Event()

    def watch_jobs() -> None:
        with cluster.api_client() as api:
            w = watch.Watch()
            for event in w.stream(client.BatchV1Api(api).list_namespaced_job, namespace, timeout_seconds=600,
                                  label_selector=f"automl.dev/job={name},automl.dev/role=candidate"):
                if event["type"] == "ADDED" and "first_candidate" not in marks:
                    marks["first_candidate"] = time.monotonic()
                if done.is_set() or "first_candidate" in marks:
                    w.stop()

    watcher = threading.Thread(target=watch_jobs, daemon=True)
    watcher.start()
    time.sleep(0.5)  # the watch is established
    t0 = time.monotonic()
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
    while True:
        status = json.loads(cluster.kubectl("get", "automljob", name, "-n", namespace, "-o", "json").stdout).get("status") or {}
        phase = status.get("phase")
        now = time.monotonic()
        for p in ("Training", "Finalizing", "Deploying"):
            if phase == p or (p == "Deploying" and phase == "Succeeded"):
                marks.setdefault(p, now)
        if phase in ("Succeeded", "Failed"):
            marks[phase] = now
            break
        if now - t0 > 900:
            raise RuntimeError(f"{name} did not finish: {status}")
        time.sleep(0.2)
    done.set()
    if status.get("phase") != "Succeeded":
        raise RuntimeError(f"{name} failed: {status.get('message')}")
    return {
        "apply_to_first_candidate_job_s": round(marks["first_candidate"] - t0, 2),
        "apply_to_training_s": round(marks["Training"] - t0, 2),
        "apply_to_model_s": round(marks["Deploying"] - t0, 2),
        "apply_to_succeeded_s": round(marks["Succeeded"] - t0, 2),
        "best_score": status["best"]["score"],
    }


def embedded(cluster: Cluster, document: dict[str, Any]) -> dict[str, float]:
    os.environ.update(cluster.s3_env())
    from automl import storage
    from automl.runner import run_job
    from automl.spec import parse_job

    storage._s3_client.cache_clear()
    job = parse_job(document)
    t0 = time.monotonic()
    result = run_job(job, overwrite=True)
    return {"total_s": round(time.monotonic() - t0, 2), "best_score": result.best.validation_score if result.best else None,
            **{k: v for k, v in result.timings.items() if k != "budget_seconds"}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    args = p.parse_args(argv)

    cluster = Cluster.start()
    operator = None
    try:
        cluster.create_namespace(OPERATOR_NS)
        cluster.helm("install", RELEASE, str(CHART), "-n", OPERATOR_NS, "--set", "operator.replicas=0", "--wait")
        cluster.kubectl("wait", "--for=condition=Established", "crd/automljobs.automl.dev", "--timeout=60s")
        for bucket in ("automl-data", "automl-runs"):
            cluster.make_bucket(bucket)
        s3 = cluster.s3_client()
        s3.upload_file(str(ROOT / "examples/data/breast_cancer_train.csv"), "automl-data", "bench/train.csv")
        s3.upload_file(str(ROOT / "examples/data/breast_cancer_test.csv"), "automl-data", "bench/test.csv")
        namespace = cluster.create_namespace("bench")
        cluster.kubectl("create", "secret", "generic", "minio-credentials", "-n", namespace,
                        f"--from-literal=AWS_ACCESS_KEY_ID={cluster.s3.access_key}",
                        f"--from-literal=AWS_SECRET_ACCESS_KEY={cluster.s3.secret_key}",
                        f"--from-literal=AWS_ENDPOINT_URL={cluster.s3.endpoint_url}")
        log_dir = Path(cluster.workdir or ".") / "operator-logs"
        log_dir.mkdir(exist_ok=True)
        operator = OperatorProcess(cluster, cluster.service_account_kubeconfig(OPERATOR_NS, SERVICE_ACCOUNT), log_dir)
        operator.start()
        runs = []
        for _ in range(args.repeats):
            tag = uuid.uuid4().hex[:6]
            op = through_operator(cluster, namespace, spec(f"bench-{tag}", args.candidates, args.parallel,
                                                           f"s3://automl-runs/bench/operator-{tag}"))
            emb = embedded(cluster, spec(f"bench-{tag}", args.candidates, args.parallel,
                                         f"s3://automl-runs/bench/embedded-{tag}"))
            runs.append({"operator": op, "embedded": emb})
            print(json.dumps(runs[-1]), flush=True)
        model = statistics.median(r["operator"]["apply_to_model_s"] for r in runs)
        total = statistics.median(r["operator"]["apply_to_succeeded_s"] for r in runs)
        local = statistics.median(r["embedded"]["total_s"] for r in runs)
        summary = {
            "candidates": args.candidates, "max_parallel": args.parallel, "repeats": args.repeats,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "apply_to_first_candidate_job_s": statistics.median(r["operator"]["apply_to_first_candidate_job_s"] for r in runs),
            "operator_to_model_s": model,
            "operator_to_serving_s": total,
            "embedded_total_s": local,
            "ratio_model_vs_embedded": round(model / local, 2),
            "ratio_serving_vs_embedded": round(total / local, 2),
            "runs": runs,
        }
        Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    finally:
        if operator is not None:
            operator.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
