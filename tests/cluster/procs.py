"""Starting and stopping the harness's processes, each in its own process group.

Every process is started with ``start_new_session=True``, so it and all its children share a
process group whose id is the leader's pid, and a stop signals that group.

Several clusters (other sessions' included) may run on one machine, and a stop may come from
another process long after the start (``down``, the reaper, ``gc``), when a recorded pid may
already belong to someone else. So every process of a cluster carries the environment
variable ``KUBE_AUTOML_CLUSTER=<its folder>`` (children inherit it, the node agent passes it
to pods), and a stop signals only the members of the group that carry this cluster's value.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

MARKER = "KUBE_AUTOML_CLUSTER"


def start(
    name: str,
    argv: list[str],
    logdir: Path,
    marker: str,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
) -> dict:
    logdir.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ if env is None else env, **{MARKER: marker})
    with open(logdir / f"{name}.log", "ab") as log:
        p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
    return {
        "name": name,
        "pid": p.pid,
        "argv0": os.path.basename(argv[0]),
        "marker": marker,
        "_popen": p,
    }


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def has_marker(pid: int, marker: str) -> bool:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"{MARKER}={marker}".encode() in env


def alive(pid: int, argv0: str | None = None, marker: str | None = None) -> bool:
    """pid runs (not a zombie); with argv0 / marker, it is also that process of ours."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return False
    if marker is not None and not has_marker(pid, marker):
        return False
    if argv0 is None:
        return True
    args = cmdline(pid)
    return bool(args) and any(os.path.basename(a) == argv0 for a in args[:3])


def members(pgid: int, marker: str | None = None) -> list[int]:
    """Live (non-zombie) processes of a process group; with marker, only ours."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        fields = _stat(int(d.name))
        if fields is None or fields[0] == "Z" or int(fields[2]) != pgid:
            continue
        if marker is None or has_marker(int(d.name), marker):
            out.append(int(d.name))
    return out


def group_alive(pgid: int, marker: str | None = None) -> bool:
    return bool(members(pgid, marker))


def _signal(pgid: int, sig: int, marker: str | None) -> None:
    if marker is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        return
    for pid in members(pgid, marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_group(
    pgid: int,
    grace: float = 5.0,
    sig: int = signal.SIGTERM,
    popen: subprocess.Popen | None = None,
    marker: str | None = None,
) -> None:
    """sig (SIGTERM) to the group, SIGKILL after grace seconds if any member lives.

    With marker, only the group's members that carry it are signalled."""
    if not group_alive(pgid, marker):
        return
    _signal(pgid, sig, marker)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=0)
        if not group_alive(pgid, marker):
            return
        time.sleep(0.05)
    _signal(pgid, signal.SIGKILL, marker)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)


def stop(proc: dict, grace: float = 5.0) -> None:
    """Stop a process recorded by start() and the rest of its group (ours only)."""
    popen = proc.get("_popen")
    stop_group(proc["pid"], grace=grace, popen=popen, marker=proc.get("marker"))
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=0)
