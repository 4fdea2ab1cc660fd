"""The shell examples of README.md and docs/*.md keep working: the quick ones run, every one parses.

Every ``pie-check`` line of a fenced ``bash``/``sh`` block (and every ``$ pie-check`` line of a ``console``
block, every ``pie-check`` line of a workflow step in a ``yaml`` block) must be accepted by the parser as
written. The quick commands (validate-cfg, validate-log, rules, schema, dataset, init) also run, in a scratch
folder holding what the examples name (a ``traincfg.json``, an ``output/trainlog.json``, the repository's
``tests/`` and ``reference_scripts/``), and must not end in a usage error (2) or an internal error (3).
``run``, ``serve`` and ``report`` take minutes or wait for Ctrl-C: they are only parsed, and any repository
path they name must exist.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pie_conformance.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
QUICK = {"validate-cfg", "validate-log", "rules", "schema", "dataset", "init"}
PROGRAM = re.compile(r"^(?:\S*/)?pie-check$")  # pie-check, .venv/bin/pie-check


@dataclass(frozen=True)
class Example:
    """One pie-check command line of the docs."""

    doc: str
    line: int
    argv: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}:{' '.join(self.argv[:1])}"


def _commands(body: str, lang: str) -> list[tuple[int, str]]:
    """(line offset, command text) of each pie-check command in a fenced block."""
    if lang == "yaml":
        try:
            loaded = yaml.safe_load(body)
        except yaml.YAMLError:
            return []
        found: list[tuple[int, str]] = []

        def walk(node: object) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "run" and isinstance(value, str):
                        found.extend((0, part) for part in value.splitlines())
                    else:
                        walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(loaded)
        return [(n, c) for n, c in found if c.strip().startswith("pie-check ")]
    joined: list[tuple[int, str]] = []
    pending = ""
    for n, raw in enumerate(body.splitlines()):
        line = raw.rstrip()
        if lang == "console":
            if not pending and not line.startswith("$ "):
                continue
            line = line[2:] if not pending else line
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append((n, pending + line))
        pending = ""
    return joined


def _examples() -> list[Example]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            lang, body = block.group(1), block.group(2)
            if lang not in ("bash", "sh", "console", "yaml"):
                continue
            first_line = text.count("\n", 0, block.start()) + 2
            for offset, command in _commands(body, lang):
                words = shlex.split(command, comments=True)
                if words and PROGRAM.match(words[0]):
                    where = doc.relative_to(ROOT).as_posix()
                    found.append(Example(where, first_line + offset, tuple(words[1:])))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples_of_every_quick_command() -> None:
    assert {e.argv[0] for e in EXAMPLES} >= QUICK | {"run", "serve", "report"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_every_example_parses(example: Example) -> None:
    try:
        args = build_parser().parse_args(list(example.argv))
    except SystemExit as exc:
        command = " ".join(example.argv)
        pytest.fail(f"{example.doc}:{example.line}: `pie-check {command}` is refused: exit {exc.code}")
    if args.command in ("run", "report"):
        target = getattr(args, "path", None) or getattr(args, "folder", None)
        if target and target.startswith(("reference_scripts", "tests")):
            assert (ROOT / target).exists(), f"{example.doc}:{example.line}: no {target} in the repository"


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding what the examples name, as a user's working folder would."""
    root = tmp_path_factory.mktemp("docs")
    for name in ("tests", "reference_scripts"):
        (root / name).symlink_to(ROOT / name, target_is_directory=True)
    cases = ROOT / "tests" / "cases"
    shutil.copy(cases / "log" / "traincfg.json", root / "traincfg.json")
    (root / "output").mkdir()
    shutil.copy(cases / "log" / "pass" / "guide_example.json", root / "output" / "trainlog.json")
    (root / "configs").mkdir()
    cfg = json.loads((cases / "cfg" / "pass" / "guide_detection.json").read_text(encoding="utf-8"))
    (root / "configs" / "traincfg_detection.json").write_text(json.dumps(cfg), encoding="utf-8")
    return root


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.argv[0] in QUICK], ids=lambda e: e.id)
def test_quick_examples_run(
    example: Example, scratch: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(scratch)
    argv = []
    for arg in example.argv:  # a shell would expand a glob
        argv += sorted(str(p.relative_to(scratch)) for p in scratch.glob(arg)) if "*" in arg else [arg]
    if argv[0] == "init":  # a fresh folder each time the suite runs
        shutil.rmtree(scratch / argv[-1], ignore_errors=True)
    status = main(argv)
    err = capsys.readouterr().err
    command = " ".join(argv)
    assert status in (0, 1), f"{example.doc}:{example.line}: `pie-check {command}` exited {status}: {err}"
