"""Crash diagnostics on real tracebacks: small scripts run in a subprocess, their stderr parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pie_conformance
from pie_conformance.crash import Crash, crash_hint, parse_crash
from pie_conformance.rules import evaluate
from pie_conformance.sources import read_sources

GUARD_DIR = Path(pie_conformance.__file__).parent / "harness" / "_guard"

TRAINCFG = {
    "training_id": "t1",
    "dataset_id": "d1",
    "resume_path": "",
    "class_name": "background,road",
    "label": json.dumps(
        [
            {"class_name": "background", "class_value": 0, "class_title": "bg", "class_color": "0,0,0"},
            {"class_name": "road", "class_value": 255, "class_title": "road", "class_color": "255,255,255"},
        ]
    ),
    "n_class": "1",
    "load_size": "64,64",
    "model_name": "m",
    "learning_rate": 0.01,
    "epochs": 2,
    "batch_size": 2,
    "auto_termination": 0,
    "gpu_num": 0,
}


def run(folder: Path, files: dict[str, str], *, guard: bool = False) -> str:
    """Run ``train.py`` of ``files`` in ``folder`` (with traincfg.json) and return its stderr."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, code in files.items():
        (folder / name).write_text(textwrap.dedent(code), encoding="utf-8")
    (folder / "traincfg.json").write_text(json.dumps(TRAINCFG), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIE_GUARD", "PYTHON"))}
    if guard:
        # The kit's sandbox guard, as a checked run has it: its frames then sit in the traceback.
        env.update(
            PYTHONPATH=str(GUARD_DIR),
            PIE_GUARD_ROOT=str(folder),
            PIE_GUARD_ALLOW="",
            PIE_GUARD_LOG=str(folder / "guard.log"),
        )
    proc = subprocess.run(
        [sys.executable, "train.py"],
        cwd=folder,
        env=env,
        input=json.dumps(TRAINCFG) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def crash_of(tmp_path: Path, files: dict[str, str], **kw: bool) -> Crash:
    stderr = run(tmp_path, files, **kw)
    crash = parse_crash(stderr, tmp_path)
    assert crash is not None, stderr
    return crash


def test_key_error_on_a_config_key_names_the_platform_key(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path,
        {
            "train.py": """\
        import json

        def load():
            with open("traincfg.json") as f:
                cfg = json.load(f)
            return int(cfg["nc"])

        nc = load()
        """
        },
    )
    assert (crash.type, crash.message) == ("KeyError", "'nc'")
    assert crash.frame is not None and (crash.frame.where, crash.frame.function) == ("train.py:6", "load")
    assert crash.frame.source == 'return int(cfg["nc"])'
    assert crash.summary() == "KeyError: 'nc' at train.py:6 in load (`return int(cfg[\"nc\"])`)"
    hint = crash_hint(crash) or ""
    assert "'n_class'" in hint and "traincfg.json" in hint


def test_attribute_error_on_a_namespace_names_the_platform_key(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path,
        {
            "train.py": """\
        import argparse, json
        opt = argparse.Namespace(**json.loads(input()))
        lr = opt.lr
        """
        },
    )
    assert crash.name == "AttributeError" and crash.frame is not None and crash.frame.line == 3
    assert "'learning_rate'" in (crash_hint(crash) or "")


def test_file_not_found_config_with_the_guard_frames_removed(tmp_path: Path) -> None:
    stderr = run(
        tmp_path, {"train.py": 'import json\ncfg = json.load(open("../traincfg_new.json"))\n'}, guard=True
    )
    assert "guarded_open" in stderr  # the kit's own frame is in what the script printed
    crash = parse_crash(stderr, tmp_path)
    assert crash is not None and crash.name == "FileNotFoundError"
    assert "guarded_open" not in crash.traceback and "sitecustomize" not in crash.traceback
    assert [f.where for f in crash.frames] == ["train.py:2"]
    hint = crash_hint(crash) or ""
    assert "traincfg.json" in hint and "standard input" in hint


def test_file_not_found_data_says_where_data_comes_from(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path, {"train.py": 'img = open("data/train/images/0.png", "rb").read()\n'}, guard=True
    )
    assert "aiUtils" in (crash_hint(crash) or "")


def test_name_error_on_a_name_the_guide_leaves_undefined(tmp_path: Path) -> None:
    crash = crash_of(tmp_path, {"train.py": 'train_path = dataset_path + "train/"\n'})
    assert crash.name == "NameError" and crash.frame is not None and crash.frame.line == 1
    assert "s3GetImg" in (crash_hint(crash) or "") and ".path" in (crash_hint(crash) or "")


def test_class_count_index_error_in_the_scripts_own_module(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path,
        {
            "train.py": "import loss\nloss.criterion([0, 3])\n",
            "loss.py": """\
            def criterion(targets, n_classes=2):
                for t in targets:
                    if not 0 <= t < n_classes:
                        raise IndexError(f"Target {t} is out of bounds.")
            """,
        },
    )
    assert crash.frame is not None and crash.frame.where == "loss.py:4"
    hint = crash_hint(crash, TRAINCFG) or ""
    assert "n_class counts the classes without background" in hint
    assert "n_class 1, 2 labels, class_value 0, 255" in hint


@pytest.mark.slow
def test_class_count_from_a_real_cross_entropy(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path,
        {
            "train.py": """\
        import torch
        import torch.nn.functional as F
        n_class = 1  # int(params["n_class"]): background left out
        logits = torch.zeros(2, n_class)
        loss = F.cross_entropy(logits, torch.tensor([0, 1]))
        """
        },
    )
    assert crash.frame is not None and crash.frame.line == 5
    assert "out of bounds" in crash.message
    assert "n_class counts the classes without background" in (crash_hint(crash, TRAINCFG) or "")


def test_chained_exception_is_told_by_its_last_and_hinted_by_its_cause(tmp_path: Path) -> None:
    crash = crash_of(
        tmp_path,
        {
            "train.py": """\
        import json
        params = json.loads(input())
        try:
            epochs = int(params["num_epochs"])
        except KeyError:
            raise RuntimeError("the config is incomplete")
        """
        },
    )
    assert (crash.type, crash.message) == ("RuntimeError", "the config is incomplete")
    assert crash.chain == (("KeyError", "'num_epochs'"),)
    assert crash.frame is not None and crash.frame.line == 6
    assert "During handling of the above exception" in crash.traceback
    assert "'epochs'" in (crash_hint(crash) or "")


def test_syntax_error_traceback(tmp_path: Path) -> None:
    crash = crash_of(tmp_path, {"train.py": "import os\nprint('start'\nx = 1\n"})
    assert crash.name == "SyntaxError" and not crash.truncated
    assert crash.frame is not None and crash.frame.relpath == "train.py" and crash.frame.line in (2, 3)
    assert crash_hint(crash) is None


def test_module_the_script_installs_at_run_time(tmp_path: Path) -> None:
    files = {
        "train.py": """\
        import subprocess, sys

        def setup():  # never called here: the test must not run pip
            subprocess.check_call([sys.executable, "-m", "pip", "install", "pie_check_absent_pkg"])

        import pie_check_absent_pkg
        """
    }
    crash = crash_of(tmp_path, files)
    assert crash.name == "ModuleNotFoundError"
    installed = crash_hint(crash, sources=read_sources(tmp_path)) or ""
    assert "installs 'pie_check_absent_pkg' at run time" in installed and "no internet" in installed
    plain = crash_hint(crash) or ""
    assert "no internet" in plain and "installs" not in plain


def test_download_refused_before_any_packet_leaves(tmp_path: Path) -> None:
    # The guard refuses the name lookup, so not even a DNS query leaves the machine.
    crash = crash_of(
        tmp_path,
        {
            "train.py": """\
        import urllib.request
        urllib.request.urlopen("https://download.pytorch.org/models/resnet18.pth", timeout=5)
        """
        },
        guard=True,
    )
    assert crash.name == "URLError" and "pie-check sandbox: no name resolution" in crash.message
    assert crash.frame is not None and crash.frame.where == "train.py:2"
    assert "sitecustomize" not in crash.traceback
    assert "no internet" in (crash_hint(crash) or "")
    log = (tmp_path / "guard.log").read_text(encoding="utf-8")
    assert '"kind": "resolve"' in log and "download.pytorch.org" in log and '"kind": "connect"' not in log


def test_truncated_traceback_and_inferred_script_folder(tmp_path: Path) -> None:
    stderr = run(tmp_path, {"train.py": "def f():\n    return {}['nc']\ndef g():\n    return f()\ng()\n"})
    full = parse_crash(stderr)  # no folder given: the outermost <module> frame's folder
    assert full is not None and full.frame is not None and full.frame.where == "train.py:2"
    cut = "\n".join(stderr.splitlines()[3:])  # the header and the outermost frame lost
    crash = parse_crash(cut, tmp_path)
    assert crash is not None and crash.truncated and crash.message == "'nc'"
    assert crash.frame is not None and crash.frame.where == "train.py:2"


def test_dataloader_worker_traceback_points_into_the_worker() -> None:
    stderr = textwrap.dedent("""\
        Traceback (most recent call last):
          File "/run/s/train.py", line 40, in <module>
            for img, mask in loader:
          File "/venv/lib/python3.11/site-packages/torch/utils/data/dataloader.py", line 1346, in _next_data
            return self._process_data(data)
        KeyError: Caught KeyError in DataLoader worker process 0.
        Original Traceback (most recent call last):
          File "/venv/site-packages/torch/utils/data/_utils/worker.py", line 308, in _worker_loop
            data = fetcher.fetch(index)
          File "/run/s/data.py", line 12, in __getitem__
            size = self.cfg["img_size"]
        KeyError: 'img_size'
        """)
    crash = parse_crash(stderr, "/run/s")
    assert crash is not None and (crash.type, crash.message) == ("KeyError", "'img_size'")
    assert crash.frame is not None and crash.frame.where == "data.py:12"
    assert "'load_size'" in (crash_hint(crash) or "")


def test_no_traceback_is_no_crash() -> None:
    assert parse_crash("") is None
    assert parse_crash("Killed\n") is None
    assert parse_crash("epoch 1 done\nloss 0.3\n") is None


def test_run001_says_what_raised_where(tmp_path: Path) -> None:
    from tests.rules._run_records import record

    stderr = run(
        tmp_path, {"train.py": "import json\ncfg = json.loads(input())\nnc = cfg['nc']\n"}, guard=True
    )
    (f,) = evaluate(["RUN001"], record(returncode=1, progress=(), stderr_tail=stderr, traincfg=TRAINCFG))
    assert f.message == (
        "expected exit status 0, got 1 before its first progress line: KeyError: 'nc' at train.py:3 "
        "(`nc = cfg['nc']`)"
    )
    assert (f.path, f.line, f.where) == ("train.py", 3, "train.py:3")
    assert "'n_class'" in (f.hint or "") and "KeyError: 'nc'" in (f.hint or "")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                [
                    "Traceback (most recent call last):",
                    '  File "/x/train.py", line 3, in <module>',
                    "    x = 1",
                    "    ^^^^",
                    "KeyError: 'nc'",
                    "ValueError",
                    "",
                    "During handling of the above exception, another exception occurred:",
                    '  File "<frozen runpy>", line 88, in _run_code',
                    "Original Traceback (most recent call last):",
                    'File "y.py", line',
                    "    ~~~^^^",
                    "RuntimeError: a\nb",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_any_stderr_gives_a_crash_or_none(lines: list[str]) -> None:
    crash = parse_crash("\n".join(lines), "/x")
    if crash is not None:
        assert crash.type and isinstance(crash.summary(), str)
        crash_hint(crash, TRAINCFG)
