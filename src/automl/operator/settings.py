"""Operator settings: flags first, then ``AUTOML_OPERATOR_*`` environment variables, then defaults.

The Helm chart passes everything through the environment so the Deployment's command stays
short; ``python -m automl.operator --help`` lists the flags and the variables they fall back to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

ENV_PREFIX = "AUTOML_OPERATOR_"


@dataclass(frozen=True)
class Settings:
    trainer_image: str = "ghcr.io/kube-automl/trainer:0.1.0"
    serving_image: str = "ghcr.io/kube-automl/serving:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    # At most this many candidate Jobs run at once across every AutoMLJob (0: no global cap).
    max_running_candidates: int = 16
    # Where runs go when a job has no spec.output: <default_output>/<namespace>/<name>.
    default_output: str = ""
    run_as_user: int = 10001  # the UID the images create
    # Seconds between reconciliations of one job while nothing wakes it up.
    poll_seconds: float = 2.0
    # Share of limits.timeout kept for finalizing, and its minimum in seconds.
    finalize_share: float = 0.1
    finalize_min_seconds: float = 30.0
    # Top entries of the leaderboard kept in status (the full one is in storage).
    leaderboard_size: int = 5
    serving_port: int = 8080
    extra_labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra_labels":
                continue
            given = overrides.get(f.name)
            raw: object = given if given is not None else env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kind = type(getattr(cls(), f.name))
            try:
                values[f.name] = kind(raw)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: cannot read {raw!r} as {kind.__name__}") from err
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.max_running_candidates < 0:
            raise ValueError("max_running_candidates must be 0 (no cap) or more")
        if settings.default_output and not settings.default_output.startswith("s3://"):
            raise ValueError(f"default_output must be an s3:// URI, not {settings.default_output!r}")
        return settings

    @staticmethod
    def env_name(name: str) -> str:
        return ENV_PREFIX + name.upper()
