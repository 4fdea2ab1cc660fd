"""DatasetStore and aiutils_env: upload, fingerprints, the write guard, a dead endpoint, the environment."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import pytest
import tomllib

from pie_conformance.datasets import DatasetSpec, generate
from pie_conformance.errors import KitEnvironmentError, UsageError
from pie_conformance.s3 import AIUTILS_PATH, BUCKET, DatasetStore, MockS3Server, aiutils_env, registry_for
from pie_conformance.s3 import _env as env_module

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_upload_puts_every_file_under_the_prefix(server: MockS3Server) -> None:
    ds = generate(DatasetSpec("change_detection", train_images=3, valid_images=2, size=(32, 32)))
    store = DatasetStore(server.endpoint_url)
    store.upload(ds)
    fingerprint = store.fingerprint(ds.prefix)
    assert sorted(fingerprint) == sorted(ds.prefix + k for k in ds.files)
    puts = [r for r in server.requests() if r.op == "PUT"]
    assert sorted(r.key for r in puts) == sorted(fingerprint)
    assert all(r.bytes == len(ds.files[r.key[len(ds.prefix) :]]) for r in puts)
    assert store.get_object(ds.prefix + "train/A/00000.png") == ds.files["train/A/00000.png"]


def test_fingerprint_proves_a_dataset_unchanged_or_not(server: MockS3Server) -> None:
    ds = generate(DatasetSpec("segmentation", train_images=2, valid_images=1, size=(32, 32)))
    store = DatasetStore(server.endpoint_url)
    store.upload(ds)
    before = store.fingerprint(ds.prefix)
    store.get_object(ds.prefix + "train/images/00000.png")
    assert store.fingerprint(ds.prefix) == before
    store.put_object(ds.prefix + "train/images/00000.png", b"overwritten")
    after = store.fingerprint(ds.prefix)
    assert after != before and set(after) == set(before)
    store.put_object("devel/kit/model/1/linknet34.th", b"w")  # outside the prefix: not part of it
    assert store.fingerprint(ds.prefix) == after


def test_write_prefix_refuses_writes_elsewhere(server: MockS3Server) -> None:
    DatasetStore(server.endpoint_url).ensure_bucket()
    server.clear_requests()
    store = DatasetStore(server.endpoint_url, write_prefix="devel/kit/dataset/segmentation/x/")
    with pytest.raises(UsageError, match="writes only under 'devel/kit/dataset/segmentation/x/'"):
        store.put_object("devel/other/secret.th", b"1")
    with pytest.raises(UsageError):
        store.upload(generate(DatasetSpec("segmentation", train_images=1, valid_images=1)))
    assert [r for r in server.requests() if r.is_write] == []


def test_a_missing_bucket_is_not_created_on_a_foreign_endpoint(server: MockS3Server) -> None:
    store = DatasetStore(server.endpoint_url, write_prefix="p/")
    with pytest.raises(UsageError, match="does not exist"):
        store.ensure_bucket()


def test_an_endpoint_that_is_down_is_a_clear_error() -> None:
    store = DatasetStore(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(KitEnvironmentError, match="S3 endpoint http://127.0.0.1:"):
        store.fingerprint("x/")


def test_aiutils_env_points_everything_at_the_endpoint(tmp_path: Path) -> None:
    ds = generate(DatasetSpec("detection", train_images=1, valid_images=1))
    env = aiutils_env("http://127.0.0.1:1234", registry_for(ds), ds.dataset_id)
    assert env["AI_DATASET_ID"] == ds.dataset_id
    assert env["PIE_S3_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:1234"
    assert json.loads(env["PIE_DATASET_REGISTRY"]) == {ds.dataset_id: ds.prefix}
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert env["PIE_S3_BUCKET"] == BUCKET
    assert env["PYTHONPATH"].split(os.pathsep)[0] == AIUTILS_PATH
    assert "AI_DATASET_ID" not in aiutils_env("http://x", {})
    in_file = aiutils_env("http://x", {"a": "p/"}, registry_file=str(tmp_path / "reg.json"))
    assert "PIE_DATASET_REGISTRY" not in in_file
    assert json.loads(Path(in_file["PIE_DATASET_REGISTRY_FILE"]).read_text()) == {"a": "p/"}


def test_the_shim_is_a_top_level_aiutils_package_reading_the_same_names() -> None:
    module_file = Path(AIUTILS_PATH) / "aiUtils" / "aiUtils.py"
    assert (Path(AIUTILS_PATH) / "aiUtils" / "__init__.py").is_file() and module_file.is_file()
    assert not (Path(AIUTILS_PATH) / "__init__.py").exists()  # not a subpackage of the kit
    spec = importlib.util.spec_from_file_location("_shim_under_test", module_file)
    assert spec is not None and spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    for name in (
        "ENDPOINT_VAR",
        "ACCESS_KEY_VAR",
        "SECRET_KEY_VAR",
        "BUCKET_VAR",
        "REGISTRY_VAR",
        "REGISTRY_FILE_VAR",
        "DATASET_ID_VAR",
    ):
        assert getattr(shim, name) == getattr(env_module, name)
    source = module_file.read_text(encoding="utf-8")
    assert "pie_conformance" not in source.replace("pie_conformance/s3/_env.py", "")


def test_the_wheel_ships_the_shim() -> None:
    # The package-data globs of pyproject.toml must match the shim's modules.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["pie_conformance"]
    package = ROOT / "pie_conformance"
    shipped = {p.relative_to(package).as_posix() for g in globs for p in package.glob(g)}
    assert {"aiutils_shim/aiUtils/__init__.py", "aiutils_shim/aiUtils/aiUtils.py"} <= shipped
