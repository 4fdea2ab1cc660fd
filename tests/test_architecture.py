"""The layers point one way: facts at the bottom, rules above them, the harness above both, reporters beside
the rules. Checked over every module of the package by reading its imports (its syntax tree, not running
it)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "pie_conformance"
STDLIB = sys.stdlib_module_names


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (inside functions too), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


#: Modules that run inside the script's own interpreter or its sandbox, before the kit can be imported.
_STANDALONE = ("pie_conformance.harness._probe", "pie_conformance.harness._guard",
               "pie_conformance.aiutils_shim")
MODULES = {
    _module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if not _module_name(p).startswith(_STANDALONE)
}


def _kit_imports(name: str) -> set[str]:
    return {m for m in _imports(MODULES[name]) if m.startswith("pie_conformance")}


def _in(module: str, *layers: str) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


def test_the_package_is_all_seen() -> None:
    assert "pie_conformance.facts" in MODULES and "pie_conformance.harness.check" in MODULES
    assert len(MODULES) > 50


def test_facts_import_nothing_of_the_kit_and_only_the_standard_library() -> None:
    imports = _imports(MODULES["pie_conformance.facts"])
    assert {m.split(".")[0] for m in imports} <= STDLIB | {"__future__"}


@pytest.mark.parametrize("name", [n for n in MODULES if _in(n, "pie_conformance.rules")])
def test_rules_import_facts_never_the_harness(name: str) -> None:
    banned = ("pie_conformance.harness", "pie_conformance.reporters", "pie_conformance.commands",
              "pie_conformance.s3", "pie_conformance.datasets", "pie_conformance.kept")
    assert not [m for m in _kit_imports(name) if _in(m, *banned)]


@pytest.mark.parametrize("name", [n for n in MODULES if _in(n, "pie_conformance.reporters")])
def test_reporters_import_no_harness_module(name: str) -> None:
    assert not [m for m in _kit_imports(name) if _in(m, "pie_conformance.harness")]
    # Beside the rules: a report may name a rule's summary from the catalogue, and nothing else of them.
    rules = {m for m in _kit_imports(name) if _in(m, "pie_conformance.rules")}
    assert rules <= {"pie_conformance.rules", "pie_conformance.rules.CATALOGUE_BY_ID"}


def test_only_the_harness_and_the_front_ends_import_the_harness() -> None:
    allowed = ("pie_conformance.harness", "pie_conformance.commands", "pie_conformance._pytest_items",
               "pie_conformance._pytest_fixtures", "pie_conformance._pytest_options", "pie_conformance")
    for name in MODULES:
        uses = [m for m in _kit_imports(name) if _in(m, "pie_conformance.harness")]
        if uses and name != "pie_conformance":
            assert _in(name, *allowed[:-1]), f"{name} imports {uses}"


def test_the_rules_are_used_by_the_engines_only() -> None:
    # The harness runs them, the validators and the trainlog checker judge files with them, the front ends
    # list them; nothing else (facts, reporters, data, S3) may depend on them.
    allowed = ("pie_conformance.rules", "pie_conformance.harness", "pie_conformance.validate",
               "pie_conformance.trainlog", "pie_conformance.commands", "pie_conformance._pytest_items",
               "pie_conformance.strategies",  # draws valid logs by the LOG rules' own definitions
               "pie_conformance.crash")  # names what a crash installs with the SRC rules' index
    for name in MODULES:
        uses = [m for m in _kit_imports(name) if _in(m, "pie_conformance.rules")
                and m != "pie_conformance.rules.CATALOGUE_BY_ID"]
        if _in(name, "pie_conformance.reporters") and uses == ["pie_conformance.rules"]:
            continue  # the catalogue's summaries, checked above
        assert not uses or _in(name, *allowed), f"{name} imports {uses}"


def _loaded_after(code: str) -> set[str]:
    code += "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_validating_a_config_loads_neither_numpy_nor_torch(tmp_path: Path) -> None:
    cfg = tmp_path / "traincfg.json"
    cfg.write_text("{}", encoding="utf-8")
    loaded = _loaded_after("import pie_conformance.validate")
    assert not {"numpy", "torch", "PIL"} & loaded
    loaded = _loaded_after(
        "import contextlib, io\nfrom pie_conformance.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    main(['validate-cfg', {str(cfg)!r}])"
    )
    assert "pie_conformance.rules.out" in loaded  # every rule was registered...
    assert not {"numpy", "torch", "PIL", "moto", "boto3"} & loaded  # ...without the heavy modules


def test_the_public_api_is_typed_not_lazy_any() -> None:
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in node.body if isinstance(sub, ast.ImportFrom) for alias in sub.names
    }
    assert {"check_script", "CheckOptions", "validate_traincfg", "validate_trainlog"} <= typed
