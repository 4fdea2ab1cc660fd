"""``pie-check lint PATH``: the SRC rules alone, exit statuses, formats, and a light start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pie_conformance.cli import main

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases" / "src"
REFERENCE = ROOT / "reference_scripts" / "detection"


def test_reference_script_is_clean_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pie-check lint: no finding in 6 files of ")
    assert "predicted from the sources without running them" in out


def test_a_finding_exits_1_with_file_line_rule_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(CASES / "SRC004" / "fail" / "train.py")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("train.py:6: SRC004 warning: 'D:\\\\datasets\\\\buildings' is a path with")
    assert out[1].startswith("    hint: use paths relative to the working directory")
    assert out[-1].startswith("pie-check lint: 1 warning in 1 file of ")


def test_json_is_the_report_with_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.py").write_text("import os\nout = os.getcwd() + 'output/'\n", encoding="utf-8")
    (tmp_path / "notebook_cell.py").write_text("!pip install timm\n", encoding="utf-8")
    assert main(["lint", str(tmp_path), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "source" and report["script"] == str(tmp_path) and report["conformant"] is True
    assert [(f["rule"], f["severity"], f["path"], f["line"]) for f in report["findings"]] == [
        ("SRC001", "warning", "train.py", None),
        ("SRC005", "warning", "train.py", 2),
        ("SRC006", "warning", "train.py", None),
    ]
    (unparsed,) = report["unparsed"]
    assert unparsed["path"] == "notebook_cell.py" and unparsed["line"] == 1 and "notebook" in unparsed["hint"]
    assert report["notes"][0].startswith("notebook_cell.py:1: does not parse")
    assert report["rules_checked"] == ["SRC001", "SRC002", "SRC003", "SRC004", "SRC005", "SRC006"]


def test_a_file_that_does_not_parse_alone_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train.py").write_text(
        "import json\nparams = json.loads(input())\nprint('[Process: 1/1]')\nimport helper\n",
        encoding="utf-8",
    )
    (tmp_path / "helper.py").write_text("def f(:\n", encoding="utf-8")
    assert main(["lint", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "note: helper.py:1: does not parse (SyntaxError:" in out and "no finding" in out


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(tmp_path / "missing")]) == 2
    assert "pie-check lint: error: no such file or folder" in capsys.readouterr().err
    assert main(["lint", str(tmp_path)]) == 2
    assert "no .py file to read" in capsys.readouterr().err


def test_missing_train_py_is_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "main.py").write_text("x = 1\n", encoding="utf-8")
    main(["lint", str(tmp_path)])
    assert "note: train.py: not in the folder; the platform runs `python train.py`" in capsys.readouterr().out


def test_lint_imports_neither_numpy_nor_torch_nor_moto() -> None:
    code = (
        "import sys\nfrom pie_conformance.cli import main\n"
        f"rc = main(['lint', {str(REFERENCE)!r}])\n"
        "heavy = [m for m in ('numpy', 'torch', 'moto', 'boto3', 'PIL', 'jsonschema') if m in sys.modules]\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY [] 0", out.stderr
