"""The pod network of one test cluster.

Every pod gets its own IP address, and its processes bind to it (``--host $(POD_IP)``), so
two pods can both listen on port 8080 and a test reaches each one at ``status.podIP``.

Where the addresses live (``AUTOML_CLUSTER_NETWORK``):

``netns`` (default when the ``ip netns`` command works, i.e. as root)
    One network namespace per cluster plays the nodes' pod network. A veth pair joins it to
    the host: the host end gets ``10.R.S.1/24``, the namespace end ``10.R.S.2/24``, and each
    pod gets one more address ``10.R.S.N/32`` on the namespace end; its processes are started
    inside the namespace (``nsenter --net``). The host reaches every pod through the veth,
    pods reach each other inside the namespace, and MinIO listens on the host end, so pods
    and tests use the same S3 endpoint. Private addresses are needed because the API server
    rejects loopback addresses in EndpointSlices (``may not be in the loopback range``), so
    with loopback pod IPs the real EndpointSlice controller could not publish a Service's
    pods. The subnet is picked at random among unused ``10.200-254.x.0/24``, so several
    clusters on one machine do not meet; nothing outside this machine is ever addressed.

``loopback`` (fallback without root)
    A distinct ``127.R.S.N`` per pod on the host's ``lo`` (Linux routes all of 127/8 there).
    Everything works except EndpointSlices, which then stay empty (see above); tests that
    need them skip.
"""

from __future__ import annotations

import ipaddress
import os
import random
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@dataclass
class PodNetwork:
    mode: str  # "netns" or "loopback"
    subnet: str  # e.g. 10.213.7.0/24 or 127.213.7.0/24
    host_ip: str  # address on the host side that pods can reach (MinIO listens here)
    netns: str = ""  # namespace name (netns mode)
    host_if: str = ""
    ns_if: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PodNetwork:
        return cls(**d)

    # --- used by the node agent -------------------------------------------------------

    def pod_ips(self) -> list[str]:
        """The addresses handed to pods, in order (.10 ... .254)."""
        net = ipaddress.ip_network(self.subnet)
        return [str(net.network_address + i) for i in range(10, 255)]

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that runs argv inside the pod network."""
        if self.mode == "netns":
            return ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv]
        return argv

    def add_pod_ip(self, ip: str) -> None:
        if self.mode == "netns":
            _ip("-n", self.netns, "addr", "add", f"{ip}/32", "dev", self.ns_if)

    def remove_pod_ip(self, ip: str) -> None:
        if self.mode == "netns":
            _ip("-n", self.netns, "addr", "del", f"{ip}/32", "dev", self.ns_if, check=False)

    # --- set up / tear down -----------------------------------------------------------

    def teardown(self) -> None:
        if self.mode != "netns":
            return
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.netns, check=False)


def _used_prefixes() -> set[str]:
    out = _ip("-4", "addr", check=False).stdout + _ip("-4", "route", check=False).stdout
    return {w.rsplit(".", 1)[0] for w in out.replace("/", " ").split() if w.startswith("10.")}


def _netns_works() -> bool:
    return not (os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nsenter") is None)


def create_pod_network(mode: str | None = None) -> PodNetwork:
    mode = mode or os.environ.get("AUTOML_CLUSTER_NETWORK") or ("netns" if _netns_works() else "loopback")
    rnd = random.SystemRandom()
    if mode == "loopback":
        r, s = rnd.randint(200, 254), rnd.randint(0, 255)
        return PodNetwork("loopback", f"127.{r}.{s}.0/24", "127.0.0.1")
    if mode != "netns":
        raise ValueError(f"AUTOML_CLUSTER_NETWORK must be netns or loopback, not {mode!r}")
    used = _used_prefixes()
    for _ in range(100):
        prefix = f"10.{rnd.randint(200, 254)}.{rnd.randint(0, 255)}"
        if prefix not in used:
            break
    else:  # pragma: no cover
        raise RuntimeError("no free 10.200-254.x.0/24 subnet for the pod network")
    tag = secrets.token_hex(3)
    net = PodNetwork(
        "netns",
        f"{prefix}.0/24",
        f"{prefix}.1",
        netns=f"automl-{tag}",
        host_if=f"amh{tag}",
        ns_if=f"amn{tag}",
    )
    try:
        _ip("netns", "add", net.netns)
        _ip("link", "add", net.host_if, "type", "veth", "peer", "name", net.ns_if)
        _ip("link", "set", net.ns_if, "netns", net.netns)
        _ip("addr", "add", f"{prefix}.1/24", "dev", net.host_if)
        _ip("link", "set", net.host_if, "up")
        _ip("-n", net.netns, "addr", "add", f"{prefix}.2/24", "dev", net.ns_if)
        _ip("-n", net.netns, "link", "set", net.ns_if, "up")
        _ip("-n", net.netns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        net.teardown()
        raise RuntimeError(
            f"could not create the pod network namespace ({' '.join(e.cmd)}: "
            f"{e.stderr.strip()}); set AUTOML_CLUSTER_NETWORK=loopback to run without it"
        ) from e
    return net
