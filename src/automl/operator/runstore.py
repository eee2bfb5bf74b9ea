"""The operator's view of one run's storage, with that job's own credentials.

Different AutoMLJobs may name different Secrets (or S3 endpoints), so the process-wide
client of :mod:`automl.storage` (configured from the environment) does not fit: each job
gets a client built from its Secret, held in memory only and never logged. A job without
``credentialsSecret`` uses the operator's own environment, exactly like the trainer pods.
"""

from __future__ import annotations

from typing import Any

from automl import storage
from automl.errors import StorageError


class RunStore:
    def __init__(self, run_uri: str, credentials: dict[str, str] | None = None) -> None:
        self.run_uri = run_uri.rstrip("/")
        self._s3 = run_uri.startswith("s3://")
        self._client: Any = None
        self._credentials = credentials

    def uri(self, *parts: str) -> str:
        return storage.join(self.run_uri, *parts)

    def _s3_client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            creds = self._credentials
            kwargs: dict[str, Any] = {}
            if creds is not None:
                kwargs = {
                    "aws_access_key_id": creds.get("AWS_ACCESS_KEY_ID"),
                    "aws_secret_access_key": creds.get("AWS_SECRET_ACCESS_KEY"),
                    "endpoint_url": creds.get("AWS_ENDPOINT_URL_S3") or creds.get("AWS_ENDPOINT_URL") or None,
                    "region_name": creds.get("AWS_DEFAULT_REGION") or "us-east-1",
                }
            self._client = boto3.session.Session().client(
                "s3", config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                    s3={"addressing_style": "path"}), **kwargs)
        return self._client

    def read_text(self, *parts: str) -> str | None:
        """The object's text, or None when it does not exist."""
        uri = self.uri(*parts)
        if not self._s3:
            return storage.read_text(uri) if storage.exists(uri) else None
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = storage.S3Storage.split(uri)
        try:
            body = self._s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                return None
            raise StorageError(f"{uri}: cannot read ({code})") from err
        except BotoCoreError as err:
            raise StorageError(f"{uri}: cannot read ({type(err).__name__})") from err
        return bytes(body).decode("utf-8")

    def write_text(self, text: str, *parts: str) -> None:
        uri = self.uri(*parts)
        if not self._s3:
            storage.write_text(uri, text)
            return
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = storage.S3Storage.split(uri)
        try:
            self._s3_client().put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"))
        except (ClientError, BotoCoreError) as err:
            raise StorageError(f"{uri}: cannot write ({type(err).__name__})") from err
