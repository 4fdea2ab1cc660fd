"""The environment that points the compatible ``aiUtils`` at an endpoint, its keys and a dataset registry."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from pie_conformance.s3._store import BUCKET, THROWAWAY_ACCESS_KEY, THROWAWAY_SECRET_KEY

#: The folder to put on a script's PYTHONPATH so that ``from aiUtils import aiUtils`` finds the shim.
AIUTILS_PATH: str = str(Path(__file__).resolve().parent.parent / "aiutils_shim")

# The names the shim reads (aiutils_shim/aiUtils/aiUtils.py spells them too; a test keeps them equal).
ENDPOINT_VAR = "PIE_S3_ENDPOINT_URL"
ACCESS_KEY_VAR = "PIE_S3_ACCESS_KEY_ID"
SECRET_KEY_VAR = "PIE_S3_SECRET_ACCESS_KEY"
BUCKET_VAR = "PIE_S3_BUCKET"
REGISTRY_VAR = "PIE_DATASET_REGISTRY"
REGISTRY_FILE_VAR = "PIE_DATASET_REGISTRY_FILE"
DATASET_ID_VAR = "AI_DATASET_ID"
EVENTS_VAR = "PIE_AIUTILS_EVENTS"


def aiutils_env(
    endpoint_url: str,
    registry: Mapping[str, str],
    dataset_id: str | None = None,
    *,
    access_key: str = THROWAWAY_ACCESS_KEY,
    secret_key: str = THROWAWAY_SECRET_KEY,
    bucket: str = BUCKET,
    registry_file: str | None = None,
    events_file: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """Environment variables for a process (or ``os.environ``) in which the shim reaches ``endpoint_url``.

    ``registry`` maps dataset ids to key prefixes (``devel/<owner>/dataset/<kind>/<id>/``); it travels as JSON
    in PIE_DATASET_REGISTRY, or as the path ``registry_file`` (written here) when given. ``dataset_id``
    becomes AI_DATASET_ID, as in a platform notebook. The AWS variables point boto3 away from the user's own
    configuration and at the endpoint, so a script that uses boto3 directly meets the same mock.
    ``PYTHONPATH`` is the shim's folder followed by this process's PYTHONPATH, if any. ``events_file`` becomes
    PIE_AIUTILS_EVENTS: the shim appends a line there for each call where a quirk of the platform's module
    changed the answer (read them with ``pie_conformance.aiutils_events.read_events``).
    """
    prefixes = {str(k): str(v) for k, v in registry.items()}
    env = {
        ENDPOINT_VAR: endpoint_url,
        ACCESS_KEY_VAR: access_key,
        SECRET_KEY_VAR: secret_key,
        BUCKET_VAR: bucket,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": os.pathsep.join(p for p in (AIUTILS_PATH, os.environ.get("PYTHONPATH", "")) if p),
    }
    if registry_file is not None:
        Path(registry_file).write_text(json.dumps(prefixes, indent=2), encoding="utf-8")
        env[REGISTRY_FILE_VAR] = str(Path(registry_file).resolve())
    else:
        env[REGISTRY_VAR] = json.dumps(prefixes, separators=(",", ":"))
    if dataset_id is not None:
        env[DATASET_ID_VAR] = dataset_id
    if events_file is not None:
        env[EVENTS_VAR] = str(Path(events_file).resolve())
    return env
