"""The sdist and the wheel, built from a checkout without symlinks, and the base install they give.

Slow: the checkout is a ``git -c core.symlinks=false clone`` of the last commit (what a Windows user or a
CI runner without symlink support gets); ``python -m build`` makes the sdist and the wheel from it; one fresh
virtual environment gets ``pip install <checkout>`` with no extra and no torch, and runs what the base
install promises. pip uses this machine's own configuration (its index or mirror); nothing else is fetched.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numpy", "moto", "boto3", "botocore", "pillow", "hypothesis", "pytest")

pytestmark = pytest.mark.slow


def _git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    head = _git("-C", str(ROOT), "rev-parse", "HEAD").strip()
    dst = tmp_path_factory.mktemp("checkout") / "pie-conformance"
    _git("-c", "core.symlinks=false", "clone", "--quiet", "--no-checkout", str(ROOT), str(dst))
    _git("-C", str(dst), "config", "core.symlinks", "false")
    _git("-C", str(dst), "-c", "advice.detachedHead=false", "checkout", "--quiet", head)
    return dst


@pytest.fixture(scope="module")
def dist(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    # The sdist first, then the wheel built from that sdist (what `python -m build` does by default).
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(checkout)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _expected_data(checkout: Path) -> dict[str, bytes]:
    """Package path -> bytes of every file the package must ship from schemas/ and reference_scripts/."""
    files = {f"pie_conformance/_schemas/{p.name}": p.read_bytes() for p in (checkout / "schemas").glob("*")}
    scripts = checkout / "reference_scripts"
    for p in scripts.glob("*/*"):
        if p.suffix in (".py", ".md"):
            files[f"pie_conformance/_reference/{p.relative_to(scripts).as_posix()}"] = p.read_bytes()
    return files


def test_the_checkout_really_has_no_symlinks(checkout: Path) -> None:
    # Test scripts share a module through symlinks; in this checkout they are plain files holding the target.
    shared = checkout / "tests" / "cases" / "LOG001" / "tiny.py"
    assert not shared.is_symlink() and shared.read_text().strip().endswith("tiny.py")


def test_the_wheel_ships_the_schemas_and_reference_scripts(checkout: Path, dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    expected = _expected_data(checkout)
    assert "pie_conformance/_schemas/report.schema.json" in expected
    assert "pie_conformance/_reference/detection/train.py" in expected
    for name, data in expected.items():
        assert name in names, name
        assert zf.read(name) == data, f"{name} in the wheel differs from the checkout"
    for module in ("cli", "schemas", "validate", "commands/init", "reporters/sarif", "reporters/github"):
        assert f"pie_conformance/{module}.py" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    points = zf.read(entry_points).decode()
    assert "pie-check = pie_conformance.cli:main" in points
    assert "pie = pie_conformance.pytest_plugin" in points


def test_the_sdist_ships_them_too(checkout: Path, dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        members = {m.name.split("/", 1)[1]: m for m in tf.getmembers() if "/" in m.name}
        for name, data in _expected_data(checkout).items():
            member = members.get(name)
            assert member is not None and member.isfile(), name
            extracted = tf.extractfile(member)
            assert extracted is not None and extracted.read() == data, name


def test_the_base_install_needs_jsonschema_only(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    zf = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line[len("Requires-Dist: "):] for line in zf.read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist: ")]
    base = [r for r in requires if "extra ==" not in r]
    assert [re.split(r"[<>=!;\[ ]", r)[0].lower() for r in base] == ["jsonschema"]
    assert not [r for r in requires if r.lower().startswith("torch")]  # never a requirement, in no extra
    run = [r for r in requires if 'extra == "run"' in r]
    moto = next(r for r in run if r.startswith("moto"))
    assert "<6" in moto, moto  # moto's private modules are used: bounded below its next major


def test_a_fresh_venv_with_the_base_install_runs_validators_rules_and_hooks(
    checkout: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])

    def run(*argv: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)

    installed = run(str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(checkout))
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-3000:]
    listed = run(str(bin_dir / "python"), "-m", "pip", "list", "--format", "json")
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "pie-conformance" in names and "jsonschema" in names
    assert not names & set(HEAVY), names & set(HEAVY)

    # Two traincfgs in one call: one report, a verdict per file.
    cfg = json.loads((checkout / "tests" / "cases" / "cfg" / "pass" / "guide_detection.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(cfg))
    (tmp_path / "b.json").write_text(json.dumps({**cfg, "epochs": 0}))
    validated = run("pie-check", "validate-cfg", "a.json", "b.json")
    assert validated.returncode == 1, validated.stderr
    assert validated.stdout.startswith("NOT CONFORMANT: traincfg 2 files: 1 error")
    assert "CFG005" in validated.stdout

    rules = run("pie-check", "rules")
    assert rules.returncode == 0 and rules.stdout.startswith("CFG001"), rules.stderr
    schema = run("pie-check", "schema", "report")
    assert schema.returncode == 0 and json.loads(schema.stdout)["$id"] == "urn:pie-conformance:schema:report"

    # The pre-commit hooks' commands, as pre-commit runs them: the entry, then the staged file names.
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((checkout / ".pre-commit-hooks.yaml").read_text())}
    (tmp_path / "traincfg.json").write_text(json.dumps(cfg))
    (tmp_path / "traincfg_b.json").write_text(json.dumps(cfg))
    hook = run(*shlex.split(hooks["validate-cfg"]["entry"]), "traincfg.json", "traincfg_b.json")
    assert hook.returncode == 0, hook.stdout + hook.stderr
    log = (checkout / "tests" / "cases" / "log" / "pass" / "guide_example.json").read_bytes()
    (tmp_path / "trainlog.json").write_bytes(log)
    hook = run(*shlex.split(hooks["validate-log"]["entry"]), "trainlog.json")
    assert hook.returncode == 0, hook.stdout + hook.stderr

    # Every command builds its options without the extras (pie-check imports all command modules)...
    listed = run(str(bin_dir / "python"), "-c", "from pie_conformance.cli import COMMANDS; print(*COMMANDS)")
    commands = listed.stdout.split()
    assert {"run", "validate-cfg", "init", "rules"} <= set(commands), listed.stderr
    for command in commands:
        helped = run("pie-check", command, "--help")
        assert helped.returncode == 0, (command, helped.stderr)
    # ... a command that needs more says what to install, and init works from the shipped scripts.
    needs = run("pie-check", "run", str(tmp_path), "--task", "segmentation")
    assert needs.returncode == 2 and "pip install 'pie-conformance[run]'" in needs.stderr, needs.stderr
    started = run("pie-check", "init", "--task", "detection", "job")
    assert started.returncode == 0, started.stderr
    shipped = checkout / "reference_scripts" / "detection" / "train.py"
    assert (tmp_path / "job" / "train.py").read_bytes() == shipped.read_bytes()
