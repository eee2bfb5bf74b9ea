"""The model artifact format: what a run writes and what ``automl predict`` and serving load.

Layout under a model location (a directory or an s3:// prefix)::

    model.pkl      the pickled :class:`automl.model.AutoMLModel`
    model.json     metadata: task, feature schema, classes, metrics, library versions, sha256
    model.sha256   the sha256 of model.pkl, as ``sha256sum`` prints it

Pickles execute code when loaded, so :func:`load_model` checks the bytes against the
expected sha256 *before* unpickling and refuses on mismatch.
"""

from __future__ import annotations

import hashlib
import pickle
import platform
from importlib import metadata
from typing import Any

from pydantic import BaseModel, Field

from automl import storage
from automl.errors import ArtifactError
from automl.schema import FeatureSchema
from automl.spec import Task

MODEL_FILE = "model.pkl"
META_FILE = "model.json"
SHA_FILE = "model.sha256"
FORMAT_VERSION = 1
_LIBRARIES = ("kube-automl", "scikit-learn", "lightgbm", "pandas", "numpy")


class ArtifactMetadata(BaseModel):
    format_version: int = FORMAT_VERSION
    name: str
    task: Task
    algorithm: str
    members: list[dict[str, Any]] = Field(description="candidate id, algorithm and weight of each member")
    primary_metric: str
    validation_score: float | None = None
    test_score: float | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    classes: list[Any] = Field(default_factory=list)
    feature_schema: FeatureSchema
    sha256: str
    size_bytes: int
    versions: dict[str, str] = Field(default_factory=dict)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_model(model: Any, location: str, meta: dict[str, Any]) -> ArtifactMetadata:
    """Write model.pkl, then model.json and model.sha256, which name its checksum."""
    payload = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    digest = sha256_hex(payload)
    info = ArtifactMetadata(sha256=digest, size_bytes=len(payload), versions=library_versions(), **meta)
    storage.write_bytes(storage.join(location, MODEL_FILE), payload)
    storage.write_text(storage.join(location, META_FILE), info.model_dump_json(indent=2))
    storage.write_text(storage.join(location, SHA_FILE), f"{digest}  {MODEL_FILE}\n")
    return info


def load_metadata(location: str) -> ArtifactMetadata:
    try:
        return ArtifactMetadata.model_validate_json(storage.read_text(storage.join(location, META_FILE)))
    except (ValueError, UnicodeDecodeError) as err:
        raise ArtifactError(f"{location}: {META_FILE} is not a kube-automl model description") from err


def load_model(location: str, expected_sha256: str | None = None) -> tuple[Any, ArtifactMetadata]:
    """Load a model; refuse (before unpickling) when its bytes do not match the checksum.

    ``expected_sha256`` is what the caller trusts (e.g. from the operator's status); when
    absent, the checksum recorded in model.json is used, which still catches corruption.
    """
    info = load_metadata(location)
    payload = storage.read_bytes(storage.join(location, MODEL_FILE))
    actual = sha256_hex(payload)
    expected = (expected_sha256 or info.sha256).strip().lower()
    if actual != expected:
        raise ArtifactError(
            f"{location}/{MODEL_FILE}: sha256 is {actual}, expected {expected}; "
            "refusing to load a model that is not the one that was trained"
        )
    try:
        model = pickle.loads(payload)
    except Exception as err:  # unpickling can raise nearly anything
        raise ArtifactError(f"{location}/{MODEL_FILE}: cannot load the model ({err})") from err
    return model, info
