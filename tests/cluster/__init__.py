"""A real local Kubernetes control plane and MinIO for the integration tests.

Public surface: ``Cluster`` (and ``S3Settings``); the pytest fixture ``cluster`` lives in
``tests.cluster.fixtures``; ``python -m tests.cluster build|up|down|status`` runs it by hand.
See README.md in this folder.
"""

from .cluster import Cluster, ClusterStartError, S3Settings

__all__ = ["Cluster", "ClusterStartError", "S3Settings"]
