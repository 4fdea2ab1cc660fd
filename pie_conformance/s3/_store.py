"""``DatasetStore``: put datasets and weights into any S3-compatible endpoint, and fingerprint prefixes."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pie_conformance.errors import KitEnvironmentError, UsageError

if TYPE_CHECKING:
    from pie_conformance.datasets import Dataset

#: The platform's bucket.
BUCKET = "pie-engine-ai"
#: Throw-away credentials the kit gives the mock and the scripts it runs (never real ones).
THROWAWAY_ACCESS_KEY = "pie-kit-access-key"
THROWAWAY_SECRET_KEY = "pie-kit-secret-key"
REGION = "us-east-1"


def make_client(endpoint_url: str, access_key: str, secret_key: str, *, pool: int = 32) -> Any:
    """A boto3 S3 client for ``endpoint_url`` that reads no AWS config file and fails fast when it is down."""
    import boto3
    import botocore.session
    from botocore.config import Config

    # Explicit keys and endpoint only: no AWS profile, config or credentials file of the user plays a part
    # (a profile named in AWS_PROFILE that the empty config lacks would otherwise stop the client).
    session = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    config = Config(
        region_name=REGION,
        s3={"addressing_style": "path"},
        connect_timeout=3,
        read_timeout=60,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=pool,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, botocore_session=session
    ).client("s3", endpoint_url=endpoint_url, config=config)


class DatasetStore:
    """Datasets and weights in a bucket of an S3-compatible endpoint (the mock, MinIO, a real bucket).

    With ``write_prefix`` set, every write outside that prefix is refused: the guarantee the kit gives when
    it is pointed at an endpoint that is not its own mock.
    """

    def __init__(
        self,
        endpoint_url: str,
        access_key: str = THROWAWAY_ACCESS_KEY,
        secret_key: str = THROWAWAY_SECRET_KEY,
        bucket: str = BUCKET,
        *,
        write_prefix: str | None = None,
        workers: int = 16,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.bucket = bucket
        self.write_prefix = write_prefix
        self.workers = workers
        self.client = make_client(endpoint_url, access_key, secret_key, pool=max(workers, 10))

    def _errors(self) -> tuple[type[BaseException], ...]:
        from botocore.exceptions import BotoCoreError, ClientError

        return BotoCoreError, ClientError

    def _guard(self, key: str) -> None:
        if self.write_prefix is not None and not key.startswith(self.write_prefix):
            raise UsageError(
                f"refusing to write {key!r}: the kit writes only under {self.write_prefix!r} on this endpoint"
            )

    def _fail(self, what: str, exc: BaseException) -> KitEnvironmentError:
        return KitEnvironmentError(f"S3 endpoint {self.endpoint_url}: {what} failed: {exc}")

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (the mock starts empty)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise self._fail(f"checking bucket {self.bucket!r}", exc) from None
        except self._errors() as exc:
            raise self._fail(f"checking bucket {self.bucket!r}", exc) from None
        if self.write_prefix is not None:
            raise UsageError(
                f"bucket {self.bucket!r} does not exist at {self.endpoint_url}; the kit creates "
                "buckets only on its own mock"
            )
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except self._errors() as exc:
            raise self._fail(f"creating bucket {self.bucket!r}", exc) from None

    def put_object(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (e.g. resume weights under ``devel/<owner>/model/<id>/``)."""
        self._guard(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except self._errors() as exc:
            raise self._fail(f"writing {key!r}", exc) from None

    def put_objects(self, objects: Mapping[str, bytes]) -> None:
        """Store many objects in parallel."""
        for key in objects:
            self._guard(key)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(lambda item: self.put_object(*item), objects.items()))

    def upload(self, dataset: Dataset) -> None:
        """Put every file of ``dataset`` under ``dataset.prefix``, in parallel (creating a missing bucket)."""
        self.ensure_bucket()
        for key in dataset.files:
            self._guard(dataset.prefix + key)
        # Each worker reads its file only when it sends it: a folder read lazily is never all in memory.
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(
                pool.map(lambda key: self.put_object(dataset.prefix + key, dataset.files[key]), dataset.files)
            )

    def get_object(self, key: str) -> bytes:
        """The bytes stored under ``key``."""
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self._errors() as exc:
            raise self._fail(f"reading {key!r}", exc) from None

    def list_keys(self, prefix: str) -> Iterable[dict[str, Any]]:
        """Every object under ``prefix`` as listed (Key, ETag, Size, ...), paged."""
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                yield from page.get("Contents", [])
        except self._errors() as exc:
            raise self._fail(f"listing {prefix!r}", exc) from None

    def fingerprint(self, prefix: str) -> dict[str, str]:
        """key -> ``"<etag>:<size>"`` of every object under ``prefix``: equal fingerprints, unchanged data."""
        return {
            item["Key"]: f"{str(item.get('ETag', '')).strip(chr(34))}:{item.get('Size', 0)}"
            for item in self.list_keys(prefix)
        }


def registry_for(*datasets: Dataset) -> dict[str, str]:
    """The dataset-id -> key-prefix registry ``aiutils_env`` takes, for these datasets."""
    return {d.dataset_id: d.prefix for d in datasets}
