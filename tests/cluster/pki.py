"""Certificates and keys for one test cluster, made with the ``openssl`` command.

ECDSA P-256 keys throughout: generating them takes milliseconds, which keeps a warm start
fast, and every component accepts them (service-account tokens are then signed with ES256).
Everything lives in the cluster's own temporary folder and dies with it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _key(path: Path) -> None:
    raw = path.with_suffix(".sec1")
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(raw), cwd=path.parent)
    # PKCS#8 is what every consumer reads without guessing.
    _openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(raw), "-out", str(path), cwd=path.parent)
    raw.unlink()


def _sign(d: Path, name: str, subject: str, ext: str, ca: str = "ca", days: int = 30) -> None:
    _key(d / f"{name}.key")
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        f"{ca}.crt",
        "-CAkey",
        f"{ca}.key",
        "-CAcreateserial",
        "-days",
        str(days),
        "-sha256",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=d,
    )


CLIENT_EXT = (
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=clientAuth\n"
)


def make_pki(d: Path, server_ips: list[str]) -> dict[str, Path]:
    """Write CA, API server serving cert, client certs and the service-account key pair."""
    d.mkdir(parents=True, exist_ok=True)
    _key(d / "ca.key")
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=kube-automl-test-ca",
        "-days",
        "30",
        "-sha256",
        "-out",
        "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        cwd=d,
    )
    sans = ",".join(
        [
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
        + [f"IP:{ip}" for ip in server_ips]
    )
    _sign(
        d,
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={sans}\n",
    )
    _sign(d, "admin", "/O=system:masters/CN=kube-automl-admin", CLIENT_EXT)
    _sign(d, "controller-manager", "/CN=system:kube-controller-manager", CLIENT_EXT)
    _sign(d, "scheduler", "/CN=system:kube-scheduler", CLIENT_EXT)
    # The API server's own client identity towards etcd is not needed: etcd listens on
    # loopback without TLS, inside this cluster's folder only.
    _key(d / "sa.key")
    _openssl("ec", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    return {
        "ca_crt": d / "ca.crt",
        "ca_key": d / "ca.key",
        "apiserver_crt": d / "apiserver.crt",
        "apiserver_key": d / "apiserver.key",
        "sa_key": d / "sa.key",
        "sa_pub": d / "sa.pub",
    }


def kubeconfig(
    path: Path,
    server: str,
    ca: Path,
    cert: Path | None = None,
    key: Path | None = None,
    user: str = "admin",
    impersonate: str | None = None,
    namespace: str | None = None,
) -> Path:
    """Write a kubeconfig (YAML is a superset of JSON, so no YAML library is needed)."""
    import json

    user_entry: dict = {}
    if cert is not None:
        user_entry["client-certificate"] = str(cert)
    if key is not None:
        user_entry["client-key"] = str(key)
    if impersonate:
        user_entry["as"] = impersonate
    ctx: dict = {"cluster": "kube-automl-test", "user": user}
    if namespace:
        ctx["namespace"] = namespace
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kube-automl-test",
                "cluster": {"server": server, "certificate-authority": str(ca)},
            }
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": "kube-automl-test", "context": ctx}],
        "current-context": "kube-automl-test",
    }
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    path.chmod(0o600)
    return path
