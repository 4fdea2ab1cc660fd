"""``pie-check serve``: a mock with a dataset, export lines that work in another process, a clean stop."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pie_conformance.cli import main
from pie_conformance.datasets import DatasetSpec, generate
from pie_conformance.s3 import AIUTILS_PATH, BUCKET, DatasetStore, MockS3Server

READ_ONE = """
from aiUtils import aiUtils
c = aiUtils.s3GetImg()
keys = c.getImages(c.path + "train/images")
print(len(keys), len(c.getImgXmlArray(keys[0])))
"""


def _parse_exports(lines: list[str]) -> dict[str, str]:
    env = {}
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            if name == "PYTHONPATH":
                value = value.split("${")[0]
            env[name] = shlex.split(value)[0]
    return env


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pie_conformance",
            "serve",
            "--task",
            "segmentation",
            "--images",
            "3",
            "--env-file",
            str(tmp_path / "env.sh"),
            "--traincfg",
            str(tmp_path / "traincfg.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("# serving on"):
            break
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_prints_exports_that_work_in_another_shell_and_stops_on_sigterm(
    serving: tuple[subprocess.Popen[str], list[str]], tmp_path: Path
) -> None:
    proc, lines = serving
    assert lines[-1].startswith("# serving on http://127.0.0.1:"), lines
    env = _parse_exports(lines)
    assert env["PYTHONPATH"] == AIUTILS_PATH and env["AI_DATASET_ID"]
    assert {"PIE_S3_ENDPOINT_URL", "PIE_S3_ACCESS_KEY_ID", "PIE_S3_SECRET_ACCESS_KEY"} <= set(env)
    assert (tmp_path / "env.sh").read_text(encoding="utf-8").splitlines() == [
        line for line in lines if line.startswith("export ")
    ]
    assert '"dataset_id": "' + env["AI_DATASET_ID"] in (tmp_path / "traincfg.json").read_text(
        encoding="utf-8"
    )
    # The lines, sourced by a real shell, let a plain python in another process read the dataset.
    env_file, python = shlex.quote(str(tmp_path / "env.sh")), shlex.quote(sys.executable)
    shell = f". {env_file} && exec {python} -c {shlex.quote(READ_ONE)}"
    child = subprocess.run(
        ["sh", "-c", shell],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split()[0] == "3" and int(child.stdout.split()[1]) > 0
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "# stopped: served" in rest and "object reads" in rest


def test_serve_on_sigint_also_stops_cleanly(serving: tuple[subprocess.Popen[str], list[str]]) -> None:
    proc, _ = serving
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "# stopped: served" in rest


def _read_through_exports(lines: list[str]) -> None:
    env = dict(os.environ, **_parse_exports(lines))
    env["PYTHONPATH"] = AIUTILS_PATH
    done = subprocess.run(
        [sys.executable, "-c", READ_ONE], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr


def test_ctrl_c_in_a_terminal_stops_cleanly_with_the_request_count(tmp_path: Path) -> None:
    # A terminal's Ctrl-C sends SIGINT to every process of the foreground group: serve and its mock child.
    # serve leads a session of its own here, as a shell's foreground job leads its group.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pie_conformance", "serve", "--task", "segmentation", "--images", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("# serving on"):
                break
        assert lines and lines[-1].startswith("# serving on"), lines
        _read_through_exports(lines)
        os.killpg(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "internal error" not in err and "Traceback" not in err, err
    stopped = [line for line in rest.splitlines() if line.startswith("# stopped: served ")]
    assert stopped, rest
    served = int(stopped[0].split()[3])
    assert served >= 2, stopped  # the reader above listed the images and read one of them


def test_serve_a_broken_folder_names_the_offending_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = generate(DatasetSpec("segmentation", train_images=2, valid_images=1, size=(32, 32)))
    root = ds.write_to_dir(tmp_path / "ds")
    (root / "train/labels/00001.png").unlink()
    assert main(["serve", "--task", "segmentation", "--dir", str(root)]) == 2
    assert "train/images/00001.png: no label (expected train/labels/00001.png)" in capsys.readouterr().err


def test_external_endpoint_gets_writes_only_under_the_dataset_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with MockS3Server() as other:  # stands in for a MinIO server or a real bucket
        DatasetStore(other.endpoint_url).ensure_bucket()
        other.clear_requests()
        monkeypatch.setenv("PIE_S3_ACCESS_KEY_ID", "minio-user")
        monkeypatch.setenv("PIE_S3_SECRET_ACCESS_KEY", "minio-secret")
        args = ["serve", "--task", "detection", "--images", "2", "--endpoint-url", other.endpoint_url]
        assert main(args + ["--traincfg", str(tmp_path / "cfg.json")]) == 0
        printed = capsys.readouterr().out
        env = _parse_exports(printed.splitlines())
        assert (
            env["PIE_S3_ACCESS_KEY_ID"] == "minio-user" and env["PIE_S3_ENDPOINT_URL"] == other.endpoint_url
        )
        prefix = f"devel/kit/dataset/recognition/{env['AI_DATASET_ID']}/"
        writes = [r for r in other.requests() if r.is_write]
        assert writes and all(r.bucket == BUCKET and r.key.startswith(prefix) for r in writes)
        other.clear_requests()
        # A dataset already there: nothing is written at all.
        again = ["serve", "--task", "detection", "--endpoint-url", other.endpoint_url, "--prefix", prefix]
        assert main(again + ["--dataset-id", "my-set"]) == 0
        assert "export AI_DATASET_ID=my-set" in capsys.readouterr().out
        assert [r for r in other.requests() if r.is_write] == []
        assert (
            main(["serve", "--task", "detection", "--endpoint-url", other.endpoint_url, "--prefix", "nope/"])
            == 2
        )
        assert "no objects under s3://pie-engine-ai/nope/" in capsys.readouterr().err


def test_external_endpoint_needs_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "PIE_S3_ACCESS_KEY_ID",
        "PIE_S3_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve", "--task", "detection", "--endpoint-url", "http://127.0.0.1:9"]) == 2
    assert "needs keys" in capsys.readouterr().err


def test_prefix_without_endpoint_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--task", "detection", "--prefix", "x/"]) == 2
    assert "--endpoint-url" in capsys.readouterr().err


def test_a_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--task", "segmentation", "--images", "1", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"did not start on 127.0.0.1:{port}" in err and "in use" in err


def test_max_object_size_reaches_the_mock(tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    from pie_conformance.s3 import make_client

    proc = subprocess.Popen(
        [sys.executable, "-m", "pie_conformance", "serve", "--task", "segmentation", "--images", "1",
         "--max-object-size", "1MiB"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("# serving on"):
                break
        env = _parse_exports(lines)
        keys = env["PIE_S3_ACCESS_KEY_ID"], env["PIE_S3_SECRET_ACCESS_KEY"]
        s3 = make_client(env["PIE_S3_ENDPOINT_URL"], *keys)
        with pytest.raises(ClientError, match="EntityTooLarge"):
            s3.put_object(Bucket=BUCKET, Key="big", Body=b"x" * (2 * 1024 * 1024))
        s3.put_object(Bucket=BUCKET, Key="fits", Body=b"x" * 1024)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-object-size", "lots"], "--max-object-size: expected a size"),
        (["--max-object-size", "1GiB", "--endpoint-url", "http://127.0.0.1:9"], "--endpoint-url has its own"),
    ],
)
def test_a_bad_max_object_size_is_a_usage_error(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--task", "segmentation", "--images", "1", *extra]) == 2
    assert message in capsys.readouterr().err
