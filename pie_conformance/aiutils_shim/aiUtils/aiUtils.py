"""The platform's ``aiUtils`` data access, compatible, for runs on a laptop or in CI (pie-conformance kit).

It answers as the platform's public module does, quirks included (see docs/aiutils.md). The one difference:
it reads its endpoint, throw-away keys and the dataset-id -> key-prefix registry from the environment
(``pie-check serve`` prints them; the kit's harness sets them) instead of the platform's credential service,
and never reads the user's AWS configuration. Where a quirk of the platform's module changed an answer, and
``PIE_AIUTILS_EVENTS`` names a file, one JSON line is appended to it (the kit's ``aiutils_events`` module
reads them). It imports only the standard library, boto3 and botocore: it runs inside the user's script.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import json
import os
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
EVENTS_VAR = "PIE_AIUTILS_EVENTS"  # a file to append quirk events to (read by the kit's aiutils_events)

#: Every quirk id an event may carry (the kit's aiutils_events module has the same ids, with hints).
QUIRKS = (
    "reversed-arguments",
    "case-sensitive-extension",
    "substring-extension",
    "xml-keeps-every-key",
    "file-into-folder",
    "missing-returns-false",
    "download-error-ignored",
    "flattened-path",
    "sibling-prefix",
    "empty-size-none",
)
_MAX_EVENT_CHARS = 4000

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


_events_lock = threading.Lock()
_events_seen: set[str] = set()


def _plain(value: object) -> object:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _record(call: str, quirk: str, detail: str, args: list[object]) -> None:
    """Append one event line to the file PIE_AIUTILS_EVENTS names; never raises, never repeats a line."""
    path = os.environ.get(EVENTS_VAR)
    if not path:
        return
    try:
        line = json.dumps(
            {"call": call, "quirk": quirk, "detail": detail[:_MAX_EVENT_CHARS],
             "args": [_plain(a) for a in args]},
            ensure_ascii=False,
        )
        with _events_lock:
            if line in _events_seen:
                return
            _events_seen.add(line)
        # One write of one line with O_APPEND: lines of threads and DataLoader workers never interleave.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o644)
        try:
            os.write(fd, (line + "\n").encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except Exception:  # the script under test must never fail because the kit could not take a note
        pass


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
}

#: The extensions the platform's getImages tests for, as substrings of the key and case-sensitively.
PLATFORM_IMAGE_MARKS = (".jpg", ".tif", ".tiff", ".png", ".TIF", ".bmp")


def _is_platform_image(key: str) -> bool:
    """The platform's image test: a PLATFORM_IMAGE_MARKS entry anywhere in the key (``a.png.aux.xml``)."""
    return any(mark in key for mark in PLATFORM_IMAGE_MARKS)


def _platform_choice(keys: list[str], is_xml: object) -> list[str]:
    """The keys the platform's getImages keeps: every key with ``is_xml`` (its test is always true)."""
    return list(keys) if is_xml else [k for k in keys if _is_platform_image(k)]


def _looks_like_image(key: str) -> bool:
    """What a reader of the guide expects an image key to be: an image extension at the end, in any case."""
    return key.lower().endswith(IMAGE_EXTENSIONS)


def _platform_subfolder(key: str) -> str:
    """The folder (relative, ending in ``/``) the platform's pullImage puts ``key`` in, quirks included.

    The platform takes the third part from the end (``train`` in ``.../train/images/a.png``), glues it to what
    follows its LAST occurrence in the key, and removes every occurrence of the file name from that: a file
    whose name contains ``train`` lands in the top folder, and a short key can raise as it does there.
    """
    anchor = key.split("/")[-3]
    tail = anchor + key.split(anchor)[-1]
    return tail.replace(tail.split("/")[-1], "")


def _shown(keys: list[str], limit: int = 5) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _key_of(path: str) -> str:
    # As the platform: a path starting "s3:" loses its first three "/"-parts; a non-string raises there too.
    if not isinstance(path, str):
        raise NotAStringError(path)
    return _strip_s3(path)


class NotAStringError(AttributeError):
    """A path that is not a ``str``: the platform module calls ``.split`` on it and fails the same way."""

    def __init__(self, value: object) -> None:
        super().__init__(
            f"aiUtils expects S3 paths as str, got {type(value).__name__} {value!r} (the platform's module "
            f"calls .split('/') on it and raises AttributeError); pass str(path)"
        )


class s3GetImg:  # noqa: N801 - the platform's name
    """Access to one dataset in S3, as the platform's ``aiUtils.s3GetImg`` (quirks included)."""

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
        self._access = os.environ.get(ACCESS_KEY_VAR, "pie-kit-access-key")
        self._secret = os.environ.get(SECRET_KEY_VAR, "pie-kit-secret-key")
        self.s3 = _client(endpoint, self._access, self._secret)
        host = urlsplit(endpoint).hostname or ""
        # The direct path only talks to the kit's own loopback mock; anything else goes through boto3.
        fast = os.environ.get(FAST_VAR, "1") != "0" and host in _LOOPBACK
        self._direct = _DirectGet(endpoint, self._access, self._secret) if fast else None

    # -- the platform's methods -----------------------------------------------------------------
    def getS3Params(self, datasetId: str) -> tuple[str, str, str, str, str]:  # noqa: N802,N803
        """(access key, secret key, region, bucket, dataset path) of ``datasetId``.

        The platform asks its credential service; the kit answers from its environment (throw-away keys).
        """
        registry = _registry()
        if datasetId not in registry:
            known = ", ".join(sorted(registry)) or "none"
            raise AiUtilsError(f"Not get S3 params: unknown dataset id {datasetId!r} (known ids: {known})")
        prefix = _strip_s3(registry[datasetId]).strip("/") + "/"
        return self._access, self._secret, REGION, self.bucketName, f"s3://{self.bucketName}/{prefix}"

    def getImages(self, datasetPath: str, is_xml: bool = False) -> list[str]:  # noqa: N802,N803
        """The keys under the prefix that the platform counts as images, in listing order; none: RuntimeError.

        As the platform's module: a key is kept when ``.jpg``, ``.tif``, ``.tiff``, ``.png``, ``.TIF`` or
        ``.bmp`` occurs anywhere in it, case-sensitively (so ``.jpeg`` and ``.JPG`` are left out and
        ``x.png.aux.xml`` is kept); with ``is_xml`` its test is always true and every key is kept.
        """
        listed = self._list(_key_of(datasetPath))
        keys = _platform_choice(listed, is_xml)
        args = [datasetPath, bool(is_xml)]
        if is_xml:
            others = [k for k in keys if not (_looks_like_image(k) or k.lower().endswith(".xml"))]
            if others:
                _record("getImages", "xml-keeps-every-key", (
                    f"is_xml=True returned {len(others)} key(s) that are neither images nor .xml: "
                    f"{_shown(others)} (the platform's test keeps every key)"), args)
        else:
            missed = [k for k in listed if _looks_like_image(k) and not _is_platform_image(k)]
            if missed:
                _record("getImages", "case-sensitive-extension", (
                    f"left out {len(missed)} key(s) with an image extension that the platform's "
                    f"case-sensitive substring test misses: {_shown(missed)}"), args)
            extra = [k for k in keys if not _looks_like_image(k)]
            if extra:
                _record("getImages", "substring-extension", (
                    f"returned {len(extra)} key(s) that do not end in an image extension, because the "
                    f"platform tests substrings: {_shown(extra)}"), args)
        if not keys:
            raise AiUtilsError("Found 0 images in subfolders of: " + datasetPath + "\n")
        return keys

    def getFileList(self, filepath: str) -> list[str]:  # noqa: N802,N803
        """Every key under the prefix, in listing order; none: RuntimeError."""
        keys = self._list(_key_of(filepath))
        if not keys:
            raise AiUtilsError("Found 0 files in subfolders of: " + filepath + "\n")
        return keys

    def getImgXmlArray(self, dataPath: str) -> bytes:  # noqa: N802,N803
        """The bytes of the object at ``dataPath`` (a key or an ``s3://`` URL); missing: RuntimeError."""
        key = _key_of(dataPath)
        if self._direct is not None:
            try:
                status, body = self._direct.get(self.bucketName, key)
            except OSError as exc:
                raise self._unreachable(exc) from None
            if status == 200:
                return body
            if status in (403, 404):
                raise AiUtilsError(f"S3 not have data path: {key} ")
        if not self._exists(key):
            raise AiUtilsError(f"S3 not have data path: {key} ")
        try:
            return bytes(self.s3.get_object(Bucket=self.bucketName, Key=key)["Body"].read())
        except Exception as exc:
            if _is_missing(exc):
                raise AiUtilsError(f"Not get S3 Imag data: {key} ") from None
            raise self._wrap(exc, f"reading {key}") from None

    def getObjectSize(self, dataPath: str) -> int | None:  # noqa: N802,N803
        """The size in bytes of the object, or None when it is empty (as the platform); missing: RuntimeError.

        Like the platform's module it prints the bucket and the key on standard output, and reads the whole
        object to learn its size.
        """
        key = _key_of(dataPath)
        print(self.bucketName)
        print(key)
        size = len(self.getImgXmlArray(key))
        if size == 0:
            _record("getObjectSize", "empty-size-none",
                    f"{key} is empty: the platform's getObjectSize returns None, not 0", [dataPath])
            return None
        return size

    def downS3Weight(self, file_name: str, upload_key: str) -> bool:  # noqa: N802
        """Download the object ``upload_key`` to the local path ``file_name`` (local path FIRST).

        True once downloaded; False when there is no such object, whatever the reason, as on the platform:
        arguments in the reversed order (the guide's bullet list) also return False.
        """
        key = _key_of(upload_key)
        if not self._exists(key):
            if isinstance(file_name, str) and self._reversed(file_name, upload_key):
                _record("downS3Weight", "reversed-arguments", (
                    f"downS3Weight({file_name!r}, {upload_key!r}) returned False: the arguments look "
                    f"reversed (it takes the local path FIRST); write downS3Weight({upload_key!r}, "
                    f"{file_name!r})"),
                    [file_name, upload_key])
            return False
        folder = os.path.dirname(os.path.abspath(file_name))
        if not os.path.isdir(folder):
            # The platform's download fails there too, with this message.
            raise AiUtilsError(f"Not get weight: {key} (the folder of {file_name} does not exist)")
        try:
            self.s3.download_file(Bucket=self.bucketName, Key=key, Filename=os.fspath(file_name))
        except Exception as exc:
            if isinstance(exc, OSError) or _is_missing(exc):
                raise AiUtilsError(f"Not get weight: {key} ({exc})") from None
            raise self._wrap(exc, f"downloading {key}") from None
        return True

    def pullImage(self, filepath: str, upload_key: str | None = None) -> bool | None:  # noqa: N802
        """Download the dataset's ``train/`` and ``valid/`` trees into ``filepath`` in parallel; None.

        As the platform's module: with ``upload_key`` naming one file (its last part has an extension), that
        file goes INTO the folder ``filepath``; every folder is made as needed; a file the listing named but
        that is gone makes it return False; a download that fails is ignored.
        """
        source = self.path if upload_key is None else upload_key
        if not isinstance(source, str):
            raise NotAStringError(source)
        single = source.split("/")[-1].split(".")[-1] != ""
        if single:
            items = [source]
            name = os.path.basename(os.path.normpath(os.fspath(filepath)))
            if "." in name.strip("."):
                _record("pullImage", "file-into-folder", (
                    f"pullImage({filepath!r}, {upload_key!r}) made the FOLDER {filepath} and put the file "
                    f"in it (the platform treats the first argument as a folder)"), [filepath, upload_key])
        else:
            items = self._images(os.path.join(source, "train"), True) + self._images(
                os.path.join(source, "valid"), True
            )
            base = _strip_s3(source)
            base = base if base.endswith("/") else base + "/"
            self._check_pulled(items, base, filepath, upload_key)
        failures: list[str] = []
        lock = threading.Lock()

        def fetch(key: str, target: str) -> None:
            try:
                data = self.getImgXmlArray(key)
                with open(target, "wb") as handle:
                    handle.write(data)
            except Exception as exc:  # the platform never looks at its futures: the error is lost there
                with lock:
                    failures.append(f"{key}: {exc}")

        missing: str | None = None
        with ThreadPoolExecutor(max_workers=20) as pool:
            for item in items:
                if item.split("/")[-1].split(".")[-1] == "":
                    continue
                folder = os.fspath(filepath) if single else os.path.join(filepath, _platform_subfolder(item))
                if not os.path.exists(folder):
                    os.makedirs(folder)
                key = _strip_s3(item)
                if not self._exists(key):
                    missing = key
                    break
                pool.submit(fetch, key, os.path.join(folder, key.split("/")[-1]))
        if failures:
            _record("pullImage", "download-error-ignored", (
                f"{len(failures)} download(s) failed and the platform's pullImage ignores them: "
                f"{_shown(failures, 3)}"), [filepath, upload_key])
        if missing is not None:
            hint = " (a folder needs its trailing '/': without it the last part is read as a file)" if (
                single and "." not in source.split("/")[-1]) else ""
            _record("pullImage", "missing-returns-false", (
                f"no object {missing}: pullImage stopped there and returned False{hint}"),
                [filepath, upload_key])
            return False  # what the platform's module returns here
        return None

    def down(self, **kwargs: Any) -> None:
        """The platform's download helper of pullImage: ``s3WightKey`` (truthy), ``filename``, ``key``."""
        if kwargs.get("s3WightKey"):
            key, filename = kwargs.get("key"), kwargs.get("filename")
            try:
                self.s3.download_file(Filename=filename, Key=key, Bucket=self.bucketName)
            except Exception:
                raise AiUtilsError(f"Not get img: {key} ") from None

    # -- platform-only parts --------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _PLATFORM_ONLY:
            raise NotInKitError(_PLATFORM_ONLY[name])
        raise NotInKitError(
            f"aiUtils.s3GetImg has no attribute {name!r} in the pie-conformance kit "
            "(available: path, bucketName, s3, getImages, getImgXmlArray, downS3Weight, pullImage, "
            "getFileList, getObjectSize, getS3Params, down)"
        )

    # -- helpers ---------------------------------------------------------------------------------
    def _images(self, datasetPath: str, is_xml: bool) -> list[str]:  # noqa: N803
        """The platform's getImages without the events (pullImage calls it as the platform's does)."""
        keys = _platform_choice(self._list(_key_of(datasetPath)), is_xml)
        if not keys:
            raise AiUtilsError("Found 0 images in subfolders of: " + datasetPath + "\n")
        return keys

    def _check_pulled(self, items: list[str], base: str, filepath: str, upload_key: str | None) -> None:
        """Events for keys the platform's pullImage fetches from beside the dataset or puts in odd folders."""
        outside = [k for k in items if not k.startswith((base + "train/", base + "valid/"))]
        if outside:
            _record("pullImage", "sibling-prefix", (
                f"pulled {len(outside)} key(s) from beside train/ and valid/ (the platform lists the "
                f"prefixes 'train' and 'valid' without a trailing '/'): {_shown(outside)}"),
                [filepath, upload_key])
        moved = []
        for key in items:
            if key.split("/")[-1].split(".")[-1] == "" or key in outside:
                continue
            try:
                folder = _platform_subfolder(key)
            except (IndexError, ValueError):
                continue
            expected = key[len(base):].rsplit("/", 1)[0] + "/"
            if folder != expected:
                moved.append(f"{key} -> {folder or './'}")
        if moved:
            _record("pullImage", "flattened-path", (
                f"{len(moved)} file(s) land in another folder than their key's, as the platform's path "
                f"arithmetic puts them: {_shown(moved, 3)}"), [filepath, upload_key])

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
            if _is_missing(exc) or _is_invalid(exc):
                return False
            raise self._wrap(exc, f"looking up {key}") from None

    def _reversed(self, first: str, second: str) -> bool:
        """Whether (first, second) reads as (key, local path): the order of the guide's bullet list."""
        if first.startswith("s3://") or self._exists(_strip_s3(first)):
            return True  # the first argument names an object
        second_is_local = (
            os.path.isabs(second) or second.startswith(("./", "../", "~")) or os.path.exists(second)
        )
        if not second_is_local or os.path.isabs(first):
            return False
        # A relative first argument whose folder does not exist here: a key, not a local path.
        return not os.path.isdir(os.path.dirname(first) or ".")

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


def _is_invalid(exc: BaseException) -> bool:
    # A key boto3 refuses before sending (the platform's bare except turns it into "no such object").
    from botocore.exceptions import ParamValidationError

    return isinstance(exc, ParamValidationError)


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
