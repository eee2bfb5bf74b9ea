"""Peak memory of a whole `automl run` process tree on a 100,000-row x 50-column CSV.

Samples the resident set size of the runner and all its descendants (the forkserver and
every candidate process) from /proc every 100 ms and reports the peak of their sum.

    python benchmarks/memory/run.py [--rows 100000] [--columns 50] [--timeout 120s]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

PAGE = os.sysconf("SC_PAGE_SIZE")


def make_data(path: Path, rows: int, columns: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    numeric = columns - 10
    data = {f"num{i}": rng.normal(size=rows).round(5) for i in range(numeric)}
    for i in range(8):
        data[f"cat{i}"] = rng.choice([f"v{k}" for k in range(5 + 20 * i)], size=rows)
    data["when"] = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 1000, size=rows), unit="D")
    signal = data["num0"] + 0.5 * data["num1"] - 0.3 * data["num2"] + (data["cat0"] == "v1")
    data["label"] = np.where(signal + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    frame = pd.DataFrame(data)
    frame.loc[rng.random(rows) < 0.05, "num3"] = np.nan
    frame.to_csv(path, index=False)


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * PAGE
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--timeout", default="120s")
    parser.add_argument("--max-parallel", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.csv"
        make_data(data, args.rows, args.columns)
        manifest = {
            "apiVersion": "automl.dev/v1alpha1", "kind": "AutoMLJob", "metadata": {"name": "memory"},
            "spec": {"task": "classification", "data": {"train": str(data), "label": "label"},
                     "search": {"maxCandidates": 20, "maxParallel": args.max_parallel},
                     "limits": {"timeout": args.timeout, "candidateTimeout": "60s"}, "output": f"{tmp}/run"},
        }
        (Path(tmp) / "job.yaml").write_text(yaml.safe_dump(manifest))
        size = data.stat().st_size / 2**20
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "automl.cli", "run", f"{tmp}/job.yaml", "--quiet"],
                                stdout=subprocess.PIPE, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.1)
        out = proc.stdout.read() if proc.stdout else ""
        print(out.strip()[-600:])
        print(f"\n{args.rows} rows x {args.columns} columns ({size:.0f} MiB CSV), maxParallel {args.max_parallel}, "
              f"timeout {args.timeout}: exit {proc.returncode}, wall {time.monotonic() - started:.0f}s, "
              f"peak RSS of the process tree {peak / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
