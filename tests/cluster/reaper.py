"""Stops a cluster when the process that started it dies (``python -m tests.cluster.reaper``).

The pytest fixture tears the cluster down in a ``finally`` and again at exit; this watchdog
covers the one case those cannot: the test process killed outright (SIGKILL, OOM). It runs in
its own session, polls the watched pid, and tears down from the state file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .cluster import teardown
from .procs import alive


def main(state_file: str, watch_pid: str) -> int:
    state_path = Path(state_file)
    pid = int(watch_pid)
    while True:
        if not state_path.exists():
            return 0  # stopped normally
        if not alive(pid):
            break
        time.sleep(1)
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return 0
    state["processes"] = [p for p in state.get("processes", []) if p.get("name") != "reaper"]
    print(
        f"reaper: process {pid} is gone, stopping the cluster in {state.get('workdir')}",
        file=sys.stderr,
        flush=True,
    )
    teardown(state)
    return 0


if __name__ == "__main__":
    os.nice(5)
    sys.exit(main(*sys.argv[1:3]))
