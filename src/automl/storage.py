"""One storage interface for reading data and writing artifacts: local paths, file:// and s3://.

S3 settings come from the environment as boto3 reads them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``, ``AWS_DEFAULT_REGION``),
so MinIO works by setting the endpoint. Writes are atomic on local disk (write to a temporary
file, then rename) so an interrupted run never leaves a half-written artifact behind.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from automl.errors import StorageError


def join(base: str, *parts: str) -> str:
    """Join path segments onto a URI or local path with exactly one slash between them."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


class Storage(ABC):
    """Bytes at URIs. Subclasses map a URI scheme onto a backend."""

    @abstractmethod
    def read_bytes(self, uri: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, uri: str, data: bytes) -> None: ...

    @abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]:
        """URIs of the objects under ``prefix`` (recursively), sorted."""

    def read_text(self, uri: str) -> str:
        return self.read_bytes(uri).decode("utf-8")

    def write_text(self, uri: str, text: str) -> None:
        self.write_bytes(uri, text.encode("utf-8"))

    def local_path(self, uri: str) -> str | None:
        """A filesystem path for ``uri`` when the backend is local, else None."""
        return None


class LocalStorage(Storage):
    @staticmethod
    def path(uri: str) -> Path:
        if uri.startswith("file://"):
            parsed = urlparse(uri)
            return Path(unquote(parsed.netloc + parsed.path))
        return Path(uri)

    def read_bytes(self, uri: str) -> bytes:
        path = self.path(uri)
        try:
            return path.read_bytes()
        except FileNotFoundError as err:
            raise StorageError(f"{uri}: no such file") from err
        except IsADirectoryError as err:
            raise StorageError(f"{uri}: is a directory, expected a file") from err
        except PermissionError as err:
            raise StorageError(f"{uri}: permission denied") from err

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = self.path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except PermissionError as err:
            raise StorageError(f"{uri}: permission denied") from err
        except OSError as err:
            raise StorageError(f"{uri}: cannot write ({err.strerror})") from err

    def exists(self, uri: str) -> bool:
        return self.path(uri).exists()

    def list(self, prefix: str) -> list[str]:
        root = self.path(prefix)
        if not root.is_dir():
            return []
        base = prefix.rstrip("/")
        return sorted(
            f"{base}/{p.relative_to(root).as_posix()}"
            for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        )

    def local_path(self, uri: str) -> str | None:
        return str(self.path(uri))


@lru_cache(maxsize=1)
def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
    )


class S3Storage(Storage):
    @staticmethod
    def split(uri: str) -> tuple[str, str]:
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise StorageError(f"{uri}: not an s3://bucket/key URI")
        return parsed.netloc, parsed.path.lstrip("/")

    def _call(self, uri: str, action: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            return fn(**kwargs)
        except NoCredentialsError as err:
            raise StorageError(
                f"{uri}: no S3 credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(and AWS_ENDPOINT_URL for MinIO)"
            ) from err
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise StorageError(f"{uri}: no such object") from err
            if code == "NoSuchBucket":
                raise StorageError(f"{uri}: bucket {self.split(uri)[0]!r} does not exist") from err
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(f"{uri}: access denied ({code}); check the S3 credentials") from err
            raise StorageError(f"{uri}: cannot {action} ({code or err})") from err
        except BotoCoreError as err:
            raise StorageError(f"{uri}: cannot {action} ({err})") from err

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = self.split(uri)
        response = self._call(uri, "read", _s3_client().get_object, Bucket=bucket, Key=key)
        return bytes(response["Body"].read())

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = self.split(uri)
        # A single PUT is atomic in S3: readers see the old object or the new one, never half.
        self._call(uri, "write", _s3_client().put_object, Bucket=bucket, Key=key, Body=data)

    def exists(self, uri: str) -> bool:
        bucket, key = self.split(uri)
        try:
            self._call(uri, "check", _s3_client().head_object, Bucket=bucket, Key=key)
        except StorageError as err:
            if "no such object" in str(err):
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        bucket, key = self.split(prefix)
        key = key.rstrip("/") + "/" if key else ""
        paginator = _s3_client().get_paginator("list_objects_v2")
        out: list[str] = []
        pages = self._call(prefix, "list", lambda: list(paginator.paginate(Bucket=bucket, Prefix=key)))
        for page in pages:
            out.extend(f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", []))
        return sorted(out)


_LOCAL = LocalStorage()
_S3 = S3Storage()


def storage_for(uri: str) -> Storage:
    scheme = urlparse(uri).scheme
    if scheme == "s3":
        return _S3
    if scheme in ("", "file") or len(scheme) == 1:  # len 1: a Windows drive letter
        return _LOCAL
    raise StorageError(f"{uri}: unsupported location scheme {scheme!r}; use a path, file:// or s3://")


def read_bytes(uri: str) -> bytes:
    return storage_for(uri).read_bytes(uri)


def write_bytes(uri: str, data: bytes) -> None:
    storage_for(uri).write_bytes(uri, data)


def read_text(uri: str) -> str:
    return storage_for(uri).read_text(uri)


def write_text(uri: str, text: str) -> None:
    storage_for(uri).write_text(uri, text)


def exists(uri: str) -> bool:
    return storage_for(uri).exists(uri)
