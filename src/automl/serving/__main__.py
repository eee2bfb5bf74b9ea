"""``python -m automl.serving``: the serving image's entrypoint."""

from __future__ import annotations

import argparse
import sys

from automl.serving.settings import ENV, Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m automl.serving",
        description="Serve one kube-automl model artifact over HTTP (Open Inference Protocol v2, "
        "KServe v1, plain JSON records) with Prometheus metrics. Every flag falls back to the "
        "environment variable named in its help.",
    )
    p.add_argument(
        "--model-uri", help=f"model location: directory, file:// or s3:// prefix [{ENV['model_uri']}]"
    )
    p.add_argument(
        "--sha256", help=f"expected sha256 of model.pkl; refuse to load on mismatch [{ENV['sha256']}]"
    )
    p.add_argument("--name", help=f"model name in URLs (default: the artifact's name) [{ENV['name']}]")
    p.add_argument("--host", help=f"address to bind (default 127.0.0.1) [{ENV['host']}, then POD_IP]")
    p.add_argument("--port", type=int, help=f"port (default 8080) [{ENV['port']}]")
    p.add_argument(
        "--workers", type=int, help=f"worker processes (default: one per usable CPU) [{ENV['workers']}]"
    )
    p.add_argument(
        "--max-rows", type=int, help=f"most rows in one request, else 413 (default 10000) [{ENV['max_rows']}]"
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"largest request body, else 413 (default 32 MiB) [{ENV['max_body_bytes']}]",
    )
    p.add_argument(
        "--max-batch-rows",
        type=int,
        help=f"most rows merged into one model call (default 1024) [{ENV['max_batch_rows']}]",
    )
    p.add_argument(
        "--graceful-seconds",
        type=float,
        help=f"time for in-flight requests at shutdown (default 30) [{ENV['graceful_seconds']}]",
    )
    p.add_argument(
        "--access-log", action="store_true", default=None, help=f"log every request [{ENV['access_log']}]"
    )
    p.add_argument("--log-level", help=f"debug, info, warning, error (default info) [{ENV['log_level']}]")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(**vars(args))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from automl.serving.server import serve

    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
