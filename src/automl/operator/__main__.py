"""``python -m automl.operator``: run the kube-automl operator (what ``kopf run`` would do).

    python -m automl.operator --all-namespaces
    python -m automl.operator --namespace team-a --namespace team-b

Settings fall back to ``AUTOML_OPERATOR_*`` environment variables (the Helm chart sets them).
The API server is found through ``KUBECONFIG`` or, in a pod, its ServiceAccount.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from .settings import Settings


def parser() -> argparse.ArgumentParser:
    env = Settings.env_name
    p = argparse.ArgumentParser(prog="python -m automl.operator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=None,
                       help="watch this namespace (repeatable) [AUTOML_OPERATOR_NAMESPACES, comma-separated]")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)")
    p.add_argument("--liveness", default=os.environ.get("AUTOML_OPERATOR_LIVENESS", "http://0.0.0.0:8080/healthz"),
                   help="kopf's liveness endpoint; empty to disable [AUTOML_OPERATOR_LIVENESS]")
    p.add_argument("--max-running-candidates", type=int,
                   help=f"global cap on running candidate Jobs, 0 for none [{env('max_running_candidates')}]")
    p.add_argument("--trainer-image", help=f"default trainer image [{env('trainer_image')}]")
    p.add_argument("--serving-image", help=f"default serving image [{env('serving_image')}]")
    p.add_argument("--image-pull-policy", help=f"for trainer and serving pods [{env('image_pull_policy')}]")
    p.add_argument("--default-output", help=f"s3:// prefix for jobs without spec.output [{env('default_output')}]")
    p.add_argument("--run-as-user", type=int, help=f"UID of trainer and serving pods [{env('run_as_user')}]")
    p.add_argument("--poll-seconds", type=float, help=f"re-check interval of a job [{env('poll_seconds')}]")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(
            max_running_candidates=args.max_running_candidates, trainer_image=args.trainer_image,
            serving_image=args.serving_image, image_pull_policy=args.image_pull_policy,
            default_output=args.default_output, run_as_user=args.run_as_user, poll_seconds=args.poll_seconds)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    namespaces = args.namespace
    if not namespaces and not args.all_namespaces:
        env_ns = [n.strip() for n in os.environ.get("AUTOML_OPERATOR_NAMESPACES", "").split(",") if n.strip()]
        namespaces = env_ns or None

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kubernetes", "urllib3", "botocore", "boto3", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import kopf
    from kubernetes import client, config

    from . import handlers  # registers the handlers
    from .kube import Kube
    from .reconcile import Context, Slots

    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    api = client.ApiClient(configuration)
    context = Context(kube=Kube(api), settings=settings, slots=Slots(settings.max_running_candidates))
    logging.getLogger(__name__).info(
        "kube-automl operator: %s; global cap %s running candidates",
        f"namespaces {', '.join(namespaces)}" if namespaces else "all namespaces",
        settings.max_running_candidates or "no")
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces or (),
        liveness_endpoint=args.liveness or None,
        memo=kopf.Memo(context=context, wakeups=handlers.Wakeups()),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
