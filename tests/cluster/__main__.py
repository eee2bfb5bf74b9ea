"""``python -m tests.cluster build|up|down|status`` — the test cluster by hand.

- ``build``  builds the pinned binaries that are missing (Go needed; minutes when cold).
- ``up``     starts a cluster in the background and prints what to export.
- ``down``   stops the cluster recorded in the state file and removes its folder.
- ``status`` says whether it runs, and where.
- ``gc``     cleans up after clusters whose processes all died without a teardown
             (orphaned pod processes, pod network, folder); live clusters are left alone.

The state file is ``$AUTOML_CLUSTER_STATE`` or ``<cache>/current/state-link.json``: a small
JSON that points at the running cluster's own ``state.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from . import build
from .cluster import Cluster, collect_garbage, teardown
from .procs import alive


def pointer_file() -> Path:
    env = os.environ.get("AUTOML_CLUSTER_STATE")
    return Path(env) if env else build.cache_root() / "current" / "state-link.json"


def _load() -> Cluster | None:
    ptr = pointer_file()
    if not ptr.exists():
        return None
    state_file = Path(json.loads(ptr.read_text())["state_file"])
    if not state_file.exists():
        ptr.unlink()
        return None
    return Cluster.from_state(state_file)


def _exports(c: Cluster) -> str:
    env = {"KUBECONFIG": str(c.kubeconfig), **c.s3_env(), "PATH": f"{c.bin_dir}{os.pathsep}$PATH"}
    lines = []
    for k, v in env.items():
        val = v if k == "PATH" else shlex.quote(v)
        lines.append(f"export {k}={val}")
    return "\n".join(lines)


def cmd_build(_: argparse.Namespace) -> int:
    t0 = time.monotonic()
    out = build.ensure_built(log=lambda m: print(m, file=sys.stderr, flush=True))
    print(f"binaries in {out} ({time.monotonic() - t0:.0f}s)", file=sys.stderr)
    print(out)
    return 0


def cmd_up(a: argparse.Namespace) -> int:
    existing = _load()
    if existing is not None:
        print(f"a cluster is already up ({existing.workdir}); run down first", file=sys.stderr)
        return 1
    if a.build:
        build.ensure_built(log=lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    c = Cluster.start(nodes=a.nodes, log=lambda m: print(m, file=sys.stderr, flush=True))
    ptr = pointer_file()
    ptr.parent.mkdir(parents=True, exist_ok=True)
    ptr.write_text(json.dumps({"state_file": str(c.state_file)}))
    print(
        f"cluster up in {time.monotonic() - t0:.1f}s; logs in {c.state_file.parent / 'logs'}", file=sys.stderr
    )
    print(_exports(c))
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    ptr = pointer_file()
    c = _load()
    if c is None:
        print("no cluster is up", file=sys.stderr)
        return 0
    teardown(json.loads(c.state_file.read_text()))
    ptr.unlink(missing_ok=True)
    print(f"stopped and removed {c.workdir}", file=sys.stderr)
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    c = _load()
    if c is None:
        print("down")
        return 3
    st = json.loads(c.state_file.read_text())
    print(f"workdir: {c.workdir}")
    for p in st.get("processes", []):
        print(
            f"  {p['name']:<24} pid {p['pid']:<8} "
            f"{'running' if alive(p['pid'], p.get('argv0')) else 'NOT RUNNING'}"
        )
    print(f"network: {st.get('network', {}).get('mode')} {st.get('network', {}).get('subnet')}")
    print(_exports(c))
    return 0


def cmd_gc(_: argparse.Namespace) -> int:
    for d in collect_garbage(remove_folders=True):
        print(f"removed the remains of {d}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.cluster", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build the missing binaries").set_defaults(fn=cmd_build)
    up = sub.add_parser("up", help="start a cluster in the background")
    up.add_argument("--nodes", type=int, default=1)
    up.add_argument("--build", action="store_true", help="build missing binaries first")
    up.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop the cluster").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="is it up?").set_defaults(fn=cmd_status)
    sub.add_parser("gc", help="clean up after clusters whose processes died").set_defaults(fn=cmd_gc)
    a = ap.parse_args(argv)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
