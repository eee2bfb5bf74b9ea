"""One local test cluster: etcd, API server, controller manager, scheduler, MinIO, node agent.

``Cluster.start()`` brings everything up in a fresh temporary folder on free loopback ports
and returns once the API is ready, the node is Ready, the ``default`` ServiceAccount exists
and MinIO answers. ``Cluster.stop()`` takes it all down again. A state file in the folder
records every process group, so ``python -m tests.cluster down`` (and the reaper that watches
a pytest session) can stop a cluster from another process.

``Cluster.external()`` wraps a cluster that someone else runs (kind, k3d...): nothing is
started or stopped, and ``local`` is False so tests can skip what only the node agent offers
(OS processes, pod log files).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import build, pki, procs
from .network import PodNetwork, create_pod_network

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_CIDR = "10.96.0.0/16"
NODE_PREFIX = "automl-node"


@dataclass(frozen=True)
class S3Settings:
    endpoint_url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _venv_python() -> str:
    venv = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


class ClusterStartError(RuntimeError):
    pass


class Cluster:
    """A running test cluster (local, started by the harness; or external)."""

    def __init__(
        self,
        kubeconfig: Path,
        s3: S3Settings,
        bin_dir: Path | None,
        workdir: Path | None = None,
        state: dict | None = None,
        local: bool = True,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.s3 = s3
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.local = local
        self._state = state or {}
        self._procs: list[dict] = []
        self._reaper: dict | None = None

    # ------------------------------------------------------------------ properties

    @property
    def network(self) -> PodNetwork | None:
        n = self._state.get("network")
        return PodNetwork.from_dict(n) if n else None

    @property
    def endpointslices_supported(self) -> bool:
        """False only for the loopback pod network, whose addresses EndpointSlices refuse."""
        net = self.network
        return net is None or net.mode != "loopback"

    @property
    def _wd(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("an external cluster has no folder of its own")
        return self.workdir

    @property
    def state_file(self) -> Path:
        return self._wd / "state.json"

    def _tool(self, name: str) -> str:
        if self.bin_dir and (self.bin_dir / name).exists():
            return str(self.bin_dir / name)
        found = shutil.which(name)
        if not found:
            raise FileNotFoundError(f"{name} not found (run: python -m tests.cluster build)")
        return found

    # ------------------------------------------------------------------ client helpers

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 120,
        kubeconfig: Path | str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run the cluster's kubectl (admin kubeconfig unless another is given); text output."""
        return subprocess.run(
            [self._tool("kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the cluster's helm against the admin kubeconfig; text output."""
        home = Path(self.workdir or tempfile.gettempdir()) / "helm"
        env = dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            HELM_CACHE_HOME=str(home / "cache"),
            HELM_CONFIG_HOME=str(home / "config"),
            HELM_DATA_HOME=str(home / "data"),
        )
        return subprocess.run(
            [self._tool("helm"), *args],
            capture_output=True,
            text=True,
            check=check,
            env=env,
            timeout=timeout,
        )

    def api_client(self, kubeconfig: Path | str | None = None):
        """A kubernetes.client.ApiClient (admin unless another kubeconfig is given).

        The Python client ignores a kubeconfig's ``as:`` (impersonation), so it is applied
        here as the ``Impersonate-User`` header; other clients need the same care (see
        ``service_account_kubeconfig`` for a kubeconfig that needs none).
        """
        import yaml
        from kubernetes import client, config

        path = Path(kubeconfig or self.kubeconfig)
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(path), client_configuration=cfg)
        api = client.ApiClient(configuration=cfg)
        kc = yaml.safe_load(path.read_text())
        ctx = next(c for c in kc["contexts"] if c["name"] == kc["current-context"])
        user = next(u for u in kc["users"] if u["name"] == ctx["context"]["user"])["user"]
        if user.get("as"):
            api.set_default_header("Impersonate-User", user["as"])
        return api

    def impersonating_kubeconfig(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig acting as system:serviceaccount:<namespace>:<service_account>.

        It keeps the admin credentials and adds ``as:``, so every request is authorised
        with the ServiceAccount's RBAC, exactly as for a pod running under it. kubectl,
        helm and ``api_client()`` honour ``as:``; the plain Python client and kopf do not.
        """
        import yaml

        cfg = yaml.safe_load(self.kubeconfig.read_text())
        user = f"system:serviceaccount:{namespace}:{service_account}"
        ctx = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        uname = ctx["context"]["user"]
        for u in cfg["users"]:
            if u["name"] == uname:
                u["user"]["as"] = user
        ctx["context"]["namespace"] = namespace
        return self._write_kubeconfig(f"{namespace}--{service_account}.as.yaml", cfg)

    def service_account_kubeconfig(
        self, namespace: str, service_account: str, expiration_seconds: int = 86400
    ) -> Path:
        """A kubeconfig that authenticates *as* the ServiceAccount with a bound token.

        The token comes from the TokenRequest API, exactly what a pod gets, so any client
        (kopf, the plain Python client, kubectl) is held to the ServiceAccount's RBAC.
        """
        import yaml
        from kubernetes import client

        with self.api_client() as api:
            tr = client.CoreV1Api(api).create_namespaced_service_account_token(
                service_account, namespace, {"spec": {"expirationSeconds": expiration_seconds}}
            )
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        ctx = next(c for c in cfg["contexts"] if c["name"] == cfg["current-context"])
        name = f"{namespace}--{service_account}"
        cfg["users"] = [{"name": name, "user": {"token": tr.status.token}}]
        ctx["context"]["user"] = name
        ctx["context"]["namespace"] = namespace
        return self._write_kubeconfig(f"{name}.token.yaml", cfg)

    def _write_kubeconfig(self, filename: str, cfg: dict) -> Path:
        import yaml

        base = Path(self.workdir) if self.workdir else Path(tempfile.mkdtemp(prefix="automl-kc-"))
        out = base / "kubeconfigs" / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump(cfg))
        out.chmod(0o600)
        return out

    def s3_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AWS_ENDPOINT_URL": self.s3.endpoint_url,
            "AWS_ENDPOINT_URL_S3": self.s3.endpoint_url,
            "AWS_DEFAULT_REGION": self.s3.region,
            "AWS_REGION": self.s3.region,
        }

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3.endpoint_url,
            aws_access_key_id=self.s3.access_key,
            aws_secret_access_key=self.s3.secret_key,
            region_name=self.s3.region,
        )

    def make_bucket(self, name: str) -> str:
        """Create the bucket if it does not exist yet; returns its name."""
        s3 = self.s3_client()
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name)
        return name

    def create_namespace(self, name: str, timeout: float = 30) -> str:
        """Create a namespace and wait for its ``default`` ServiceAccount (pods need it)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        with self.api_client() as api:
            core = client.CoreV1Api(api)
            try:
                core.create_namespace({"metadata": {"name": name}})
            except ApiException as e:
                if e.status != 409:
                    raise
            deadline = time.monotonic() + timeout
            while True:
                try:
                    core.read_namespaced_service_account("default", name)
                    return name
                except ApiException as e:
                    if e.status != 404 or time.monotonic() > deadline:
                        raise
                time.sleep(0.2)

    def pod_log(self, namespace: str, pod: str, container: str | None = None) -> str:
        """The output of a pod's container, as the node agent captured it (local only)."""
        if not self.workdir:
            return self.kubectl(
                "logs", "-n", namespace, pod, *(["-c", container] if container else []), check=False
            ).stdout
        dirs = sorted((self.workdir / "pods").glob(f"{namespace}_{pod}_*"), key=lambda p: p.stat().st_mtime)
        if not dirs:
            return ""
        logs = sorted(dirs[-1].glob(f"{container or '*'}.log"))
        return "".join(p.read_text(errors="replace") for p in logs)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def external(cls, kubeconfig: str | Path, s3: S3Settings) -> Cluster:
        try:
            bindir: Path | None = build.require_built()
        except RuntimeError:
            bindir = None
        return cls(Path(kubeconfig), s3, bindir, local=False)

    @classmethod
    def from_state(cls, state_file: Path | str) -> Cluster:
        st = json.loads(Path(state_file).read_text())
        return cls(
            Path(st["kubeconfig"]),
            S3Settings(**st["s3"]),
            Path(st["bin_dir"]),
            workdir=Path(st["workdir"]),
            state=st,
        )

    @classmethod
    def start(
        cls,
        workdir: Path | str | None = None,
        nodes: int = 1,
        watch_pid: int | None = None,
        log=lambda msg: None,
    ) -> Cluster:
        """Start a cluster. With watch_pid, a reaper stops it when that process dies."""
        bindir = build.require_built()
        collect_garbage(remove_folders=False)
        wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kube-automl-cluster-"))
        wd.mkdir(parents=True, exist_ok=True)
        c = cls(wd / "admin.kubeconfig", S3Settings("", "", ""), bindir, workdir=wd)
        try:
            c._start(nodes, log)
            if watch_pid:
                c._start_reaper(watch_pid)
        except BaseException:
            c.stop(keep_workdir=True)  # keep the logs that say why
            raise
        return c

    def _save_state(self) -> None:
        st = dict(self._state)
        st["processes"] = [{k: v for k, v in p.items() if not k.startswith("_")} for p in self._procs]
        if self._reaper:
            st["reaper"] = {k: v for k, v in self._reaper.items() if not k.startswith("_")}
        self._state = st
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(st, indent=2))
        tmp.replace(self.state_file)

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> dict:
        p = procs.start(name, argv, self._wd / "logs", marker=str(self._wd), env=env, cwd=self.workdir)
        self._procs.append(p)
        self._save_state()
        return p

    def _start(self, nodes: int, log) -> None:
        t0 = time.monotonic()
        wd = self.workdir
        b = self.bin_dir
        assert wd is not None and b is not None
        self._state.update(
            workdir=str(wd), bin_dir=str(b), kubeconfig=str(self.kubeconfig), started=time.time()
        )
        self._save_state()

        net = create_pod_network()
        self._state["network"] = net.to_dict()
        self._save_state()
        log(f"pod network: {net.mode} {net.subnet}")

        ports = {
            k: free_port() for k in ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "minio_console")
        }
        ports["minio"] = free_port(net.host_ip)
        self._state["ports"] = ports

        certs = pki.make_pki(wd / "pki", ["127.0.0.1", "10.96.0.1", net.host_ip])
        server = f"https://127.0.0.1:{ports['apiserver']}"
        pki.kubeconfig(self.kubeconfig, server, certs["ca_crt"], wd / "pki/admin.crt", wd / "pki/admin.key")
        kc = {}
        for comp in ("controller-manager", "scheduler"):
            kc[comp] = pki.kubeconfig(
                wd / f"{comp}.kubeconfig",
                server,
                certs["ca_crt"],
                wd / f"pki/{comp}.crt",
                wd / f"pki/{comp}.key",
                user=comp,
            )

        # MinIO first: it needs nothing from Kubernetes and takes a moment to come up.
        s3 = S3Settings(
            endpoint_url=f"http://{net.host_ip}:{ports['minio']}",
            access_key="automl-test",
            secret_key=secrets.token_hex(16),
        )
        self.s3 = s3
        self._state["s3"] = asdict(s3)
        (wd / "minio").mkdir()
        self._spawn(
            "minio",
            [
                str(b / "minio"),
                "server",
                "--quiet",
                "--address",
                f"{net.host_ip}:{ports['minio']}",
                "--console-address",
                f"127.0.0.1:{ports['minio_console']}",
                str(wd / "minio"),
            ],
            env=dict(
                os.environ,
                MINIO_ROOT_USER=s3.access_key,
                MINIO_ROOT_PASSWORD=s3.secret_key,
                MINIO_BROWSER="off",
                MINIO_UPDATE="off",
                MINIO_SITE_REGION=s3.region,
                HOME=str(wd / "minio"),
            ),
        )

        etcd_url = f"http://127.0.0.1:{ports['etcd']}"
        peer_url = f"http://127.0.0.1:{ports['etcd_peer']}"
        self._spawn(
            "etcd",
            [
                str(b / "etcd"),
                "--name",
                "automl",
                "--data-dir",
                str(wd / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                f"automl={peer_url}",
                "--unsafe-no-fsync",
                "--log-level",
                "warn",
            ],
        )

        advertise = (
            ["--advertise-address", net.host_ip]
            if net.mode == "netns"
            else ["--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none"]
        )
        self._spawn(
            "kube-apiserver",
            [
                str(b / "kube-apiserver"),
                "--etcd-servers",
                etcd_url,
                "--bind-address",
                "127.0.0.1",
                "--secure-port",
                str(ports["apiserver"]),
                *advertise,
                "--cert-dir",
                str(wd / "pki"),
                "--tls-cert-file",
                str(certs["apiserver_crt"]),
                "--tls-private-key-file",
                str(certs["apiserver_key"]),
                "--client-ca-file",
                str(certs["ca_crt"]),
                # front-proxy settings: unused, but without them every component that reads
                # extension-apiserver-authentication logs an error about a missing CA bundle
                "--requestheader-client-ca-file",
                str(certs["ca_crt"]),
                "--requestheader-allowed-names",
                "front-proxy-client",
                "--requestheader-username-headers",
                "X-Remote-User",
                "--requestheader-group-headers",
                "X-Remote-Group",
                "--requestheader-extra-headers-prefix",
                "X-Remote-Extra-",
                "--authorization-mode",
                "Node,RBAC",
                "--service-account-issuer",
                "https://kubernetes.default.svc.cluster.local",
                "--service-account-key-file",
                str(certs["sa_pub"]),
                "--service-account-signing-key-file",
                str(certs["sa_key"]),
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--allow-privileged=true",
                "--profiling=false",
                "--v",
                "1",
            ],
        )
        self._wait_ready(server, certs, timeout=90)
        log(f"api server ready after {time.monotonic() - t0:.1f}s")

        common = ["--bind-address", "127.0.0.1", "--leader-elect=false", "--profiling=false", "--v", "1"]
        self._spawn(
            "kube-controller-manager",
            [
                str(b / "kube-controller-manager"),
                *common,
                "--kubeconfig",
                str(kc["controller-manager"]),
                "--authentication-kubeconfig",
                str(kc["controller-manager"]),
                "--authorization-kubeconfig",
                str(kc["controller-manager"]),
                "--secure-port",
                str(ports["kcm"]),
                "--cert-dir",
                str(wd / "kcm"),
                "--use-service-account-credentials=true",
                "--service-account-private-key-file",
                str(certs["sa_key"]),
                "--root-ca-file",
                str(certs["ca_crt"]),
                "--cluster-signing-cert-file",
                str(certs["ca_crt"]),
                "--cluster-signing-key-file",
                str(certs["ca_key"]),
                "--service-cluster-ip-range",
                SERVICE_CIDR,
                "--controllers",
                "*",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(b / "kube-scheduler"),
                *common,
                "--kubeconfig",
                str(kc["scheduler"]),
                "--authentication-kubeconfig",
                str(kc["scheduler"]),
                "--authorization-kubeconfig",
                str(kc["scheduler"]),
                "--secure-port",
                str(ports["scheduler"]),
                "--cert-dir",
                str(wd / "scheduler"),
            ],
        )
        node_names = [f"{NODE_PREFIX}-{i}" for i in range(nodes)]
        self._state["nodes"] = node_names
        self._spawn(
            "node-agent",
            [
                _venv_python(),
                "-m",
                "tests.cluster.node_agent",
                "--kubeconfig",
                str(self.kubeconfig),
                "--workdir",
                str(wd),
                *[a for n in node_names for a in ("--node", n)],
            ],
            env=dict(
                os.environ,
                PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
                PYTHONUNBUFFERED="1",
            ),
        )

        self._wait(lambda: self._http_ok(f"{s3.endpoint_url}/minio/health/ready"), 60, "minio")
        self._wait(self._nodes_ready, 60, "node Ready")
        self._wait(self._default_sa, 60, "default ServiceAccount")
        self._state["ready_seconds"] = round(time.monotonic() - t0, 1)
        self._save_state()
        log(f"cluster ready after {time.monotonic() - t0:.1f}s")

    def _check_procs(self) -> None:
        for p in self._procs:
            if not procs.alive(p["pid"]):
                tail = ""
                logf = self._wd / "logs" / f"{p['name']}.log"
                if logf.exists():
                    tail = "\n".join(logf.read_text(errors="replace").splitlines()[-25:])
                raise ClusterStartError(f"{p['name']} exited during start-up; log {logf}:\n{tail}")

    def _wait(self, fn, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_procs()
            try:
                if fn():
                    return
            except Exception:  # noqa: BLE001 - not ready yet, keep polling
                pass
            if time.monotonic() > deadline:
                raise ClusterStartError(
                    f"timed out after {timeout}s waiting for {what} (logs in {self._wd / 'logs'})"
                )
            time.sleep(0.2)

    @staticmethod
    def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )
        with opener.open(url, timeout=2) as r:
            return r.status == 200

    def _wait_ready(self, server: str, certs: dict, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(certs["ca_crt"]))
        ctx.load_cert_chain(str(self._wd / "pki/admin.crt"), str(self._wd / "pki/admin.key"))
        self._wait(lambda: self._http_ok(f"{server}/readyz", ctx), timeout, "api server /readyz")

    def _nodes_ready(self) -> bool:
        out = self.kubectl("get", "nodes", "-o", "json", check=False)
        if out.returncode:
            return False
        items = json.loads(out.stdout)["items"]
        ready = {
            n["metadata"]["name"]
            for n in items
            for cnd in n.get("status", {}).get("conditions", [])
            if cnd["type"] == "Ready" and cnd["status"] == "True"
        }
        return set(self._state["nodes"]) <= ready

    def _default_sa(self) -> bool:
        return self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0

    def _start_reaper(self, watch_pid: int) -> None:
        self._reaper = procs.start(
            "reaper",
            [sys.executable, "-m", "tests.cluster.reaper", str(self.state_file), str(watch_pid)],
            self._wd / "logs",
            marker=str(self._wd),
            env=dict(
                os.environ,
                PYTHONPATH=os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            ),
            cwd=REPO_ROOT,
        )
        self._save_state()

    def stop(self, keep_workdir: bool = False) -> None:
        """Stop every process group, remove the pod network and (by default) the folder."""
        if not self.local or self.workdir is None:
            return
        if self.state_file.exists() and not self._procs:
            self._state = json.loads(self.state_file.read_text())
        teardown(self._state, live=self._procs, keep_workdir=keep_workdir)
        if self._reaper:
            procs.stop(self._reaper, grace=1)
            self._reaper = None
        self._procs = []

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# Stop order: the agent first (it stops pods gracefully), then the pods' groups it recorded
# (in case it could not), the control plane top-down, MinIO and etcd last.
_STOP_ORDER = ["node-agent", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "minio", "etcd"]


def _pod_groups(workdir: Path) -> list[tuple[int, str]]:
    out = []
    for f in (workdir / "pods").glob("*/*.pgid"):
        try:
            pgid, argv0 = f.read_text().split("\n", 1)
            out.append((int(pgid), argv0.strip()))
        except (OSError, ValueError):
            continue
    return out


def teardown(state: dict, live: list[dict] | None = None, keep_workdir: bool = False) -> None:
    """Stop everything a state dict records. Safe to call twice and from another process."""
    live_by_name = {p["name"]: p for p in (live or [])}
    recorded = {p["name"]: p for p in state.get("processes", [])}
    recorded.update(live_by_name)
    workdir = Path(state["workdir"]) if state.get("workdir") else None
    for name in _STOP_ORDER + [n for n in recorded if n not in _STOP_ORDER]:
        p = recorded.get(name)
        if p is None:
            continue
        procs.stop(p, grace=10 if name == "node-agent" else 5)
        if name == "node-agent" and workdir is not None:
            for pgid, _ in _pod_groups(workdir):
                procs.stop_group(pgid, grace=2, marker=str(workdir))
    if state.get("network"):
        PodNetwork.from_dict(state["network"]).teardown()
    if workdir is not None and not keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def stale_state_files(min_age: float = 120) -> list[Path]:
    """State files of clusters in the temp folder whose every process is gone."""
    out = []
    for sf in Path(tempfile.gettempdir()).glob("kube-automl-cluster-*/state.json"):
        try:
            st = json.loads(sf.read_text())
        except (OSError, ValueError):
            continue
        if time.time() - st.get("started", 0) < min_age:
            continue  # may still be starting
        recorded = st.get("processes", []) + ([st["reaper"]] if st.get("reaper") else [])
        if any(procs.alive(p["pid"], p.get("argv0"), p.get("marker")) for p in recorded):
            continue
        out.append(sf)
    return out


def collect_garbage(remove_folders: bool = False) -> list[Path]:
    """Clean up after clusters whose processes all died without a teardown (SIGKILL of
    everything, a machine that stopped): orphaned pod processes and the pod network, and
    with remove_folders their folders too. Live clusters are never touched."""
    cleaned = []
    for sf in stale_state_files():
        try:
            st = json.loads(sf.read_text())
        except (OSError, ValueError):
            continue
        teardown(st, keep_workdir=not remove_folders)
        cleaned.append(sf.parent)
    return cleaned
