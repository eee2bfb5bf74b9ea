"""Build the cluster's binaries from pinned Go modules, into a cache outside the clone.

Each component is its own Go module under ``tests/cluster/go/<component>/``: Kubernetes,
etcd, MinIO and Helm each pin their dependencies differently, and one shared module would
force a single version of grpc, otel, client-go... on all four (minimal version selection),
which is how builds of that kind break. Four small modules keep each one at the versions its
own release was tested with.

A component's binaries live in ``<cache>/<component>-<version>-<key>/bin`` where ``key``
hashes the module's go.mod + go.sum, the Go version and the link flags, so a change to any of
them builds afresh and an unchanged component is never rebuilt. ``bin_dir()`` is one folder
of symlinks to all of them. The cache root is ``$AUTOML_CLUSTER_CACHE`` or
``~/.cache/kube-automl/cluster``; Go's own module and build caches stay where Go keeps them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GO_DIR = Path(__file__).resolve().parent / "go"

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
HELM_VERSION = "v4.3.2"


def _kube_ldflags(version: str) -> list[str]:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=2026-01-01T00:00:00Z",
        ]
    return flags


@dataclasses.dataclass(frozen=True)
class Component:
    name: str
    version: str
    # binary name -> Go package path
    binaries: dict[str, str]
    ldflags: tuple[str, ...] = ()

    @property
    def module_dir(self) -> Path:
        return GO_DIR / self.name

    def key(self) -> str:
        h = hashlib.sha256()
        for f in ("go.mod", "go.sum"):
            h.update((self.module_dir / f).read_bytes())
        h.update(go_version().encode())
        h.update(" ".join(self.ldflags).encode())
        return h.hexdigest()[:10]

    def bin_dir(self) -> Path:
        return cache_root() / f"{self.name}-{self.version}-{self.key()}" / "bin"

    def is_built(self) -> bool:
        d = self.bin_dir()
        return all((d / b).is_file() and os.access(d / b, os.X_OK) for b in self.binaries)


COMPONENTS: tuple[Component, ...] = (
    Component(
        "kubernetes",
        KUBERNETES_VERSION,
        {
            "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
            "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
            "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
            "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        },
        ("-s", "-w", *_kube_ldflags(KUBERNETES_VERSION)),
    ),
    Component("etcd", ETCD_VERSION, {"etcd": "go.etcd.io/etcd/server/v3"}, ("-s", "-w")),
    Component(
        "minio",
        MINIO_VERSION,
        {"minio": "github.com/minio/minio"},
        ("-s", "-w"),
    ),
    Component(
        "helm",
        HELM_VERSION,
        {"helm": "helm.sh/helm/v4/cmd/helm"},
        ("-s", "-w", f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"),
    ),
)

BINARIES = tuple(b for c in COMPONENTS for b in c.binaries)


def cache_root() -> Path:
    env = os.environ.get("AUTOML_CLUSTER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kube-automl" / "cluster"


_GO_VERSION: str | None = None


def go_version() -> str:
    global _GO_VERSION
    if _GO_VERSION is None:
        if shutil.which("go") is None:
            _GO_VERSION = "no-go"
        else:
            out = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True)
            _GO_VERSION = out.stdout.strip()
    return _GO_VERSION


def bin_dir() -> Path:
    """One folder with a symlink to every binary; stable for one set of component keys."""
    keys = hashlib.sha256("|".join(str(c.bin_dir()) for c in COMPONENTS).encode())
    return cache_root() / f"bin-{keys.hexdigest()[:10]}"


def missing() -> list[Component]:
    return [c for c in COMPONENTS if not c.is_built()]


def _link_all() -> Path:
    out = bin_dir()
    out.mkdir(parents=True, exist_ok=True)
    for c in COMPONENTS:
        for b in c.binaries:
            link = out / b
            target = c.bin_dir() / b
            if link.is_symlink() or link.exists():
                if link.resolve() == target.resolve():
                    continue
                link.unlink()
            link.symlink_to(target)
    return out


def build_component(c: Component, log=print) -> float:
    """Build one component into its cache folder; returns seconds spent."""
    if shutil.which("go") is None:
        raise RuntimeError("the go command is needed to build the test cluster's binaries")
    dest = c.bin_dir()
    staging = dest.parent / "bin.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    env = dict(os.environ, CGO_ENABLED="0")
    # The machine's own toolchain, always: a toolchain line must never trigger a download.
    env.setdefault("GOTOOLCHAIN", "local")
    t0 = time.monotonic()
    for binary, pkg in c.binaries.items():
        log(f"building {binary} ({pkg}@{c.version}) ...")
        cmd = [
            "nice",
            "-n",
            "10",
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            " ".join(c.ldflags),
            "-o",
            str(staging / binary),
            pkg,
        ]
        subprocess.run(cmd, cwd=c.module_dir, env=env, check=True)
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return time.monotonic() - t0


def ensure_built(log=print) -> Path:
    """Build whatever is missing (and only that); return the folder of all binaries."""
    for c in missing():
        took = build_component(c, log=log)
        log(f"built {c.name} {c.version} in {took:.0f}s -> {c.bin_dir()}")
    return _link_all()


def require_built() -> Path:
    """The folder of binaries, or an error naming the command that builds them."""
    todo = missing()
    if todo:
        names = ", ".join(c.name for c in todo)
        raise RuntimeError(f"cluster binaries not built ({names}); run: python -m tests.cluster build")
    return _link_all()


if __name__ == "__main__":  # pragma: no cover
    print(ensure_built(log=lambda m: print(m, file=sys.stderr, flush=True)))
