"""Package data: real files (no symlinks), equal to the top-level folders they are copied from."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _sync_tool() -> object:
    path = ROOT / "tools" / "sync_package_data.py"
    spec = importlib.util.spec_from_file_location("sync_package_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_copies_equal_the_top_level_folders() -> None:
    found = _sync_tool().differences(ROOT)  # type: ignore[attr-defined]
    assert not found, (
        "pie_conformance/_schemas or _reference differ from schemas/ or reference_scripts/ (the source of "
        "truth); run `python tools/sync_package_data.py`:\n  " + "\n  ".join(found)
    )


def test_the_copies_cover_every_schema_and_reference_script() -> None:
    # differences() compares the patterns it knows; this guards against a pattern that misses a file.
    for source, copy in (("schemas", "_schemas"), ("reference_scripts", "_reference")):
        wanted = {
            p.relative_to(ROOT / source).as_posix()
            for p in (ROOT / source).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert wanted, f"{source}/ is empty"
        for name in wanted:
            copied = ROOT / "pie_conformance" / copy / name
            assert copied.is_file(), f"pie_conformance/{copy}/{name} missing"


def test_sync_tool_repairs_a_stale_copy(tmp_path: Path) -> None:
    tool = _sync_tool()
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "x.schema.json").write_text("{}\n")
    (tmp_path / "reference_scripts" / "seg").mkdir(parents=True)
    (tmp_path / "reference_scripts" / "seg" / "train.py").write_text("print(1)\n")
    (tmp_path / "pie_conformance" / "_reference" / "old").mkdir(parents=True)
    (tmp_path / "pie_conformance" / "_reference" / "old" / "train.py").write_text("stale\n")
    assert tool.differences(tmp_path) == [  # type: ignore[attr-defined]
        "pie_conformance/_schemas/x.schema.json: missing (copy of schemas/x.schema.json)",
        "pie_conformance/_reference/seg/train.py: missing (copy of reference_scripts/seg/train.py)",
        "pie_conformance/_reference/old/train.py: no reference_scripts/old/train.py to copy",
    ]
    tool.sync(tmp_path)  # type: ignore[attr-defined]
    assert tool.differences(tmp_path) == []  # type: ignore[attr-defined]
    assert not (tmp_path / "pie_conformance" / "_reference" / "old").exists()


def test_nothing_the_wheel_or_sdist_takes_is_a_symlink() -> None:
    # A symlink becomes a small text file in a checkout without symlink support (Windows, core.symlinks
    # false), and the wheel built there would ship that text instead of the data. (Test scripts under
    # tests/cases may share files through symlinks: they are not packaged.)
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s", "--", "pie_conformance", "schemas", "reference_scripts",
         "pyproject.toml", "README.md"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "pie_conformance/cli.py" in listed
    links = [line.split("\t", 1)[1] for line in listed.splitlines() if line.startswith("120000 ")]
    assert links == [], f"symlinks tracked by git: {links}"
