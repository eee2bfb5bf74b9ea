"""The service's settings: command-line flags, with environment variables as fallbacks.

The serving Deployment passes everything through the environment (``AUTOML_MODEL_URI``,
``AUTOML_MODEL_SHA256``, ``POD_IP``, ...); ``automl serve`` and ``python -m automl.serving``
pass flags. Worker processes receive the settings through the same variables, which is why
:meth:`Settings.to_env` exists: one format, read in one place (:meth:`Settings.from_env`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from pathlib import Path

ENV = {
    "model_uri": "AUTOML_MODEL_URI",
    "sha256": "AUTOML_MODEL_SHA256",
    "name": "AUTOML_MODEL_NAME",
    "host": "AUTOML_HOST",
    "port": "AUTOML_PORT",
    "workers": "AUTOML_WORKERS",
    "max_rows": "AUTOML_MAX_ROWS",
    "max_body_bytes": "AUTOML_MAX_BODY_BYTES",
    "max_batch_rows": "AUTOML_MAX_BATCH_ROWS",
    "graceful_seconds": "AUTOML_GRACEFUL_SECONDS",
    "access_log": "AUTOML_ACCESS_LOG",
    "log_level": "AUTOML_LOG_LEVEL",
}


@dataclass
class Settings:
    model_uri: str
    sha256: str | None = None
    name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 0  # 0: one per usable CPU (see default_workers)
    max_rows: int = 10_000
    max_body_bytes: int = 32 * 1024 * 1024
    max_batch_rows: int = 1024
    graceful_seconds: float = 30.0
    access_log: bool = False
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.model_uri:
            raise ValueError("no model location: pass --model-uri or set AUTOML_MODEL_URI")
        for name in ("max_rows", "max_body_bytes", "max_batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``overrides`` (flags; None means unset), then the environment, then defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            given = overrides.get(f.name)
            if given is not None:
                values[f.name] = given
                continue
            raw = env.get(ENV[f.name])
            if f.name == "host" and not raw:
                raw = env.get("POD_IP")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.type)
        if "model_uri" not in values:
            raise ValueError("no model location: pass --model-uri or set AUTOML_MODEL_URI")
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[ENV[f.name]] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out


def _parse(name: str, raw: str, kind: object) -> object:
    kind = str(kind)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError as err:
        raise ValueError(f"{ENV[name]}={raw!r} is not a valid {kind}") from err
    return raw


def usable_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota (a pod's limit)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def default_workers() -> int:
    """One worker process per usable CPU: each worker predicts on one thread."""
    return usable_cpus()
