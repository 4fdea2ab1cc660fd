"""Every method of the compatible aiUtils, from a separate process, against the mock S3."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from shim_support import WEIGHTS_PREFIX, ScriptRunner, last_json

from pie_conformance.datasets import Dataset
from pie_conformance.s3 import BUCKET, DatasetStore, MockS3Server


def test_every_method(
    run_script: ScriptRunner, datasets: dict[str, Dataset], s3_server: MockS3Server, tmp_path: Path
) -> None:
    ds = datasets["segmentation"]
    store = DatasetStore(s3_server.endpoint_url)
    store.put_object(WEIGHTS_PREFIX + "linknet34.th", b"weights")
    s3_server.clear_requests()
    code = f"""
        import json, os
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        out = {{"path": c.path, "bucket": c.bucketName, "has_client": hasattr(c.s3, "get_object")}}
        prefix = "/".join(c.path.split("/")[3:])
        out["images"] = c.getImages(prefix + "train/images")
        out["images_url"] = c.getImages(c.path + "train/images")
        out["all"] = c.getImages(prefix)
        out["body"] = c.getImgXmlArray(out["images"][0]).hex()
        out["body_url"] = c.getImgXmlArray(c.path + "valid/labels/00004.png").hex()
        out["size"] = c.getObjectSize(out["images"][0])
        out["files"] = c.getFileList(prefix + "valid/")
        out["weights"] = c.downS3Weight(os.getcwd() + "/linknet34.th", "s3://{BUCKET}/{WEIGHTS_PREFIX}linknet34.th")
        out["weights_bytes"] = open("linknet34.th", "rb").read().decode()
        out["no_weights"] = c.downS3Weight(os.getcwd() + "/other.th", "{WEIGHTS_PREFIX}other.th")
        out["pull_returned"] = repr(c.pullImage("pulled"))
        out["pulled"] = sorted(os.path.relpath(os.path.join(d, f), "pulled")
                               for d, _, files in os.walk("pulled") for f in files)
        print(json.dumps(out))
    """
    result = run_script(code)
    got = last_json(result)
    assert got["path"] == f"s3://{BUCKET}/{ds.prefix}" and got["bucket"] == BUCKET and got["has_client"]
    assert got["images"] == [ds.prefix + k for k in ds.keys("train", "images")]
    assert got["images_url"] == got["images"]
    assert got["all"] == sorted(ds.prefix + k for k in ds.files)  # images and PNG labels: all images
    assert bytes.fromhex(got["body"]) == ds.files["train/images/00000.png"]
    assert bytes.fromhex(got["body_url"]) == ds.files["valid/labels/00004.png"]
    assert got["size"] == len(ds.files["train/images/00000.png"])
    # The platform's getObjectSize prints the bucket and the key before it answers.
    assert result.stdout.splitlines()[:2] == [BUCKET, ds.prefix + "train/images/00000.png"]
    assert got["files"] == [ds.prefix + k for k in ds.files if k.startswith("valid/")]
    assert got["weights"] is True and got["weights_bytes"] == "weights"
    assert got["no_weights"] is False
    assert got["pull_returned"] == "None"  # as the platform's pullImage
    assert got["pulled"] == sorted(ds.files)
    for key in ds.files:
        assert (tmp_path / "pulled" / key).read_bytes() == ds.files[key]
    reads = {r.key for r in s3_server.requests() if r.op == "GET" and r.ok}
    assert ds.prefix + "train/images/00000.png" in reads and ds.prefix + "valid/labels/00004.png" in reads
    assert not [r for r in s3_server.requests() if r.is_write]


def test_is_xml_adds_the_annotations(run_script: ScriptRunner, datasets: dict[str, Dataset]) -> None:
    ds = datasets["detection"]
    code = """
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        xml = c.getImages(c.path + "train/labels", is_xml=True)
        print(json.dumps([xml, c.getImages(c.path + "train", True)]))
    """
    xml, both = last_json(run_script(code, dataset="detection"))
    assert xml == [ds.prefix + k for k in ds.keys("train", "labels")]
    assert both == sorted(ds.prefix + k for k in ds.files if k.startswith("train/"))


def test_dataset_id_argument_and_ai_dataset_id(
    run_script: ScriptRunner, datasets: dict[str, Dataset]
) -> None:
    change = datasets["change_detection"]
    code = f"""
        import json, os
        from aiUtils import aiUtils
        print(json.dumps([aiUtils.s3GetImg().path, aiUtils.s3GetImg("{change.dataset_id}").path,
                          aiUtils.s3GetImg(datasetId="{change.dataset_id}").datasetId]))
    """
    default, explicit, by_keyword = last_json(run_script(code, dataset="segmentation"))
    assert default == f"s3://{BUCKET}/{datasets['segmentation'].prefix}"
    assert explicit == f"s3://{BUCKET}/{change.prefix}" and by_keyword == change.dataset_id


def test_paging_past_1000_keys(run_script: ScriptRunner, s3_server: MockS3Server) -> None:
    prefix = "devel/kit/dataset/segmentation/paging/train/images/"
    keys = [f"{prefix}{i:05d}.png" for i in range(1003)] + [prefix + "UPPER.PNG", prefix + "scan.JPEG"]
    store = DatasetStore(s3_server.endpoint_url)
    store.put_objects({k: b"x" for k in keys} | {prefix + "notes.txt": b"n", prefix + "a.png.bak": b"b"})
    s3_server.clear_requests()
    code = f"""
        import json
        from aiUtils import aiUtils
        print(json.dumps(aiUtils.s3GetImg().getImages("{prefix}")))
    """
    # As the platform: '.PNG' and '.JPEG' are left out (case-sensitive), 'a.png.bak' is kept (a substring).
    assert last_json(run_script(code)) == sorted(keys[:1003] + [prefix + "a.png.bak"])
    assert sum(1 for r in s3_server.requests() if r.op == "LIST") >= 2  # more than one page was read


BAD_INPUT = """
    import json, os, sys
    from aiUtils import aiUtils
    out = {}
    def attempt(name, fn):
        try:
            out[name] = ["returned", repr(fn())]
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc), isinstance(exc, RuntimeError)]
    c = aiUtils.s3GetImg()
    attempt("unknown_id", lambda: aiUtils.s3GetImg("no-such-dataset"))
    attempt("missing_key", lambda: c.getImgXmlArray(c.path + "train/images/nope.png"))
    attempt("missing_size", lambda: c.getObjectSize("devel/none.png"))
    attempt("empty_prefix", lambda: c.getImages("devel/kit/dataset/segmentation/nothing-here/"))
    attempt("empty_files", lambda: c.getFileList("devel/nothing/"))
    key = "/".join(c.path.split("/")[3:]) + "train/images/00000.png"
    attempt("reversed", lambda: c.downS3Weight(key, os.getcwd() + "/w.th"))
    attempt("no_folder", lambda: c.downS3Weight(os.getcwd() + "/missing/w.th", key))
    attempt("reversed_url", lambda: c.downS3Weight("s3://pie-engine-ai/devel/x/m.th", os.getcwd() + "/w.th"))
    attempt("gdal", lambda: c.gdal)
    attempt("module_gdal", lambda: aiUtils.gdal)
    attempt("unknown_method", lambda: c.uploadResult("x"))
    attempt("has_gdal", lambda: hasattr(c, "gdal"))
    del os.environ["AI_DATASET_ID"]
    attempt("no_id", lambda: aiUtils.s3GetImg())
    print(json.dumps(out))
"""


def test_bad_input_gives_clear_errors(run_script: ScriptRunner, tmp_path: Path) -> None:
    got = last_json(run_script(BAD_INPUT))
    assert got["unknown_id"][0] == "AiUtilsError" and "'no-such-dataset'" in got["unknown_id"][1]
    assert got["unknown_id"][2] is True  # a RuntimeError, as the platform raises
    assert "train/images/nope.png" in got["missing_key"][1] and got["missing_key"][2]
    assert "devel/none.png" in got["missing_size"][1]
    assert "Found 0 images" in got["empty_prefix"][1] and "nothing-here" in got["empty_prefix"][1]
    assert "devel/nothing/" in got["empty_files"][1]
    for name in ("reversed", "reversed_url"):
        assert got[name] == ["returned", "False"], got[name]  # as the platform: no such key, so False
    assert not (tmp_path / "w.th").exists()
    assert "does not exist" in got["no_folder"][1] and not (tmp_path / "missing").exists()
    for name in ("gdal", "module_gdal"):
        assert got[name][0] == "NotInKitError" and "not available in the pie-conformance kit" in got[name][1]
    assert "uploadResult" in got["unknown_method"][1]
    assert got["has_gdal"] == ["returned", "False"]
    assert "AI_DATASET_ID is not set" in got["no_id"][1]


def test_an_endpoint_that_is_down_fails_fast_and_clearly(run_script: ScriptRunner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = """
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        out = []
        calls = (lambda: c.getImgXmlArray("k.png"), lambda: c.getImages("p/"),
                 lambda: c.downS3Weight("/tmp/x", "k"))
        for fn in calls:
            try:
                fn()
                out.append("no error")
            except RuntimeError as exc:
                out.append(str(exc))
        print(json.dumps(out))
    """
    # The child's timeout guards against a hang; the shim's short connect timeout makes it quick.
    messages = last_json(run_script(code, endpoint=f"http://127.0.0.1:{port}", timeout=60))
    assert all(f"cannot reach the S3 endpoint http://127.0.0.1:{port}" in m for m in messages), messages


def test_boto3_only_path_gives_the_same_answers(
    run_script: ScriptRunner, datasets: dict[str, Dataset]
) -> None:
    ds = datasets["segmentation"]
    code = """
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        out = [c.getImgXmlArray(c.path + "train/images/00000.png").hex()]
        try:
            c.getImgXmlArray(c.path + "missing.png")
        except RuntimeError as exc:
            out.append(str(exc))
        print(json.dumps(out))
    """
    body, missing = last_json(run_script(code, env={"PIE_AIUTILS_FAST": "0"}))
    assert bytes.fromhex(body) == ds.files["train/images/00000.png"] and "missing.png" in missing


def test_never_reads_the_users_aws_configuration(run_script: ScriptRunner, tmp_path: Path) -> None:
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = eu-west-1\nendpoint_url = http://10.255.255.1:9\n")
    (aws / "credentials").write_text("[default]\naws_access_key_id = REAL\naws_secret_access_key = SECRET\n")
    code = """
        import json
        from aiUtils import aiUtils
        c = aiUtils.s3GetImg()
        creds = c.s3._request_signer._credentials
        print(json.dumps([creds.access_key, c.s3.meta.endpoint_url, len(c.getImages(c.path))]))
    """
    env = {
        "AWS_PROFILE": "nosuchprofile",
        "AWS_CONFIG_FILE": str(aws / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws / "credentials"),
    }
    key, endpoint, count = last_json(run_script(code, env=env))
    assert key == "pie-kit-access-key" and endpoint.startswith("http://127.0.0.1:") and count > 0


def test_registry_from_a_file(run_script: ScriptRunner, datasets: dict[str, Dataset], tmp_path: Path) -> None:
    ds = datasets["detection"]
    registry = tmp_path / "registry.json"
    registry.write_text(f'{{"{ds.dataset_id}": "s3://{BUCKET}/{ds.prefix}"}}')
    code = """
        import json
        from aiUtils import aiUtils
        print(json.dumps(aiUtils.s3GetImg().path))
    """
    env = {
        "PIE_DATASET_REGISTRY": "",
        "PIE_DATASET_REGISTRY_FILE": str(registry),
        "AI_DATASET_ID": ds.dataset_id,
    }
    assert last_json(run_script(code, env=env)) == f"s3://{BUCKET}/{ds.prefix}"


@pytest.mark.parametrize("missing", ["PIE_S3_ENDPOINT_URL", "PIE_DATASET_REGISTRY"])
def test_missing_environment_says_how_to_set_it(run_script: ScriptRunner, missing: str) -> None:
    code = """
        import json
        from aiUtils import aiUtils
        try:
            aiUtils.s3GetImg()
        except RuntimeError as exc:
            print(json.dumps(str(exc)))
    """
    message = last_json(run_script(code, env={missing: ""}))
    assert "pie-check serve" in message or "unknown dataset id" in message


def test_direct_reads_are_signed_as_botocore_signs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The direct path may meet a server that checks signatures (MinIO on 127.0.0.1): it must sign as boto3.
    import datetime
    import importlib.util

    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    from pie_conformance.s3 import AIUTILS_PATH

    spec = importlib.util.spec_from_file_location(
        "_shim_signing", Path(AIUTILS_PATH) / "aiUtils" / "aiUtils.py"
    )
    assert spec is not None and spec.loader is not None
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    fixed = datetime.datetime(2024, 5, 1, 12, 30, 5, tzinfo=datetime.timezone.utc)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)
    path = "/pie-engine-ai/devel/kit/dataset/segmentation/x/train/images/a%20b%2B%E5%9B%BE.png"
    request = AWSRequest(method="GET", url=f"https://127.0.0.1:9000{path}")
    # The direct path sends UNSIGNED-PAYLOAD (S3 allows it for any request); ask botocore for the same.
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    botocore.auth.S3SigV4Auth(Credentials("AKID", "SECRET"), "s3", "us-east-1").add_auth(request)
    mine = shim._sign_v4("GET", "127.0.0.1:9000", path, "AKID", "SECRET", now=fixed)
    assert mine["x-amz-date"] == request.headers["X-Amz-Date"]
    assert mine["Authorization"] == request.headers["Authorization"]
