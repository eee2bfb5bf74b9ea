"""kube-automl: automated machine learning for tabular data, native to Kubernetes.

The package is layered (checked by import-linter, see pyproject.toml):

- bottom: ``errors``, ``spec``, ``storage``, ``artifact`` — shared by everything;
- middle: ``data``, ``featurize``, ``algorithms``, ``metrics``, ``validation``,
  ``trainer``, ``search``, ``ensemble``, ``guardrails``, ``report``;
- top, independent of each other: ``runner`` + ``cli`` (the embedded default),
  ``operator`` (Kubernetes) and ``serving`` (the prediction service).
"""

__version__ = "0.1.0"
