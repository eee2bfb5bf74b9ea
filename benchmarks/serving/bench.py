"""Serving latency and throughput: kube-automl's service vs raw predict vs MLServer.

For a LightGBM classifier and a random forest, each trained by the engine (``automl run`` on
a synthetic churn table with numeric and categorical columns), this measures on this machine:

- raw in-process ``pipeline.predict_proba`` (the lower bound): single-row p50/p99 and
  rows/s for batches of 1 and 1,000, one thread;
- kube-automl's service (``python -m automl.serving``, default workers) over HTTP;
- MLServer 1.7.1's scikit-learn runtime serving the same pipeline (joblib), in its own venv
  (``--mlserver-venv``; skipped with a note when it is missing or will not start).

Both servers get the same Open Inference Protocol v2 request (column-named inputs, the pandas
content type, ``outputs: [predict_proba]``). Load comes from a separate process
(``bench.py loadgen``: an asyncio HTTP/1.1 client on keep-alive connections), loopback only,
bounded in count and time: sequential single-row requests (latency), closed-loop concurrent
clients for a few seconds (requests/s, rows/s), and an open-loop fixed rate of 200 requests/s
whose latency counts from each request's scheduled time (no coordinated omission).

Usage::

    .venv/bin/python benchmarks/serving/bench.py                 # train (cached), measure, write RESULTS.md
    .venv/bin/python benchmarks/serving/bench.py --quick         # shorter runs
    ~/.cache/kube-automl/bench/mlserver-venv: see RESULTS.md for how it is made
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PYTHON = sys.executable
DEFAULT_WORK = Path.home() / ".cache" / "kube-automl" / "bench" / "serving"
DEFAULT_MLSERVER = Path.home() / ".cache" / "kube-automl" / "bench" / "mlserver-venv"
_DATA = {"csv": DEFAULT_WORK / "churn.csv"}
MODELS = {"lightgbm": "LightGBM classifier", "random_forest": "random forest classifier"}


# -- load generation (runs in its own process) -----------------------------------------------


async def _roundtrip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


def _raw_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _loadgen(args: argparse.Namespace) -> dict[str, Any]:
    assert args.host in ("127.0.0.1", "localhost", "::1"), "loopback only"
    body = Path(args.body).read_bytes()
    raw = _raw_request(args.host, args.port, args.path, body)
    latencies: list[float] = []
    errors = 0
    sent = 0

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(args.host, args.port)

    async def one(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], start: float | None = None
    ) -> None:
        nonlocal errors, sent
        begin = time.perf_counter() if start is None else start
        sent += 1
        status, _ = await _roundtrip(*conn, raw)
        latencies.append(time.perf_counter() - begin)
        if status != 200:
            errors += 1

    started = time.perf_counter()
    if args.mode == "sequential":
        conn = await connect()
        for _ in range(args.warmup):
            await _roundtrip(*conn, raw)
        started = time.perf_counter()
        for _ in range(args.count):
            await one(conn)
        conn[1].close()
    elif args.mode == "closed":
        conns = [await connect() for _ in range(args.concurrency)]
        for conn in conns:
            await _roundtrip(*conn, raw)
        started = time.perf_counter()
        deadline = started + args.seconds

        async def loop(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
            while time.perf_counter() < deadline and sent < args.count:
                await one(conn)

        await asyncio.gather(*(loop(c) for c in conns))
        for conn in conns:
            conn[1].close()
    else:  # open loop at a fixed rate
        total = int(args.rate * args.seconds)
        conns = [await connect() for _ in range(args.concurrency)]
        for conn in conns:
            await _roundtrip(*conn, raw)
        queue: asyncio.Queue[float] = asyncio.Queue()
        started = time.perf_counter() + 0.05

        async def scheduler() -> None:
            for i in range(total):
                due = started + i / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait(due)

        async def worker(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
            while True:
                due = await queue.get()
                try:
                    await one(conn, start=due)
                finally:
                    queue.task_done()

        workers = [asyncio.create_task(worker(c)) for c in conns]
        await scheduler()
        await asyncio.wait_for(queue.join(), timeout=60)
        for w in workers:
            w.cancel()
        for conn in conns:
            conn[1].close()
    elapsed = time.perf_counter() - started
    return {"latencies": latencies, "errors": errors, "sent": sent, "elapsed": elapsed}


def loadgen_main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="bench.py loadgen")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--mode", choices=["sequential", "closed", "rate"], required=True)
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--rate", type=float, default=200)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(_loadgen(args))))


# -- data, training, models ------------------------------------------------------------------


def make_data(work: Path) -> Path:
    import numpy as np
    import pandas as pd

    path = work / "churn.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(7)
    n = 5000
    frame = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 72, n),
            "monthly_charges": rng.normal(70, 25, n).round(2),
            "total_charges": rng.normal(2000, 900, n).round(2),
            "support_calls": rng.poisson(1.5, n),
            "age": rng.integers(18, 85, n),
            "data_gb": np.where(rng.random(n) < 0.05, np.nan, rng.gamma(2, 5, n).round(1)),
            "late_payments": rng.poisson(0.4, n),
            "discount": rng.random(n).round(3),
            "contract": rng.choice(["month-to-month", "one-year", "two-year"], n, p=[0.5, 0.3, 0.2]),
            "payment": rng.choice(["card", "bank", "check", "wallet"], n),
            "region": rng.choice([f"r{i:02d}" for i in range(20)], n),
            "plan": rng.choice(["basic", "plus", "premium"], n),
        }
    )
    logit = (
        -1.0
        + 0.8 * (frame["contract"] == "month-to-month")
        + 0.35 * frame["support_calls"]
        - 0.03 * frame["tenure_months"]
        + 0.01 * (frame["monthly_charges"] - 70)
        + 0.4 * frame["late_payments"]
    )
    frame["churned"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    work.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def train(work: Path, algorithm: str, retrain: bool) -> Path:
    run_dir = work / "runs" / algorithm
    model = run_dir / "model"
    if (model / "model.json").exists() and not retrain:
        return model
    data = make_data(work)
    manifest = work / f"{algorithm}.yaml"
    manifest.write_text(
        f"""apiVersion: automl.dev/v1alpha1
kind: AutoMLJob
metadata:
  name: bench-{algorithm.replace("_", "-")}
spec:
  task: classification
  data:
    train: {data}
    label: churned
  primaryMetric: roc_auc
  search:
    maxCandidates: 4
    maxParallel: 2
    allowedAlgorithms: [{algorithm}]
  limits:
    timeout: 120s
    candidateTimeout: 60s
  ensemble:
    enabled: false
"""
    )
    automl = Path(PYTHON).parent / "automl"
    subprocess.run(
        [str(automl), "run", str(manifest), "--output", str(run_dir), "--overwrite", "--quiet"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return model


def request_rows(n: int, seed: int = 11) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_csv(_DATA["csv"]).drop(columns=["churned"]).sample(n, random_state=seed, replace=n > 5000)
    records = frame.to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in records]


def v2_body(records: list[dict[str, Any]]) -> bytes:
    columns = list(records[0])
    inputs = []
    for name in columns:
        values = [r[name] for r in records]
        if any(isinstance(v, str) for v in values):
            inputs.append({"name": name, "datatype": "BYTES", "shape": [len(values), 1], "data": values})
        else:
            dtype = "INT64" if all(isinstance(v, int) for v in values) else "FP64"
            inputs.append({"name": name, "datatype": dtype, "shape": [len(values), 1], "data": values})
    request = {"parameters": {"content_type": "pd"}, "inputs": inputs, "outputs": [{"name": "predict_proba"}]}
    return json.dumps(request).encode()


# -- raw in-process predict ------------------------------------------------------------------


def raw_predict(model_dir: Path, quick: bool) -> dict[str, Any]:
    import pandas as pd
    from threadpoolctl import threadpool_limits

    from automl import artifact

    model, _ = artifact.load_model(str(model_dir))
    model.set_n_jobs(1)
    threadpool_limits(1)
    pipeline = model.members[0].pipeline
    singles = [pd.DataFrame([r]) for r in request_rows(200)]
    for frame in singles[:20]:
        pipeline.predict_proba(frame)
    latencies = []
    count = 200 if quick else 600
    cpu = time.thread_time()
    for i in range(count):
        frame = singles[i % len(singles)]
        started = time.perf_counter()
        pipeline.predict_proba(frame)
        latencies.append(time.perf_counter() - started)
    cpu_single = (time.thread_time() - cpu) / count
    big = pd.DataFrame(request_rows(1000))
    pipeline.predict_proba(big)
    started, cpu = time.perf_counter(), time.thread_time()
    rounds = 3 if quick else 10
    for _ in range(rounds):
        pipeline.predict_proba(big)
    batch_seconds = (time.perf_counter() - started) / rounds
    cpu_batch = (time.thread_time() - cpu) / rounds
    return {
        "cpu_ms_per_sequential_request": 1000 * cpu_single,
        "cpu_ms_per_request_batch1": 1000 * cpu_single,
        "cpu_ms_per_1000_rows": 1000 * cpu_batch,
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "rows_per_s_batch1": 1 / statistics.mean(latencies),
        "rows_per_s_batch1000": 1000 / batch_seconds,
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def _pct(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()[-3000:]}")


@dataclass
class Target:
    port: int
    path: str
    group: int  # process group id: the server and its workers


def group_cpu_seconds(group: int) -> float:
    """User + system CPU time of the live processes in a process group (from /proc)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == group:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def _process(
    command: list[str], log: Path, ready_url: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[int]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )
    try:
        _wait(ready_url, process, log)
        yield process.pid  # also the process group of the server and all its workers
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


@contextlib.contextmanager
def automl_server(model_dir: Path, work: Path, workers: int | None) -> Iterator[Target]:
    port = free_port()
    command = [
        PYTHON,
        "-m",
        "automl.serving",
        "--model-uri",
        str(model_dir),
        "--port",
        str(port),
        "--name",
        "m",
    ]
    if workers:
        command += ["--workers", str(workers)]
    with _process(command, work / "automl-server.log", f"http://127.0.0.1:{port}/v2/health/ready") as group:
        yield Target(port, "/v2/models/m/infer", group)


@contextlib.contextmanager
def mlserver(model_dir: Path, work: Path, venv: Path, workers: int | None) -> Iterator[Target]:
    import joblib

    from automl import artifact

    model, _ = artifact.load_model(str(model_dir))
    model.set_n_jobs(1)
    repo = work / "mlserver-repo"
    folder = repo / "m"
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model.members[0].pipeline, folder / "model.joblib")
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "m",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
            }
        )
    )
    port, grpc, metrics = free_port(), free_port(), free_port()
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": grpc,
        "metrics_port": metrics,
    }
    if workers is not None:
        settings["parallel_workers"] = workers
    (repo / "settings.json").write_text(json.dumps(settings))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),  # the pipeline's first steps are kube-automl classes
        "OMP_NUM_THREADS": "1",
    }
    with _process(
        [str(venv / "bin" / "mlserver"), "start", str(repo)],
        work / "mlserver.log",
        f"http://127.0.0.1:{port}/v2/models/m/ready",
        env=env,
        cwd=repo,
    ) as group:
        yield Target(port, "/v2/models/m/infer", group)


def load(port: int, path: str, body: bytes, work: Path, **options: Any) -> dict[str, Any]:
    body_file = work / f"body-{len(body)}.json"
    body_file.write_bytes(body)
    command = [PYTHON, __file__, "loadgen", "--port", str(port), "--path", path, "--body", str(body_file)]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(result.stdout)


def measure_server(target: Target, work: Path, quick: bool) -> dict[str, Any]:
    one = v2_body(request_rows(1))
    thousand = v2_body(request_rows(1000))
    seconds = 3 if quick else 6
    port, path = target.port, target.path

    def timed(body: bytes, **options: Any) -> tuple[dict[str, Any], float]:
        before = group_cpu_seconds(target.group)
        result = load(port, path, body, work, **options)
        return result, group_cpu_seconds(target.group) - before

    seq, cpu_seq = timed(one, mode="sequential", count=300 if quick else 1000)
    closed1, cpu1 = timed(one, mode="closed", concurrency=8, seconds=seconds)
    closed1000, cpu1000 = timed(thousand, mode="closed", concurrency=4, seconds=seconds, warmup=2)
    rate, _ = timed(one, mode="rate", rate=200, seconds=5 if quick else 10, concurrency=32)
    for name, result in (
        ("sequential", seq),
        ("closed1", closed1),
        ("closed1000", closed1000),
        ("rate200", rate),
    ):
        if result["errors"]:
            print(f"  warning: {result['errors']} errors in {name}", file=sys.stderr)
    return {
        "p50_ms": _pct(seq["latencies"], 50),
        "p99_ms": _pct(seq["latencies"], 99),
        "req_per_s_batch1": closed1["sent"] / closed1["elapsed"],
        "rows_per_s_batch1": closed1["sent"] / closed1["elapsed"],
        "rows_per_s_batch1000": 1000 * closed1000["sent"] / closed1000["elapsed"],
        "cpu_ms_per_sequential_request": 1000 * cpu_seq / max(1, seq["sent"]),
        "cpu_ms_per_request_batch1": 1000 * cpu1 / max(1, closed1["sent"]),
        "cpu_ms_per_1000_rows": 1000 * cpu1000 / max(1, closed1000["sent"]),
        "rate200_p50_ms": _pct(rate["latencies"], 50),
        "rate200_p99_ms": _pct(rate["latencies"], 99),
        "rate200_achieved": len(rate["latencies"]) / rate["elapsed"],
        "errors": sum(r["errors"] for r in (seq, closed1, closed1000, rate)),
        "requests": sum(r["sent"] for r in (seq, closed1, closed1000, rate)),
    }


# -- report ----------------------------------------------------------------------------------


def conditions(workers: int | None) -> str:
    from automl.serving.settings import usable_cpus

    try:
        load1 = os.getloadavg()[0]
    except OSError:
        load1 = float("nan")
    return (
        f"{platform.processor() or platform.machine()}, {usable_cpus()} usable CPUs (shared; load average "
        f"{load1:.1f} at the start), Python {platform.python_version()}, kube-automl workers: "
        f"{workers or 'default (one per CPU)'}; load generator: a separate Python asyncio process on loopback"
    )


def table(results: dict[str, Any]) -> str:
    lines = [
        "| model | server | single-row p50 ms | single-row p99 ms | rows/s batch 1 | rows/s batch 1000 "
        "| p50 / p99 ms at 200 req/s | CPU ms per request, sequential 1-row | CPU ms per request, "
        "8 concurrent 1-row | CPU ms per 1,000 rows |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for algorithm, by_server in results.items():
        for server, r in by_server.items():
            if "skipped" in r:
                lines.append(f"| {MODELS[algorithm]} | {server} | skipped: {r['skipped']} | | | | | | | |")
                continue
            rate = f"{r['rate200_p50_ms']:.2f} / {r['rate200_p99_ms']:.2f}" if "rate200_p99_ms" in r else "—"
            lines.append(
                f"| {MODELS[algorithm]} | {server} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                f"{r['rows_per_s_batch1']:,.0f} | {r['rows_per_s_batch1000']:,.0f} | {rate} | "
                f"{r['cpu_ms_per_sequential_request']:.2f} | {r['cpu_ms_per_request_batch1']:.2f} | "
                f"{r['cpu_ms_per_1000_rows']:.0f} |"
            )
    return "\n".join(lines)


def ratios(results: dict[str, Any]) -> str:
    lines = []
    for algorithm, by_server in results.items():
        raw, ours, ml = (
            by_server.get("raw predict"),
            by_server.get("kube-automl"),
            by_server.get("MLServer 1.7.1"),
        )
        if raw and ours:
            lines.append(
                f"- {MODELS[algorithm]}: single-row p50 is {ours['p50_ms'] - raw['p50_ms']:+.2f} ms over raw predict "
                f"(goal: within 2 ms); p99 at 200 req/s is {ours['rate200_p99_ms']:.2f} ms (goal: < 10 ms); "
                f"server CPU per sequential single-row request {ours['cpu_ms_per_sequential_request']:.2f} ms vs "
                f"{raw['cpu_ms_per_sequential_request']:.2f} ms for one raw predict call "
                f"({ours['cpu_ms_per_sequential_request'] - raw['cpu_ms_per_sequential_request']:+.2f} ms)"
            )
        if ours and ml and "skipped" not in ml:
            lines.append(
                f"- {MODELS[algorithm]}: kube-automl / MLServer: {ours['req_per_s_batch1'] / ml['req_per_s_batch1']:.2f}x "
                f"requests/s at batch 1, {ours['rows_per_s_batch1000'] / ml['rows_per_s_batch1000']:.2f}x rows/s at "
                f"batch 1000, single-row p50 {ml['p50_ms'] / ours['p50_ms']:.2f}x lower, CPU per single-row request "
                f"{ml['cpu_ms_per_request_batch1'] / ours['cpu_ms_per_request_batch1']:.2f}x lower"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if argv[:1] == ["loadgen"]:
        loadgen_main(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p.add_argument("--mlserver-venv", type=Path, default=DEFAULT_MLSERVER)
    p.add_argument("--workers", type=int, default=None, help="kube-automl workers (default: one per CPU)")
    p.add_argument(
        "--mlserver-workers", type=int, default=None, help="MLServer parallel_workers (default: its own)"
    )
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--repeat", type=int, default=2, help="rounds, alternating servers; the table shows medians"
    )
    p.add_argument("--results", type=Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    _DATA["csv"] = make_data(args.work)
    results: dict[str, dict[str, Any]] = {}
    raw_runs: dict[str, Any] = {}
    started = conditions(args.workers)
    for algorithm in args.models:
        print(f"{algorithm}: training with automl run (cached)", file=sys.stderr)
        model_dir = train(args.work, algorithm, args.retrain)
        runs: dict[str, list[dict[str, Any]]] = {"raw predict": [], "kube-automl": [], "MLServer 1.7.1": []}
        skipped: str | None = None
        if not (args.mlserver_venv / "bin" / "mlserver").exists():
            skipped = f"no MLServer venv at {args.mlserver_venv}"
        for round_ in range(args.repeat):  # alternate the servers so that load changes hit both
            print(f"{algorithm} round {round_ + 1}: raw predict", file=sys.stderr)
            runs["raw predict"].append(raw_predict(model_dir, args.quick))
            print(f"{algorithm} round {round_ + 1}: kube-automl", file=sys.stderr)
            with automl_server(model_dir, args.work, args.workers) as target:
                runs["kube-automl"].append(measure_server(target, args.work, args.quick))
            if skipped:
                continue
            print(f"{algorithm} round {round_ + 1}: MLServer", file=sys.stderr)
            try:
                with mlserver(model_dir, args.work, args.mlserver_venv, args.mlserver_workers) as target:
                    runs["MLServer 1.7.1"].append(measure_server(target, args.work, args.quick))
            except (RuntimeError, subprocess.CalledProcessError) as err:
                skipped = f"did not run ({str(err).splitlines()[0][:80]}); see {args.work / 'mlserver.log'}"
        by_server: dict[str, Any] = {name: _median(r) for name, r in runs.items() if r}
        if skipped:
            by_server["MLServer 1.7.1"] = {"skipped": skipped}
        raw_runs[algorithm] = runs
        results[algorithm] = by_server
    args.results.write_text(
        json.dumps({"conditions": started, "results": results, "runs": raw_runs}, indent=2, default=float)
    )
    print(started)
    print(table(results))
    print(ratios(results))


if __name__ == "__main__":
    main(sys.argv[1:])
