"""The ``AutoMLJob`` resource: one typed model shared by the CLI, the trainer and the operator.

The same YAML document is read by ``automl run job.yaml`` and accepted by the API server
through ``crds/automljob.yaml``. That CRD schema is *generated* from these models
(``python -m automl.crd``) and a test checks both accept and reject the same documents, so
there is one schema and no drift. Field names are camelCase on the wire (as Kubernetes
users expect) and snake_case in Python.

Cross-field rules that the API server checks with CEL (``x-kubernetes-validations``) are
attached to the models with ``cel_rules`` and checked again here by validators.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from automl.errors import SpecError

API_GROUP = "automl.dev"
API_VERSION = f"{API_GROUP}/v1alpha1"
KIND = "AutoMLJob"


class Task(StrEnum):
    classification = "classification"
    regression = "regression"


# The catalogue of names a user may write in a spec. ``automl.algorithms`` and
# ``automl.metrics`` implement exactly these (a unit test holds them together).
ALGORITHMS: dict[Task, tuple[str, ...]] = {
    Task.classification: (
        "lightgbm",
        "hist_gradient_boosting",
        "extra_trees",
        "random_forest",
        "logistic_regression",
        "knn",
        "mlp",
        "sgd",
    ),
    Task.regression: (
        "lightgbm",
        "hist_gradient_boosting",
        "extra_trees",
        "random_forest",
        "ridge",
        "elastic_net",
        "knn",
        "mlp",
    ),
}
ALL_ALGORITHMS: tuple[str, ...] = tuple(dict.fromkeys(ALGORITHMS[Task.classification] + ALGORITHMS[Task.regression]))

METRICS: dict[Task, tuple[str, ...]] = {
    Task.classification: (
        "roc_auc",
        "accuracy",
        "balanced_accuracy",
        "log_loss",
        "f1_macro",
        "f1_weighted",
    ),
    Task.regression: ("r2", "rmse", "mae", "spearman"),
}
DEFAULT_METRIC: dict[Task, str] = {Task.classification: "roc_auc", Task.regression: "r2"}
ALL_METRICS: tuple[str, ...] = METRICS[Task.classification] + METRICS[Task.regression]

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.\-]{1,62}(/.*)?|file://.+|[^:]+|[A-Za-z]:\\.*)$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (``90s``, ``5m``, ``1h30m``)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration; write it like 90s, 5m or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


Duration = Annotated[
    str,
    Field(pattern=DURATION_PATTERN, description="A duration such as 90s, 5m or 1h30m."),
]
Uri = Annotated[
    str,
    Field(
        min_length=1,
        pattern=URI_PATTERN,
        description="A local path, file:// URI or s3://bucket/key URI.",
    ),
]


class _Model(BaseModel):
    """camelCase on the wire, unknown fields rejected (as `kubectl apply --validate=strict`)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=False,
        use_enum_values=False,
    )


class DataSpec(_Model):
    train: Uri = Field(description="Training data: CSV or Parquet, at a path, file:// or s3:// URI.")
    test: Uri | None = Field(
        default=None, description="Optional test data, scored once with the final model."
    )
    label: str = Field(min_length=1, description="The column to predict.")
    credentials_secret: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        max_length=253,
        description=(
            "Name of a Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally "
            "AWS_ENDPOINT_URL for s3:// locations (used by the operator; locally the "
            "environment provides them)."
        ),
    )
    drop_columns: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, max_length=1000, description="Columns never used as features."
    )


class ValidationSpec(_Model):
    method: Literal["auto", "holdout", "cv"] = Field(
        default="auto",
        description=(
            "auto: 10-fold CV under 1,000 rows, 3-fold up to 20,000, a 10% holdout above."
        ),
    )
    folds: int = Field(default=5, ge=2, le=20, description="Folds when method is cv.")
    holdout_fraction: float = Field(
        default=0.2, ge=0.05, le=0.5, description="Share of rows held out when method is holdout."
    )


class SearchSpec(_Model):
    max_candidates: int = Field(default=40, ge=1, le=10000, description="Candidates to try at most.")
    max_parallel: int = Field(default=2, ge=1, le=256, description="Candidates trained at once.")
    allowed_algorithms: list[Literal[ALL_ALGORITHMS]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=32, description="Only these algorithms (empty: all)."
    )
    blocked_algorithms: list[Literal[ALL_ALGORITHMS]] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=32, description="Never these algorithms."
    )
    strategy: Literal["auto", "portfolio", "random"] = Field(
        default="auto",
        description=(
            "auto: a portfolio of strong defaults, then model-based search; portfolio: "
            "the defaults only; random: random search (a baseline)."
        ),
    )


class LimitsSpec(_Model):
    timeout: Duration = Field(default="1h", description="Wall-clock budget of the whole job.")
    candidate_timeout: Duration = Field(default="10m", description="Budget of one candidate.")
    exit_score: float | None = Field(
        default=None, description="Stop the search once the primary metric reaches this value."
    )
    max_failed_candidates: int = Field(
        default=10, ge=0, le=10000, description="Fail the job once more candidates than this failed."
    )

    @property
    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout)

    @property
    def candidate_timeout_seconds(self) -> float:
        return parse_duration(self.candidate_timeout)


class EnsembleSpec(_Model):
    enabled: bool = Field(default=True, description="Try a greedy ensemble of the best candidates.")
    size: int = Field(default=20, ge=1, le=200, description="Greedy selection rounds (with replacement).")
    max_members: int = Field(
        default=8, ge=2, le=50, description="Distinct candidates the ensemble may draw on."
    )


Quantity = Annotated[str | int, Field(description="a Kubernetes quantity such as 500m, 2 or 4Gi")]


class Resources(_Model):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class PodSpec(_Model):
    """The pod settings users need on real clusters (trainer and serving pods alike)."""

    image: str | None = Field(default=None, max_length=512, description="Override the image.")
    resources: Resources = Field(default_factory=Resources, description="Container resources.")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list, max_length=64)
    service_account_name: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=253)


class ServingSpec(PodSpec):
    enabled: bool = Field(default=True, description="Deploy the best model as a prediction Service.")
    replicas: int = Field(default=1, ge=0, le=100)


class AutoMLJobSpec(_Model):
    task: Task = Field(description="classification or regression.")
    data: DataSpec
    primary_metric: Literal[ALL_METRICS] | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Metric that ranks candidates (default: roc_auc for classification, r2 for regression).",
    )
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    search: SearchSpec = Field(default_factory=SearchSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    ensemble: EnsembleSpec = Field(default_factory=EnsembleSpec)
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed for splits and search.")
    trainer: PodSpec = Field(default_factory=PodSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    output: Uri | None = Field(
        default=None,
        description="Where the run writes its model and results (default: ./automl-runs/<name>).",
    )

    @model_validator(mode="after")
    def _cross_field_rules(self) -> AutoMLJobSpec:
        if self.primary_metric is None:
            self.primary_metric = DEFAULT_METRIC[self.task]
        elif self.primary_metric not in METRICS[self.task]:
            raise ValueError(
                f"primaryMetric {self.primary_metric!r} is not a {self.task.value} metric; "
                f"choose one of {', '.join(METRICS[self.task])}"
            )
        for field in ("allowed_algorithms", "blocked_algorithms"):
            for name in getattr(self.search, field):
                if name not in ALGORITHMS[self.task]:
                    raise ValueError(
                        f"search.{to_camel(field)}: {name!r} is not a {self.task.value} algorithm; "
                        f"choose from {', '.join(ALGORITHMS[self.task])}"
                    )
        if not self.candidate_algorithms():
            raise ValueError(
                "search: allowedAlgorithms and blockedAlgorithms leave no algorithm to try"
            )
        if self.search.max_parallel > self.search.max_candidates:
            raise ValueError(
                f"search.maxParallel ({self.search.max_parallel}) must not exceed "
                f"search.maxCandidates ({self.search.max_candidates})"
            )
        if self.data.label in self.data.drop_columns:
            raise ValueError(f"data.dropColumns must not contain the label column {self.data.label!r}")
        return self

    @property
    def metric(self) -> str:
        assert self.primary_metric is not None
        return self.primary_metric

    def candidate_algorithms(self) -> list[str]:
        """The algorithms this job may try, in catalogue order."""
        allowed = set(self.search.allowed_algorithms) or set(ALGORITHMS[self.task])
        blocked = set(self.search.blocked_algorithms)
        return [a for a in ALGORITHMS[self.task] if a in allowed and a not in blocked]


# Children are named <name>-predictor (10 more characters) and must stay within 63.
MAX_NAME_LENGTH = 53


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)
    namespace: str | None = None


class AutoMLJob(_Model):
    api_version: Literal["automl.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["AutoMLJob"]
    metadata: ObjectMeta
    spec: AutoMLJobSpec
    status: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.metadata.name


# Rules the API server checks with CEL. They mirror the validators above.
CEL_RULES: dict[str, list[dict[str, str]]] = {
    "root": [
        {
            "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
            "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters "
            "(the operator names child objects <name>-predictor, <name>-c0001, ...)",
        },
    ],
    "spec": [
        {
            "rule": "!has(self.search) || !has(self.search.maxParallel) || !has(self.search.maxCandidates) "
            "|| self.search.maxParallel <= self.search.maxCandidates",
            "message": "search.maxParallel must not exceed search.maxCandidates",
        },
        {
            "rule": "!has(self.primaryMetric) || (self.task == 'classification' ? self.primaryMetric in "
            + str(list(METRICS[Task.classification]))
            + " : self.primaryMetric in "
            + str(list(METRICS[Task.regression]))
            + ")",
            "message": "primaryMetric is not a metric of this task",
        },
        {
            "rule": "self.task == oldSelf.task",
            "message": "task is immutable",
        },
        {
            "rule": "self.data.train == oldSelf.data.train && self.data.label == oldSelf.data.label "
            "&& (has(self.data.test) == has(oldSelf.data.test)) "
            "&& (!has(self.data.test) || self.data.test == oldSelf.data.test)",
            "message": "data.train, data.test and data.label are immutable",
        },
        {
            "rule": "has(self.primaryMetric) == has(oldSelf.primaryMetric) "
            "&& (!has(self.primaryMetric) || self.primaryMetric == oldSelf.primaryMetric)",
            "message": "primaryMetric is immutable",
        },
    ],
}


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: the field path in manifest spelling, and the reason."""
    problems = []
    for item in err.errors():
        path = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-after"))
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "is required"
        elif item["type"] == "extra_forbidden":
            message = "is not a known field"
        problems.append(f"{path}: {message}" if path else message)
    return f"{source}: invalid AutoMLJob: " + "; ".join(problems)


def parse_job(document: dict[str, Any], source: str = "manifest") -> AutoMLJob:
    """Validate one AutoMLJob document (already parsed from YAML or JSON)."""
    if not isinstance(document, dict):
        raise SpecError(f"{source}: expected an AutoMLJob mapping, got {type(document).__name__}")
    try:
        # Strict JSON validation accepts exactly what the API server accepts: no "3" for 3.
        return AutoMLJob.model_validate_json(json.dumps(document, default=str), strict=True)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, source)) from err


def load_job(path: str | Path) -> AutoMLJob:
    """Read an AutoMLJob manifest (the same YAML that ``kubectl apply`` takes)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise SpecError(f"{path}: no such manifest file") from err
    except OSError as err:
        raise SpecError(f"{path}: cannot read the manifest ({err.strerror})") from err
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from err
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == KIND]
    if len(jobs) != 1:
        raise SpecError(f"{path}: expected exactly one document of kind {KIND}, found {len(jobs)}")
    return parse_job(jobs[0], str(path))


def dump_job(job: AutoMLJob) -> dict[str, Any]:
    """The manifest as a plain dict in wire spelling, defaults filled in."""
    return job.model_dump(mode="json", by_alias=True, exclude_none=True)
