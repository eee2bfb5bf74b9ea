"""The test cluster's stand-in for the kubelet: runs pods' containers as local processes.

``python -m tests.cluster.node_agent --kubeconfig K --workdir W --node N [--node N2 ...]``

What it does, in kubelet terms:

- **Nodes.** Registers each ``--node`` as a Node with CPU / memory / pod capacity and a Ready
  condition, and keeps it Ready the way a kubelet does: it renews the node's Lease in
  ``kube-node-lease`` every 10 s and refreshes its status every 30 s. The node lifecycle
  controller stays on, so a dead agent really does make its nodes NotReady.
- **Pods.** Watches pods bound to its nodes. Each container's ``command`` + ``args`` run as a
  local process (images are never pulled, so a container without ``command`` fails with
  reason ``ContainerCannotRun``); ``PATH`` starts with the project's virtualenv, so ``python``
  is the project's Python. Environment: ``value`` with ``$(VAR)`` expansion, ``valueFrom``
  secretKeyRef / configMapKeyRef / fieldRef (metadata.name/namespace/uid/labels/annotations,
  spec.nodeName, spec.serviceAccountName, status.podIP(s), status.hostIP) /
  resourceFieldRef, and ``envFrom``. Also ``HOSTNAME``, ``HOME`` (a folder of the pod) and
  the host's ``LANG``/``LC_ALL``/``TZ``/``PYTHONPATH``/``OPENBLAS_*``.
- **Addresses.** Each pod gets its own IP from the cluster's pod network (see network.py);
  processes run inside it and must bind to ``$(POD_IP)`` (fieldRef ``status.podIP``).
- **Files.** Every pod has a folder ``<workdir>/pods/<ns>_<name>_<uid8>/``. Volumes:
  ``emptyDir`` is a folder in it; ``configMap``, ``secret``, ``downwardAPI`` and
  ``projected`` (incl. a real service-account token from the TokenRequest API) are written
  there; ``hostPath`` is the host path. A process sees the host's file system, so where a
  command, an argument, an env value or ``workingDir`` starts with a ``mountPath`` it is
  rewritten to the mapped folder, and a mount at ``/tmp`` sets ``TMPDIR``. Any other
  ``workingDir`` is created inside the pod folder (``rootfs/<path>``); unset, it is the
  pod folder's ``work``.
  ``terminationMessagePath`` is mapped the same way to a file in the pod folder, passed to
  the process as ``TERMINATION_MESSAGE_PATH``; ``FallbackToLogsOnError`` works.
  stdout/stderr go to ``<container>.log`` there (``kubectl logs`` needs a kubelet API,
  which this agent does not serve: use ``Cluster.pod_log``).
- **Events.** ``Started``, ``Killing``, ``BackOff``, ``Unhealthy``, ``DeadlineExceeded`` and
  configuration failures are posted as the kubelet would, so ``kubectl describe`` helps.
- **Lifecycle.** Phase, container states (waiting / running / terminated with exit code,
  reason, signal, message), restart counts, ``restartPolicy`` (restart back-off 1 s doubling
  to 10 s, shorter than the kubelet's, for quick tests), ``activeDeadlineSeconds``
  (``DeadlineExceeded``), init containers, HTTP / TCP / exec readiness, liveness and startup
  probes, and deletion: SIGTERM to the container's whole process group, SIGKILL after the
  grace period, then the pod object is removed (a delete with grace 0, as the kubelet does).

Not done: resource limits, security contexts, image pulls, ``kubectl logs/exec``, hostPort,
persistentVolumeClaim volumes (such a pod fails with reason ``UnsupportedByNodeAgent``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from .network import PodNetwork
from .procs import MARKER

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
KUBELET_VERSION = "v1.36.3"
PASSTHROUGH_ENV = (
    "LANG",
    "LC_ALL",
    "TZ",
    "PYTHONPATH",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "SSL_CERT_FILE",
)
TERMINATION_MESSAGE_ENV = "TERMINATION_MESSAGE_PATH"
# probes go straight to the pod, whatever *_proxy variables the agent inherited
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MAX_TERMINATION_MESSAGE = 4096


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(msg: str) -> None:
    print(f"{dt.datetime.now().strftime('%H:%M:%S.%f')[:-3]} {msg}", flush=True)


def _read_json(resp) -> dict:
    return json.loads(resp.data)


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


def expand(s: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined references are replaced, $$ escapes a $."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _VAR.sub(sub, s)


class ConfigError(Exception):
    """The pod's configuration cannot be honoured (missing key, unsupported volume...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class IPPool:
    def __init__(self, ips: list[str]) -> None:
        self._free = list(ips)
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            if not self._free:
                raise ConfigError("PodIPsExhausted", "no free pod address on the test network")
            return self._free.pop(0)

    def give(self, ip: str) -> None:
        with self._lock:
            if ip not in self._free:
                self._free.append(ip)  # reuse late, to keep stale addresses apart


# ----------------------------------------------------------------------------- containers


class Container:
    """One container of a pod: a local process group, restarted per restartPolicy."""

    def __init__(self, pod: PodWorker, spec: dict, init: bool = False) -> None:
        self.pod = pod
        self.spec = spec
        self.name = spec["name"]
        self.init = init
        self.proc: subprocess.Popen | None = None
        self.restart_count = 0
        self.state: dict = {"waiting": {"reason": "ContainerCreating"}}
        self.last_state: dict = {}
        self.started_at: str | None = None
        self.next_start = 0.0
        self.backoff = 1.0
        self.ready = False
        self.started = False  # startup probe passed (or none)
        self.probe_state: dict[str, dict] = {}
        self.logfile = pod.dir / f"{self.name}.log"
        self.msgfile = pod.dir / f"{self.name}.termination-log"
        self.pgidfile = pod.dir / f"{self.name}.pgid"
        self.stopping = False

    # -- status

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def terminated(self) -> dict | None:
        return self.state.get("terminated")

    def status(self) -> dict:
        st: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": bool(self.ready),
            "restartCount": self.restart_count,
            "started": bool(self.running and self.started),
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.proc is not None:
            st["containerID"] = f"automl://{self.proc.pid}"
        return st

    # -- start / exit

    def start(self) -> None:
        pod = self.pod
        spec = self.spec
        if pod.agent.stopping.is_set():
            return
        self.msgfile.unlink(missing_ok=True)
        try:
            env = pod.container_env(spec, self.msgfile)
            command = [expand(a, env) for a in spec.get("command") or []]
            args = [expand(a, env) for a in spec.get("args") or []]
            if not command:
                raise ConfigError(
                    "ContainerCannotRun",
                    "the kube-automl test node agent runs no images: the container must set "
                    "`command` (images are ignored; see tests/cluster/README.md)",
                )
            argv = [pod.map_path(a) for a in command + args]
            exe = argv[0] if "/" in argv[0] else shutil.which(argv[0], path=env["PATH"])
            if exe is None or not os.access(exe, os.X_OK):
                raise ConfigError(
                    "ContainerCannotRun", f"exec: {argv[0]!r}: executable file not found in $PATH"
                )
            argv[0] = exe
            cwd = pod.working_dir(spec.get("workingDir"))
        except ConfigError as e:
            pod.event(e.reason, e.message, "Warning", self.field_path)
            now_ = now()
            self._set_terminated(
                {
                    "exitCode": 128,
                    "reason": e.reason,
                    "message": e.message,
                    "startedAt": now_,
                    "finishedAt": now_,
                }
            )
            return
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(
                pod.network.wrap(argv),
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pgidfile.write_text(f"{self.proc.pid}\n{os.path.basename(argv[0])}\n")
        self.started_at = now()
        self.state = {"running": {"startedAt": self.started_at}}
        self.ready = False
        self.started = "startupProbe" not in spec
        self.probe_state = {}
        log(f"{pod.key}/{self.name}: started pid {self.proc.pid}: {argv}")
        pod.event("Started", f"Started container {self.name}", field_path=self.field_path)

    def _set_terminated(self, term: dict) -> None:
        self.state = {"terminated": term}
        self.ready = False

    def _termination_message(self, exit_code: int) -> str:
        msg = ""
        with contextlib.suppress(OSError):
            msg = self.msgfile.read_bytes()[:MAX_TERMINATION_MESSAGE].decode(errors="replace")
        if (
            not msg
            and exit_code != 0
            and (self.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError")
        ):
            try:
                lines = self.logfile.read_bytes().decode(errors="replace").splitlines()[-80:]
                msg = "\n".join(lines)[-2048:]
            except OSError:
                pass
        return msg

    def reap(self) -> bool:
        """If the process exited: record it, kill what is left of its group. True if so."""
        if self.proc is None or self.proc.poll() is None or self.terminated:
            return False
        rc = self.proc.returncode
        self._kill_group(signal.SIGKILL)
        term: dict[str, Any] = {
            "startedAt": self.started_at,
            "finishedAt": now(),
            "containerID": f"automl://{self.proc.pid}",
        }
        if rc < 0:
            term["exitCode"] = 128 - rc
            term["signal"] = -rc
            term["reason"] = "Error"
        else:
            term["exitCode"] = rc
            term["reason"] = "Completed" if rc == 0 else "Error"
        msg = self._termination_message(term["exitCode"])
        if msg:
            term["message"] = msg
        self._set_terminated(term)
        log(f"{self.pod.key}/{self.name}: exited {term['exitCode']}")
        return True

    def should_restart(self, policy: str) -> bool:
        term = self.terminated
        if term is None or self.pod.deleting or self.pod.terminal:
            return False
        if self.pod.agent.stopping.is_set():
            return False
        if policy == "Always" and not self.init:
            return True
        if policy in ("Always", "OnFailure"):
            return term.get("exitCode", 1) != 0
        return False

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    def schedule_restart(self) -> None:
        self.pod.event(
            "BackOff", f"Back-off restarting failed container {self.name}", "Warning", self.field_path
        )
        self.last_state = {"terminated": self.terminated}
        self.state = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {self.backoff:.0f}s restarting failed container="
                f"{self.name} pod={self.pod.key}",
            }
        }
        self.next_start = time.monotonic() + self.backoff
        self.backoff = min(self.backoff * 2, 10.0)
        self.restart_count += 1
        self.proc = None

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float) -> None:
        """SIGTERM to the process group, SIGKILL after grace seconds, then record the exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.stopping = True
            self._kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=max(grace, 0))
        self._kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.reap()
        self.pgidfile.unlink(missing_ok=True)

    # -- probes

    def run_probes(self) -> bool:
        """Run due probes; returns False if a liveness/startup failure killed the container."""
        if not self.running:
            return True
        order = ["startupProbe"] if not self.started else ["livenessProbe", "readinessProbe"]
        for kind in order:
            probe = self.spec.get(kind)
            if not probe:
                continue
            ps = self.probe_state.setdefault(
                kind, {"next": time.monotonic() + probe.get("initialDelaySeconds", 0), "ok": 0, "fail": 0}
            )
            if time.monotonic() < ps["next"]:
                continue
            ps["next"] = time.monotonic() + probe.get("periodSeconds", 10)
            ok = self.pod.probe(self, probe)
            if ok:
                ps["ok"] += 1
                ps["fail"] = 0
            else:
                ps["fail"] += 1
                ps["ok"] = 0
            if kind == "readinessProbe":
                if ok and ps["ok"] >= probe.get("successThreshold", 1):
                    self.ready = True
                elif not ok and ps["fail"] >= probe.get("failureThreshold", 3):
                    if self.ready:
                        self.pod.event("Unhealthy", "Readiness probe failed", "Warning", self.field_path)
                    self.ready = False
            elif kind == "startupProbe" and ok:
                self.started = True
            elif not ok and ps["fail"] >= probe.get("failureThreshold", 3):
                log(f"{self.pod.key}/{self.name}: {kind} failed, killing")
                self.pod.event(
                    "Unhealthy", f"{kind[0].upper()}{kind[1:-5]} probe failed", "Warning", self.field_path
                )
                self.pod.event("Killing", f"Stopping container {self.name}", field_path=self.field_path)
                grace = probe.get(
                    "terminationGracePeriodSeconds",
                    self.pod.pod["spec"].get("terminationGracePeriodSeconds", 30),
                )
                self.stop(grace)
                return False
        if self.started and "readinessProbe" not in self.spec:
            self.ready = True
        return True


# ----------------------------------------------------------------------------- pods


class PodWorker:
    """Runs one pod from binding to deletion, in a thread of its own.

    (Deliberately not a Thread subclass: threading.Thread has private methods such as
    ``_delete`` that a subclass would silently override.)"""

    def __init__(self, agent: Agent, pod: dict) -> None:
        md = pod["metadata"]
        self.thread = threading.Thread(
            target=self.run, name=f"pod-{md['namespace']}/{md['name']}", daemon=True
        )
        self.agent = agent
        self.pod = pod
        self.uid = md["uid"]
        self.key = f"{md['namespace']}/{md['name']}"
        self.dir = agent.workdir / "pods" / f"{md['namespace']}_{md['name']}_{self.uid[:8]}"
        self.network: PodNetwork = agent.network
        self.ip: str | None = None
        self.mounts: list[tuple[str, Path]] = []  # (mountPath, host dir) per container
        self.volumes: dict[str, Path] = {}
        self.deleting = False
        self.gone = False
        self.terminal = False
        self.phase = "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.start_time: str | None = None
        self.started_mono = 0.0
        self.last_status: str | None = None
        self.wake = threading.Event()
        self.init_containers = [
            Container(self, c, init=True) for c in pod["spec"].get("initContainers") or []
        ]
        self.containers = [Container(self, c) for c in pod["spec"]["containers"]]
        self.initialized = not self.init_containers
        if md.get("deletionTimestamp"):
            self.deleting = True

    # -- events from the agent

    def update(self, pod: dict) -> None:
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deleting = True
        self.wake.set()

    def deleted(self) -> None:
        self.deleting = True
        self.gone = True
        self.wake.set()

    def event(self, reason: str, message: str, type_: str = "Normal", field_path: str = "") -> None:
        self.agent.event(self.pod, reason, message, type_, field_path)

    # -- helpers used by containers

    def field(self, path: str) -> str:
        md = self.pod["metadata"]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
        if m:
            return (md.get(m.group(1)) or {}).get(m.group(2), "")
        simple = {
            "metadata.name": md["name"],
            "metadata.namespace": md["namespace"],
            "metadata.uid": md["uid"],
            "spec.nodeName": self.pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", ""),
            "status.podIP": self.ip or "",
            "status.podIPs": self.ip or "",
            "status.hostIP": self.network.host_ip,
            "status.hostIPs": self.network.host_ip,
        }
        if path in simple:
            return simple[path]
        if path in ("metadata.labels", "metadata.annotations"):
            items = md.get(path.split(".")[1]) or {}
            return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
        raise ConfigError("CreateContainerConfigError", f"unsupported fieldRef {path!r}")

    def _resource(self, ref: dict, spec: dict) -> str:
        cname = ref.get("containerName") or spec["name"]
        c = next((c for c in self.pod["spec"]["containers"] if c["name"] == cname), spec)
        kind, res = ref["resource"].split(".", 1)
        val = ((c.get("resources") or {}).get(kind) or {}).get(res)
        if val is None:  # no limit: the node's allocatable, as the kubelet reports
            val = self.agent.capacity.get(res, "0")
        return str(val)

    def _ref(self, kind: str, ref: dict) -> str | None:
        name, key = ref.get("name", ""), ref["key"]
        data = self.agent.read_object(kind, self.pod["metadata"]["namespace"], name)
        value = None
        if data is not None:
            if kind == "secret":
                raw = (data.get("data") or {}).get(key)
                value = base64.b64decode(raw).decode() if raw is not None else None
            else:
                value = (data.get("data") or {}).get(key)
        if value is None and not ref.get("optional"):
            what = "secret" if kind == "secret" else "configmap"
            raise ConfigError(
                "CreateContainerConfigError",
                f"couldn't find key {key} in {what} {self.pod['metadata']['namespace']}/{name}"
                if data is not None
                else f'{what} "{name}" not found',
            )
        return value

    def container_env(self, spec: dict, msgfile: Path) -> dict[str, str]:
        base = {
            "PATH": os.pathsep.join(
                [str(VENV_BIN), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            ),
            "HOME": str(self.dir / "home"),
            "HOSTNAME": self.pod["metadata"]["name"],
            TERMINATION_MESSAGE_ENV: str(msgfile),
        }
        if MARKER in os.environ:  # lets a teardown from outside find the pod's processes
            base[MARKER] = os.environ[MARKER]
        for k in PASSTHROUGH_ENV:
            if k in os.environ:
                base[k] = os.environ[k]
        if VENV_BIN.exists():
            base["VIRTUAL_ENV"] = str(VENV_BIN.parent)
        env: dict[str, str] = {}
        ns = self.pod["metadata"]["namespace"]
        for src in spec.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind in ("configMapRef", "secretRef"):
                ref = src.get(kind)
                if not ref:
                    continue
                obj_kind = "secret" if kind == "secretRef" else "configmap"
                data = self.agent.read_object(obj_kind, ns, ref["name"])
                if data is None:
                    if ref.get("optional"):
                        continue
                    raise ConfigError("CreateContainerConfigError", f'{obj_kind} "{ref["name"]}" not found')
                for k, v in (data.get("data") or {}).items():
                    if kind == "secretRef":
                        v = base64.b64decode(v).decode()
                    env[prefix + k] = v
        for e in spec.get("env") or []:
            name = e["name"]
            value: str | None
            if "valueFrom" in e:
                vf = e["valueFrom"]
                if "fieldRef" in vf:
                    value = self.field(vf["fieldRef"]["fieldPath"])
                elif "secretKeyRef" in vf:
                    value = self._ref("secret", vf["secretKeyRef"])
                elif "configMapKeyRef" in vf:
                    value = self._ref("configmap", vf["configMapKeyRef"])
                elif "resourceFieldRef" in vf:
                    value = self._resource(vf["resourceFieldRef"], spec)
                else:
                    raise ConfigError(
                        "CreateContainerConfigError", f"env {name}: unsupported valueFrom {sorted(vf)}"
                    )
                if value is None:
                    continue
            else:
                value = expand(e.get("value", ""), {**env})
            env[name] = value
        # mounts: rewrite paths in values, TMPDIR for /tmp
        self.mounts = self._container_mounts(spec)
        env = {k: self.map_path(v) for k, v in env.items()}
        for mp, host in self.mounts:
            if mp.rstrip("/") == "/tmp":
                base["TMPDIR"] = str(host)
        # terminationMessagePath itself is never used: the message is always read from the
        # pod folder's file named in TERMINATION_MESSAGE_PATH (see the module docstring).
        return {**base, **env}

    def _container_mounts(self, spec: dict) -> list[tuple[str, Path]]:
        out = []
        for m in spec.get("volumeMounts") or []:
            host = self.volumes.get(m["name"])
            if host is None:
                raise ConfigError("CreateContainerConfigError", f"volumeMount {m['name']!r}: no such volume")
            if m.get("subPath"):
                host = host / m["subPath"]
                host.mkdir(parents=True, exist_ok=True)
            out.append((m["mountPath"].rstrip("/") or "/", host))
        out.sort(key=lambda t: len(t[0]), reverse=True)
        return out

    def map_path(self, value: str) -> str:
        """Rewrite a value that starts with a mountPath (also after `--flag=`)."""
        for mp, host in self.mounts:
            if value == mp or value.startswith(mp + "/"):
                return str(host) + value[len(mp) :]
            if "=" in value:
                head, tail = value.split("=", 1)
                if tail == mp or tail.startswith(mp + "/"):
                    return f"{head}={host}{tail[len(mp) :]}"
        return value

    def working_dir(self, wd: str | None) -> str:
        """workingDir under a mount maps into it; any other path into the pod's own rootfs
        folder (never the host's folder of that name); unset: the pod's ``work`` folder."""
        if not wd:
            d = self.dir / "work"
            d.mkdir(exist_ok=True)
            return str(d)
        mapped = self.map_path(wd)
        if mapped != wd:
            Path(mapped).mkdir(parents=True, exist_ok=True)
            return mapped
        d = self.dir / "rootfs" / wd.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        return str(d)

    def probe(self, c: Container, probe: dict) -> bool:
        timeout = probe.get("timeoutSeconds", 1)
        try:
            if "httpGet" in probe:
                h = probe["httpGet"]
                port = self._port(c, h["port"])
                host = h.get("host") or self.ip
                url = f"{h.get('scheme', 'HTTP').lower()}://{host}:{port}{h.get('path', '/')}"
                req = urllib.request.Request(
                    url, headers={x["name"]: x["value"] for x in h.get("httpHeaders") or []}
                )
                try:
                    with NO_PROXY.open(req, timeout=timeout) as r:
                        return 200 <= r.status < 400
                except urllib.error.HTTPError as e:
                    return 200 <= e.code < 400
            if "tcpSocket" in probe:
                t = probe["tcpSocket"]
                with socket.create_connection(
                    (t.get("host") or self.ip, self._port(c, t["port"])), timeout=timeout
                ):
                    return True
            if "exec" in probe:
                env = self.container_env(c.spec, c.msgfile)
                r = subprocess.run(
                    self.network.wrap(probe["exec"]["command"]),
                    env=env,
                    cwd=self.working_dir(c.spec.get("workingDir")),
                    capture_output=True,
                    timeout=timeout,
                )
                return r.returncode == 0
        except Exception:  # noqa: BLE001 - any failure is a failed probe
            return False
        return False

    @staticmethod
    def _port(c: Container, port: Any) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for p in c.spec.get("ports") or []:
            if p.get("name") == port:
                return int(p["containerPort"])
        raise ValueError(f"no port named {port}")

    # -- volumes

    def _setup_volumes(self) -> None:
        vdir = self.dir / "volumes"
        for v in self.pod["spec"].get("volumes") or []:
            name = v["name"]
            d = vdir / name
            if "hostPath" in v:
                self.volumes[name] = Path(v["hostPath"]["path"])
                continue
            d.mkdir(parents=True, exist_ok=True)
            self.volumes[name] = d
            if "emptyDir" in v:
                continue
            if "configMap" in v:
                self._write_source(d, "configmap", v["configMap"])
            elif "secret" in v:
                src = dict(v["secret"], name=v["secret"].get("secretName", ""))
                self._write_source(d, "secret", src)
            elif "downwardAPI" in v:
                self._write_downward(d, v["downwardAPI"].get("items") or [])
            elif "projected" in v:
                for s in v["projected"].get("sources") or []:
                    if "configMap" in s:
                        self._write_source(d, "configmap", s["configMap"])
                    elif "secret" in s:
                        self._write_source(d, "secret", s["secret"])
                    elif "downwardAPI" in s:
                        self._write_downward(d, s["downwardAPI"].get("items") or [])
                    elif "serviceAccountToken" in s:
                        self._write_token(d, s["serviceAccountToken"])
            else:
                kind = next((k for k in v if k != "name"), "?")
                raise ConfigError(
                    "UnsupportedByNodeAgent",
                    f"volume {name!r}: {kind} volumes are not supported by the kube-automl test node agent",
                )

    def _write_source(self, d: Path, kind: str, src: dict) -> None:
        data = self.agent.read_object(kind, self.pod["metadata"]["namespace"], src.get("name", ""))
        if data is None:
            if src.get("optional"):
                return
            raise ConfigError("CreateContainerConfigError", f'{kind} "{src.get("name")}" not found')
        values: dict[str, bytes] = {}
        for k, v in (data.get("data") or {}).items():
            values[k] = base64.b64decode(v) if kind == "secret" else v.encode()
        for k, v in (data.get("binaryData") or {}).items():
            values[k] = base64.b64decode(v)
        items = src.get("items")
        pairs = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in values]
        for key, path in pairs:
            if key not in values:
                if src.get("optional"):
                    continue
                raise ConfigError("CreateContainerConfigError", f"{kind} key {key!r} not found")
            f = d / path
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(values[key])

    def _write_downward(self, d: Path, items: list[dict]) -> None:
        for i in items:
            if "fieldRef" in i:
                val = self.field(i["fieldRef"]["fieldPath"])
            else:
                val = self._resource(i["resourceFieldRef"], self.pod["spec"]["containers"][0])
            f = d / i["path"]
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(val)

    def _write_token(self, d: Path, src: dict) -> None:
        md = self.pod["metadata"]
        sa = self.pod["spec"].get("serviceAccountName", "default")
        body = {
            "spec": {
                "expirationSeconds": src.get("expirationSeconds", 3600),
                "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": md["name"], "uid": md["uid"]},
            }
        }
        if src.get("audience"):
            body["spec"]["audiences"] = [src["audience"]]
        try:
            tr = self.agent.core.create_namespaced_service_account_token(
                sa, md["namespace"], body, _preload_content=False
            )
            token = _read_json(tr)["status"]["token"]
        except ApiException as e:
            log(f"{self.key}: token request failed: {e.status} {e.reason}")
            return
        f = d / src.get("path", "token")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(token)

    # -- status

    def conditions(self) -> list[dict]:
        t = now()
        prev = {c["type"]: c for c in (self.pod.get("status") or {}).get("conditions") or []}

        def cond(type_: str, ok: bool, reason: str | None = None) -> dict:
            status = "True" if ok else "False"
            old = prev.get(type_)
            c = {
                "type": type_,
                "status": status,
                "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status else t,
            }
            if reason and not ok:
                c["reason"] = reason
            return c

        all_ready = bool(self.containers) and all(c.ready for c in self.containers)
        done_reason = "PodCompleted" if self.terminal else "ContainersNotReady"
        out = [
            cond("PodReadyToStartContainers", self.ip is not None and not self.terminal),
            cond("Initialized", self.initialized, "ContainersNotInitialized"),
            cond("ContainersReady", all_ready and not self.terminal, done_reason),
            cond("Ready", all_ready and not self.terminal, done_reason),
        ]
        return out

    def status(self) -> dict:
        st: dict[str, Any] = {
            "phase": self.phase,
            "conditions": self.conditions(),
            "hostIP": self.network.host_ip,
            "hostIPs": [{"ip": self.network.host_ip}],
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.init_containers:
            st["initContainerStatuses"] = [c.status() for c in self.init_containers]
        if self.ip:
            st["podIP"] = self.ip
            st["podIPs"] = [{"ip": self.ip}]
        if self.start_time:
            st["startTime"] = self.start_time
        if self.reason:
            st["reason"] = self.reason
        if self.message:
            st["message"] = self.message
        return st

    def push_status(self, force: bool = False) -> None:
        st = self.status()
        comparable = json.dumps(st, sort_keys=True)
        if not force and comparable == self.last_status:
            return
        md = self.pod["metadata"]
        try:
            resp = self.agent.core.patch_namespaced_pod_status(
                md["name"],
                md["namespace"],
                {"metadata": {"uid": self.uid}, "status": st},
                _preload_content=False,
            )
            self.pod = _read_json(resp)
            self.last_status = comparable
        except ApiException as e:
            if e.status == 404:
                self.gone = True
                self.deleting = True
            else:
                log(f"{self.key}: status update failed: {e.status} {e.body!r:.300}")

    # -- the pod's life

    def _compute_phase(self) -> None:
        self.pod["spec"].get("restartPolicy", "Always")
        cs = self.containers
        if not self.initialized:
            self.phase = "Pending"
            return
        if any(c.state.get("waiting") and c.restart_count == 0 for c in cs):
            self.phase = "Pending"
            return
        if all(c.terminated for c in cs):
            # (a container due for a restart is already waiting again, not terminated)
            if all((c.terminated or {}).get("exitCode") == 0 for c in cs):
                self.phase = "Succeeded"
            else:
                self.phase = "Failed"
        else:
            self.phase = "Running"

    def _step_containers(self, group: list[Container], policy: str) -> None:
        for c in group:
            if c.reap() and c.should_restart(policy):
                c.schedule_restart()
            if c.state.get("waiting") and time.monotonic() >= c.next_start:
                c.start()
                if c.terminated and c.should_restart(policy):  # could not start
                    c.schedule_restart()
            if not c.run_probes() and c.should_restart(policy):  # liveness killed it
                c.schedule_restart()

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # noqa: BLE001 - keep the agent alive, say what went wrong
            log(f"{self.key}: worker crashed:\n{traceback.format_exc()}")
            self.stop_all(0)
        finally:
            if self.ip:
                self.network.remove_pod_ip(self.ip)
                self.agent.pool.give(self.ip)
                self.ip = None
            self.agent.forget(self.uid)

    def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "home").mkdir(exist_ok=True)
        spec = self.pod["spec"]
        policy = spec.get("restartPolicy", "Always")
        self.start_time = now()
        self.started_mono = time.monotonic()
        try:
            self.ip = self.agent.pool.take()
            self.network.add_pod_ip(self.ip)
            self._setup_volumes()
        except ConfigError as e:
            self.event(e.reason, e.message, "Warning")
            self.phase, self.reason, self.message, self.terminal = "Failed", e.reason, e.message, True
            for c in self.containers:
                c.state = {"waiting": {"reason": e.reason, "message": e.message}}
            self.push_status()
        deadline = spec.get("activeDeadlineSeconds")
        while not self.gone:
            if self.deleting:
                self._remove()
                return
            if not self.terminal:
                if deadline and time.monotonic() - self.started_mono > deadline:
                    self.stop_all(spec.get("terminationGracePeriodSeconds", 30))
                    self.phase, self.terminal = "Failed", True
                    self.reason = "DeadlineExceeded"
                    self.message = "Pod was active on the node longer than the specified deadline"
                    self.event("DeadlineExceeded", self.message, "Warning")
                elif not self.initialized:
                    self._step_init(policy)
                else:
                    self._step_containers(self.containers, policy)
                    self._compute_phase()
                    if self.phase in ("Succeeded", "Failed"):
                        self.terminal = True
                        self.stop_all(0)
            self.push_status()
            self.wake.wait(0.25)
            self.wake.clear()
        self._remove()

    def _step_init(self, policy: str) -> None:
        for c in self.init_containers:
            if c.terminated and c.terminated.get("exitCode") == 0:
                continue
            if c.proc is None and c.state.get("waiting"):
                if time.monotonic() >= c.next_start:
                    c.start()
                break
            if c.reap() or c.terminated:
                if (c.terminated or {}).get("exitCode") == 0:
                    continue
                if policy == "Never":
                    self.phase, self.terminal = "Failed", True
                    for m in self.containers:
                        m.state = {"waiting": {"reason": "PodInitializing"}}
                else:
                    c.schedule_restart()
            break
        else:
            self.initialized = True
        for m in self.containers if not self.initialized and not self.terminal else []:
            m.state = {"waiting": {"reason": "PodInitializing"}}

    def stop_all(self, grace: float) -> None:
        for c in self.init_containers + self.containers:
            c.stop(grace)

    def _remove(self) -> None:
        grace = self.pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
        if any(c.running for c in self.init_containers + self.containers):
            log(f"{self.key}: stopping containers (grace {grace}s)")
            for c in self.init_containers + self.containers:
                if c.running:
                    self.event("Killing", f"Stopping container {c.name}", field_path=c.field_path)
            threads = [
                threading.Thread(target=c.stop, args=(grace,)) for c in self.init_containers + self.containers
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if not self.gone:
                self.push_status()
        if not self.gone:
            md = self.pod["metadata"]
            try:
                self.agent.core.delete_namespaced_pod(
                    md["name"],
                    md["namespace"],
                    grace_period_seconds=0,
                    body=client.V1DeleteOptions(grace_period_seconds=0, preconditions={"uid": self.uid}),
                )
            except ApiException as e:
                if e.status not in (404, 409):
                    log(f"{self.key}: final delete failed: {e.status} {e.reason}")
        log(f"{self.key}: removed")


# ----------------------------------------------------------------------------- the agent


class Agent:
    def __init__(
        self, kubeconfig: str, workdir: Path, nodes: list[str], network: PodNetwork, capacity: dict[str, str]
    ) -> None:
        cfg = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        cfg.connection_pool_maxsize = 32
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.workdir = workdir
        self.nodes = nodes
        self.network = network
        self.capacity = capacity
        self.pool = IPPool(network.pod_ips())
        self.workers: dict[str, PodWorker] = {}
        self.finished: set[str] = set()  # uids of pods whose worker is done
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- API objects

    def read_object(self, kind: str, ns: str, name: str) -> dict | None:
        try:
            if kind == "secret":
                r = self.core.read_namespaced_secret(name, ns, _preload_content=False)
            else:
                r = self.core.read_namespaced_config_map(name, ns, _preload_content=False)
            return _read_json(r)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def event(self, pod: dict, reason: str, message: str, type_: str, field_path: str) -> None:
        """Post a core/v1 Event about a pod, as the kubelet does (best effort)."""
        md = pod["metadata"]
        involved = {
            "kind": "Pod",
            "apiVersion": "v1",
            "name": md["name"],
            "namespace": md["namespace"],
            "uid": md["uid"],
        }
        if field_path:
            involved["fieldPath"] = field_path
        t = now()
        body = {
            "metadata": {"generateName": f"{md['name']}.", "namespace": md["namespace"]},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": "kubelet", "host": pod["spec"].get("nodeName", "")},
            "firstTimestamp": t,
            "lastTimestamp": t,
            "count": 1,
        }
        try:
            self.core.create_namespaced_event(md["namespace"], body, _preload_content=False)
        except ApiException as e:  # events are best effort (e.g. namespace terminating)
            log(f"event {reason} for {md['namespace']}/{md['name']} not posted: {e.status} {e.reason}")
        except Exception as e:  # noqa: BLE001 - events are best effort
            log(f"event {reason} for {md['namespace']}/{md['name']} not posted: {e!r}")

    # -- nodes

    def node_status(self) -> dict:
        t = now()
        res = dict(self.capacity)
        conds = [
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"},
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kube-automl test node agent is posting ready status",
            },
        ]
        for c in conds:
            c["lastHeartbeatTime"] = t
            c["lastTransitionTime"] = self._started
        return {
            "capacity": res,
            "allocatable": res,
            "conditions": conds,
            "addresses": [
                {"type": "InternalIP", "address": self.network.host_ip},
                {"type": "Hostname", "address": socket.gethostname()},
            ],
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION,
                "containerRuntimeVersion": "automl-node-agent://1",
                "operatingSystem": "linux",
                "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                    platform.machine(), platform.machine()
                ),
                "osImage": platform.platform(),
                "kernelVersion": platform.release(),
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kubeProxyVersion": "",
            },
        }

    def register(self) -> None:
        self._started = now()
        arch = self.node_status()["nodeInfo"]["architecture"]
        for n in self.nodes:
            body = {
                "metadata": {
                    "name": n,
                    "labels": {
                        "kubernetes.io/hostname": n,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": arch,
                        "automl.dev/test-node": "true",
                    },
                }
            }
            try:
                self.core.create_node(body)
            except ApiException as e:
                if e.status != 409:
                    raise
            self.core.patch_node_status(n, {"status": self.node_status()})
            log(f"node {n} registered: {self.capacity}")
        self.heartbeat(initial=True)

    def heartbeat(self, initial: bool = False) -> None:
        for n in self.nodes:
            lease = {
                "metadata": {"name": n, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": n, "leaseDurationSeconds": 40, "renewTime": now_micro()},
            }
            try:
                self.coord.patch_namespaced_lease(n, "kube-node-lease", lease)
            except ApiException as e:
                if e.status != 404:
                    raise
                self.coord.create_namespaced_lease("kube-node-lease", lease)

    def heartbeat_loop(self) -> None:
        last_status = time.monotonic()
        while not self.stopping.wait(10):
            try:
                self.heartbeat()
                if time.monotonic() - last_status >= 30:
                    for n in self.nodes:
                        self.core.patch_node_status(n, {"status": self.node_status()})
                    last_status = time.monotonic()
            except Exception as e:  # noqa: BLE001 - the API may be going away
                log(f"heartbeat failed: {e}")

    # -- pods

    def forget(self, uid: str) -> None:
        with self.lock:
            self.workers.pop(uid, None)
            self.finished.add(uid)

    def dispatch(self, kind: str, pod: dict) -> None:
        if pod["spec"].get("nodeName") not in self.nodes:
            return
        uid = pod["metadata"]["uid"]
        with self.lock:
            w = self.workers.get(uid)
            if kind == "DELETED":
                if w:
                    w.deleted()
                return
            if w is None:
                phase = (pod.get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed"):
                    return  # finished before this agent started
                if uid in self.finished:
                    return  # already stopped and deleted: a late event (e.g. a finalizer)
                w = PodWorker(self, pod)
                self.workers[uid] = w
                w.thread.start()
                return
        w.update(pod)

    def watch_pods(self) -> None:
        rv = None
        while not self.stopping.is_set():
            try:
                if rv is None:
                    lst = _read_json(self.core.list_pod_for_all_namespaces(_preload_content=False))
                    rv = lst["metadata"]["resourceVersion"]
                    for p in lst["items"]:
                        self.dispatch("ADDED", p)
                w = watch.Watch()
                for ev in w.stream(
                    self.core.list_pod_for_all_namespaces,
                    resource_version=rv,
                    timeout_seconds=60,
                    allow_watch_bookmarks=True,
                ):
                    obj = ev["raw_object"]
                    if ev["type"] == "ERROR":
                        if obj.get("code") == 410:
                            rv = None
                        break
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] == "BOOKMARK":
                        continue
                    self.dispatch(ev["type"], obj)
            except ApiException as e:
                if e.status == 410:
                    rv = None
                else:
                    log(f"pod watch failed: {e.status} {e.reason}")
                    time.sleep(1)
            except Exception as e:  # noqa: BLE001 - reconnect
                if self.stopping.is_set():
                    return
                log(f"pod watch failed: {e!r}")
                time.sleep(1)

    def shutdown(self) -> None:
        self.stopping.set()
        with self.lock:
            workers = list(self.workers.values())
        threads = []
        for w in workers:
            t = threading.Thread(target=w.stop_all, args=(2,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(10)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--workdir", required=True, type=Path)
    ap.add_argument("--node", action="append", required=True)
    ap.add_argument("--cpu", default=os.environ.get("AUTOML_CLUSTER_NODE_CPU", "8"))
    ap.add_argument("--memory", default=os.environ.get("AUTOML_CLUSTER_NODE_MEMORY", "16Gi"))
    ap.add_argument("--pods", default=os.environ.get("AUTOML_CLUSTER_NODE_PODS", "110"))
    a = ap.parse_args(argv)
    state = json.loads((a.workdir / "state.json").read_text())
    network = PodNetwork.from_dict(state["network"])
    agent = Agent(
        a.kubeconfig,
        a.workdir,
        a.node,
        network,
        {"cpu": a.cpu, "memory": a.memory, "pods": a.pods, "ephemeral-storage": "100Gi"},
    )

    def on_term(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    try:
        agent.register()
        threading.Thread(target=agent.heartbeat_loop, name="heartbeat", daemon=True).start()
        agent.watch_pods()
    finally:
        log("shutting down: stopping all pods")
        agent.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
