"""The mocked S3: a moto-backed server that records requests, dataset upload, and the ``aiUtils`` environment.

``MockS3Server`` serves on 127.0.0.1 (a child process; ``in_process=True`` for moto's ``mock_aws``),
``DatasetStore`` fills any S3-compatible endpoint, ``aiutils_env`` and ``AIUTILS_PATH`` let a script's
``from aiUtils import aiUtils`` reach it.
"""

from __future__ import annotations

from pie_conformance.s3._env import AIUTILS_PATH, aiutils_env
from pie_conformance.s3._mock import MockS3Server
from pie_conformance.s3._record import WRITE_OPS, S3Request
from pie_conformance.s3._store import (
    BUCKET,
    THROWAWAY_ACCESS_KEY,
    THROWAWAY_SECRET_KEY,
    DatasetStore,
    make_client,
    registry_for,
)

__all__ = [
    "AIUTILS_PATH",
    "BUCKET",
    "THROWAWAY_ACCESS_KEY",
    "THROWAWAY_SECRET_KEY",
    "WRITE_OPS",
    "DatasetStore",
    "MockS3Server",
    "S3Request",
    "aiutils_env",
    "make_client",
    "registry_for",
]
