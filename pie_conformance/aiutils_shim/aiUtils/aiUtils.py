"""The platform's ``aiUtils`` data access, compatible, for runs on a laptop or in CI (pie-conformance kit).

It reads its endpoint, throw-away keys and the dataset-id -> key-prefix registry from the environment
(``pie-check serve`` prints them; the kit's harness sets them), never the user's AWS configuration.
It imports only the standard library, boto3 and botocore: it runs inside the user's script.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

# Environment variable names (pie_conformance/s3/_env.py spells them too).
ENDPOINT_VAR = "PIE_S3_ENDPOINT_URL"
ACCESS_KEY_VAR = "PIE_S3_ACCESS_KEY_ID"
SECRET_KEY_VAR = "PIE_S3_SECRET_ACCESS_KEY"
BUCKET_VAR = "PIE_S3_BUCKET"
REGISTRY_VAR = "PIE_DATASET_REGISTRY"
REGISTRY_FILE_VAR = "PIE_DATASET_REGISTRY_FILE"
DATASET_ID_VAR = "AI_DATASET_ID"
FAST_VAR = "PIE_AIUTILS_FAST"  # "0" turns off the direct keep-alive GET path (boto3 only)

DEFAULT_BUCKET = "pie-engine-ai"
REGION = "us-east-1"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
_HELP = (
    "run `pie-check serve --task <task>` and paste the export lines it prints, "
    "or let `pie-check run` set them"
)


class AiUtilsError(RuntimeError):
    """Any error of the compatible aiUtils (a RuntimeError, as the platform module raises)."""


class NotInKitError(AiUtilsError, AttributeError):
    """A platform-only part of aiUtils that the kit does not provide."""


def _strip_s3(path: str) -> str:
    # The platform accepts both "s3://bucket/key" and bare keys: it drops the first three "/"-parts.
    if path.split("/")[0] == "s3:":
        return "/".join(path.split("/")[3:])
    return path


def _registry() -> dict[str, str]:
    text = os.environ.get(REGISTRY_VAR)
    source = REGISTRY_VAR
    if not text and os.environ.get(REGISTRY_FILE_VAR):
        source = os.environ[REGISTRY_FILE_VAR]
        try:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise AiUtilsError(f"aiUtils: cannot read the dataset registry {source}: {exc}") from None
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise AiUtilsError(f"aiUtils: the dataset registry in {source} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AiUtilsError(f"aiUtils: expected the dataset registry in {source} to map ids to prefixes")
    return {str(k): str(v) for k, v in data.items()}


def _sign_v4(
    method: str, host: str, path: str, access: str, secret: str, now: datetime.datetime | None = None
) -> dict[str, str]:
    """Signature V4 headers for a body-less S3 request (what boto3 would send, minus its overhead)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = "UNSIGNED-PAYLOAD"
    headers = f"host:{host}\nx-amz-content-sha256:{payload}\nx-amz-date:{amz_date}\n"
    signed = "host;x-amz-content-sha256;x-amz-date"
    request = f"{method}\n{path}\n\n{headers}\n{signed}\n{payload}"
    scope = f"{day}/{REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(request.encode()).hexdigest()}"
    key = ("AWS4" + secret).encode()
    for part in (day, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, Signature={signature}"
        ),
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
    }


class _DirectGet:
    """Keep-alive GETs of whole objects: one connection per thread and per process (DataLoader forks)."""

    def __init__(self, endpoint: str, access: str, secret: str) -> None:
        parts = urlsplit(endpoint)
        self.https = parts.scheme == "https"
        self.netloc = parts.netloc
        self.base = parts.path.rstrip("/")
        self.access, self.secret = access, secret
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            conn = cls(self.netloc, timeout=60)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def get(self, bucket: str, key: str) -> tuple[int, bytes]:
        """(status, body) of GET bucket/key; raises OSError when the endpoint cannot be reached."""
        path = f"{self.base}/{quote(bucket, safe='')}/{quote(key, safe='/-_.~')}"
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(
                    "GET", path, headers=_sign_v4("GET", self.netloc, path, self.access, self.secret)
                )
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self._local.conn = None
                # A kept-alive connection the server dropped: retry once on a new one, then give up.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


#: Parts of the platform's s3GetImg that need the platform itself, with what to do instead.
_PLATFORM_ONLY = {
    "gdal": "aiUtils.s3GetImg.gdal is not available in the pie-conformance kit (it needs the platform's GDAL "
    "with S3 access); read images with getImgXmlArray() and PIL/numpy instead",
    "getGDAL": "aiUtils.s3GetImg.getGDAL is not available in the pie-conformance kit (platform GDAL only)",
    "getS3Params": "aiUtils.s3GetImg.getS3Params is not available in the pie-conformance kit: "
    f"credentials come from the environment the kit sets ({ACCESS_KEY_VAR}, {SECRET_KEY_VAR})",
}


class s3GetImg:  # noqa: N801 - the platform's name
    """Access to one dataset in S3, as the platform's ``aiUtils.s3GetImg``."""

    def __init__(self, datasetId: str | None = None) -> None:  # noqa: N803 - the platform's name
        if datasetId is None:
            datasetId = os.environ.get(DATASET_ID_VAR)
            if not datasetId:
                raise AiUtilsError(
                    f"aiUtils.s3GetImg(): no datasetId given and {DATASET_ID_VAR} is not set; {_HELP}"
                )
        endpoint = os.environ.get(ENDPOINT_VAR)
        if not endpoint:
            raise AiUtilsError(f"aiUtils: no S3 endpoint configured ({ENDPOINT_VAR} is not set); {_HELP}")
        registry = _registry()
        if datasetId not in registry:
            known = ", ".join(sorted(registry)) or "none"
            raise AiUtilsError(f"aiUtils.s3GetImg: unknown dataset id {datasetId!r} (known ids: {known})")
        self.datasetId = datasetId
        self.endpoint_url = endpoint
        self.bucketName = os.environ.get(BUCKET_VAR) or DEFAULT_BUCKET
        prefix = _strip_s3(registry[datasetId]).strip("/")
        self.prefix = prefix + "/"
        self.path = f"s3://{self.bucketName}/{self.prefix}"
        access = os.environ.get(ACCESS_KEY_VAR, "pie-kit-access-key")
        secret = os.environ.get(SECRET_KEY_VAR, "pie-kit-secret-key")
        self.s3 = _client(endpoint, access, secret)
        host = urlsplit(endpoint).hostname or ""
        # The direct path only talks to the kit's own loopback mock; anything else goes through boto3.
        fast = os.environ.get(FAST_VAR, "1") != "0" and host in _LOOPBACK
        self._direct = _DirectGet(endpoint, access, secret) if fast else None

    # -- the platform's methods -----------------------------------------------------------------
    def getImages(self, datasetPath: str, is_xml: bool = False) -> list[str]:  # noqa: N802,N803
        """Every image key under the prefix (and .xml keys with ``is_xml``), sorted; none: RuntimeError."""
        prefix = _strip_s3(str(datasetPath))
        wanted = IMAGE_EXTENSIONS + ((".xml",) if is_xml else ())
        keys = [k for k in self._list(prefix) if k.lower().endswith(wanted)]
        if not keys:
            what = "images or .xml files" if is_xml else "images"
            raise AiUtilsError(f"Found 0 {what} in subfolders of: {datasetPath} (bucket {self.bucketName})")
        return sorted(keys)

    def getFileList(self, filepath: str) -> list[str]:  # noqa: N802,N803
        """Every key under the prefix, whatever its extension; none: RuntimeError."""
        keys = sorted(self._list(_strip_s3(str(filepath))))
        if not keys:
            raise AiUtilsError(f"Found 0 files in subfolders of: {filepath} (bucket {self.bucketName})")
        return keys

    def getImgXmlArray(self, dataPath: str) -> bytes:  # noqa: N802,N803
        """The bytes of the object at ``dataPath`` (a key or an ``s3://`` URL); missing: RuntimeError."""
        key = _strip_s3(str(dataPath))
        if self._direct is not None:
            try:
                status, body = self._direct.get(self.bucketName, key)
            except OSError as exc:
                raise self._unreachable(exc) from None
            if status == 200:
                return body
            if status in (403, 404):
                raise AiUtilsError(f"S3 not have data path: {key} (bucket {self.bucketName})")
        try:
            return bytes(self.s3.get_object(Bucket=self.bucketName, Key=key)["Body"].read())
        except Exception as exc:
            if _is_missing(exc):
                raise AiUtilsError(f"S3 not have data path: {key} (bucket {self.bucketName})") from None
            raise self._wrap(exc, f"reading {key}") from None

    def getObjectSize(self, dataPath: str) -> int:  # noqa: N802,N803
        """The size in bytes of the object at ``dataPath``; missing: RuntimeError."""
        key = _strip_s3(str(dataPath))
        try:
            return int(self.s3.head_object(Bucket=self.bucketName, Key=key)["ContentLength"])
        except Exception as exc:
            if _is_missing(exc):
                raise AiUtilsError(f"S3 not have data path: {key} (bucket {self.bucketName})") from None
            raise self._wrap(exc, f"reading {key}") from None

    def downS3Weight(self, file_name: str, upload_key: str) -> bool:  # noqa: N802
        """Download the object ``upload_key`` to the local path ``file_name`` (local path FIRST).

        True once downloaded; False when there is no such object, as on the platform.
        """
        key = _strip_s3(str(upload_key))
        if self._exists(key):
            folder = os.path.dirname(os.path.abspath(file_name))
            if not os.path.isdir(folder):
                # The platform's module does not create it either: the download fails there.
                raise AiUtilsError(f"Not get weight: {key}: the folder of {file_name} does not exist")
            try:
                self.s3.download_file(Bucket=self.bucketName, Key=key, Filename=str(file_name))
            except OSError as exc:
                raise AiUtilsError(f"Not get weight: {key}: cannot write {file_name}: {exc}") from None
            except Exception as exc:
                raise self._wrap(exc, f"downloading {key}") from None
            return True
        if self._reversed(str(file_name), str(upload_key)):
            raise AiUtilsError(
                "aiUtils.downS3Weight(local_path, key) takes the local path FIRST and the S3 key second; "
                f"this call passed them the other way round: downS3Weight({file_name!r}, {upload_key!r}). "
                f"Write downS3Weight({upload_key!r}, {file_name!r}) (the guide's bullet list shows the order "
                "reversed; its code examples and the platform module put the local path first)."
            )
        print(
            f"aiUtils.downS3Weight: no object {key} in bucket {self.bucketName}; returning False",
            file=sys.stderr,
        )
        return False

    def pullImage(self, filepath: str, upload_key: str | None = None) -> list[str]:  # noqa: N802
        """Download the dataset's ``train/`` and ``valid/`` trees into ``filepath``, in parallel.

        With ``upload_key`` naming one file, download just that file to ``filepath``. Returns the local paths.
        """
        source = _strip_s3(upload_key) if upload_key is not None else self.prefix
        if source.split("/")[-1].split(".")[-1] != "" and "." in source.split("/")[-1]:
            jobs = [(source, str(filepath))]
        else:
            base = source if source.endswith("/") else source + "/"
            keys = [
                k for split in ("train/", "valid/") for k in self._list(base + split) if not k.endswith("/")
            ]
            if not keys:
                raise AiUtilsError(f"Found 0 files in subfolders of: {base}train/ and {base}valid/")
            jobs = [(k, os.path.join(str(filepath), *k[len(base) :].split("/"))) for k in keys]
        for folder in {os.path.dirname(target) for _, target in jobs}:
            if folder:
                os.makedirs(folder, exist_ok=True)

        def fetch(job: tuple[str, str]) -> str:
            key, target = job
            data = self.getImgXmlArray(key)
            with open(target, "wb") as handle:
                handle.write(data)
            return target

        with ThreadPoolExecutor(max_workers=16) as pool:
            return list(pool.map(fetch, jobs))

    # -- platform-only parts --------------------------------------------------------------------
    def getS3Params(self, datasetId: str) -> Any:  # noqa: N802,N803
        """The platform's credential service: not in the kit."""
        raise NotInKitError(_PLATFORM_ONLY["getS3Params"])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _PLATFORM_ONLY:
            raise NotInKitError(_PLATFORM_ONLY[name])
        raise NotInKitError(
            f"aiUtils.s3GetImg has no attribute {name!r} in the pie-conformance kit "
            "(available: path, bucketName, s3, getImages, getImgXmlArray, downS3Weight, pullImage, "
            "getFileList, getObjectSize)"
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _list(self, prefix: str) -> list[str]:
        try:
            paginator = self.s3.get_paginator("list_objects_v2")
            return [
                item["Key"]
                for page in paginator.paginate(Bucket=self.bucketName, Prefix=prefix)
                for item in page.get("Contents", [])
            ]
        except Exception as exc:
            raise self._wrap(exc, f"listing {prefix!r}") from None

    def _exists(self, key: str) -> bool:
        if not key:
            return False
        try:
            self.s3.head_object(Bucket=self.bucketName, Key=key)
            return True
        except Exception as exc:
            if _is_missing(exc):
                return False
            raise self._wrap(exc, f"looking up {key}") from None

    def _reversed(self, first: str, second: str) -> bool:
        """Whether (first, second) reads as (key, local path): the order of the guide's bullet list."""
        second_is_local = (
            os.path.isabs(second) or second.startswith(("./", "../", "~")) or os.path.exists(second)
        )
        if not second_is_local:
            return False
        if first.startswith("s3://"):
            return True
        if os.path.isabs(first):
            return False
        # A relative first argument: a key if the bucket has it, or if no local folder of that name exists.
        return self._exists(first) or not os.path.isdir(os.path.dirname(first) or ".")

    def _unreachable(self, exc: BaseException) -> AiUtilsError:
        return AiUtilsError(
            f"aiUtils: cannot reach the S3 endpoint {self.endpoint_url} ({exc}); is it running? {_HELP}"
        )

    def _wrap(self, exc: BaseException, what: str) -> AiUtilsError:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import EndpointConnectionError

        if isinstance(exc, (EndpointConnectionError, BotoConnectionError, OSError)):
            return self._unreachable(exc)
        return AiUtilsError(f"aiUtils: {what} in bucket {self.bucketName} failed: {exc}")

    def __repr__(self) -> str:
        return f"<aiUtils.s3GetImg {self.datasetId} {self.path} (pie-conformance kit)>"


def _is_missing(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied")


def _client(endpoint: str, access: str, secret: str) -> Any:
    """A boto3 S3 client with explicit keys and endpoint, no AWS config files, and short failure times."""
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
        connect_timeout=2,
        read_timeout=60,
        retries={"max_attempts": 2, "mode": "standard"},
        max_pool_connections=32,
    )
    return boto3.session.Session(
        aws_access_key_id=access, aws_secret_access_key=secret, botocore_session=session
    ).client("s3", endpoint_url=endpoint, config=config)


def __getattr__(name: str) -> Any:
    # Module-level names the platform module has but the kit does not (e.g. aiUtils.gdal).
    if name.startswith("__"):
        raise AttributeError(name)
    raise NotInKitError(
        f"aiUtils.{name} is not available in the pie-conformance kit (it provides aiUtils.s3GetImg only)"
    )
