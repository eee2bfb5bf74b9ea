"""One storage interface for paths and file:// URIs (s3:// is tested against MinIO)."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl import storage
from automl.errors import StorageError


def test_paths_and_file_uris_name_the_same_files(tmp_path: Path) -> None:
    storage.write_text(f"file://{tmp_path}/a/b.txt", "hello")
    assert (tmp_path / "a" / "b.txt").read_text() == "hello"
    assert storage.read_text(str(tmp_path / "a" / "b.txt")) == "hello"
    assert storage.storage_for(str(tmp_path)).list(str(tmp_path)) == [f"{tmp_path}/a/b.txt"]


def test_writes_replace_files_whole(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    storage.write_bytes(str(target), b"old")
    storage.write_bytes(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]  # no temporary left behind


def test_missing_files_and_unknown_schemes_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such file"):
        storage.read_bytes(str(tmp_path / "nope.csv"))
    with pytest.raises(StorageError, match="unsupported location scheme 'gs'"):
        storage.read_bytes("gs://bucket/x.csv")
    assert storage.join("s3://b/runs/", "/x/", "y") == "s3://b/runs/x/y"
