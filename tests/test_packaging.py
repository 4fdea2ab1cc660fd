"""The wheel: it carries both schemas and the reference scripts, which the kit loads at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    # Build from a copy, so the checkout gets no build/ or egg-info from the test and runs cannot collide.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pie_conformance", "schemas", "reference_scripts"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (built,) = out.glob("*.whl")
    return built


def test_wheel_has_both_schemas(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for schema in ("traincfg", "trainlog"):
        assert f"pie_conformance/_schemas/{schema}.schema.json" in names
        shipped = zipfile.ZipFile(wheel).read(f"pie_conformance/_schemas/{schema}.schema.json")
        assert shipped == (ROOT / "schemas" / f"{schema}.schema.json").read_bytes()


def test_wheel_has_the_reference_tree(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"pie_conformance/_reference/{p.relative_to(ROOT / 'reference_scripts').as_posix()}"
        for p in (ROOT / "reference_scripts").glob("*/*")
        if p.suffix in (".py", ".md")
    }
    assert expected, "reference_scripts/ holds no scripts"
    assert expected <= names


def test_wheel_has_the_console_script_and_the_modules(wheel: Path) -> None:
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    for module in ("schemas", "traincfg", "trainlog", "validate", "strategies", "rules/cfg", "rules/log"):
        assert f"pie_conformance/{module}.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "pie-check = pie_conformance.cli:main" in zf.read(entry_points).decode()
