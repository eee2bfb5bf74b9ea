"""Starting and stopping the harness's processes, each in its own process group.

Every process is started with ``start_new_session=True``, so it and all its children share a
process group whose id is the leader's pid, and a stop signals the whole group. Before a
group is signalled its leader's command line is checked against the one recorded at start,
so a pid that was reused by an unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


def start(
    name: str,
    argv: list[str],
    logdir: Path,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
) -> dict:
    logdir.mkdir(parents=True, exist_ok=True)
    with open(logdir / f"{name}.log", "ab") as log:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return {"name": name, "pid": p.pid, "argv0": os.path.basename(argv[0]), "_popen": p}


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def alive(pid: int, argv0: str | None = None) -> bool:
    """True if pid runs (not a zombie) and, when given, its argv[0] ends with argv0."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[1].split()[0] == "Z":
        return False
    if argv0 is None:
        return True
    args = cmdline(pid)
    return bool(args) and any(os.path.basename(a) == argv0 for a in args[:3])


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a group of only zombies still answers signal 0: look for a live member
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(proc: dict) -> None:
    p = proc.get("_popen")
    if p is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=0)


def stop_group(pgid: int, grace: float = 5.0, sig: int = signal.SIGTERM, popen=None) -> None:
    """SIGTERM (or sig) to the whole group, SIGKILL after grace seconds if any member lives."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0)
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)


def stop(proc: dict, grace: float = 5.0) -> None:
    """Stop a process started by start() (or recorded from it) and its whole group."""
    pid = proc["pid"]
    if not alive(pid, proc.get("argv0")) and not group_alive(pid):
        _reap(proc)
        return
    stop_group(pid, grace=grace, popen=proc.get("_popen"))
