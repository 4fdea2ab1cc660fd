"""The command-line frame: subcommands, exit statuses, and no traceback from the kit."""

from __future__ import annotations

import sys

import pytest

from pie_conformance import cli
from pie_conformance.errors import UsageError


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["frobnicate"])
    assert exc.value.code == cli.EXIT_USAGE
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_usage_error_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: object) -> int:
        raise UsageError("no train.py at nowhere")

    parser = cli.build_parser()
    args = parser.parse_args(["rules"])
    monkeypatch.setattr(cli, "build_parser", lambda: _FixedParser(args, boom))
    assert cli.main(["rules"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == "pie-check rules: error: no train.py at nowhere\n"


def test_kit_crash_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    args = cli.build_parser().parse_args(["rules"])
    monkeypatch.setattr(cli, "build_parser", lambda: _FixedParser(args, boom))
    monkeypatch.delenv("PIE_DEBUG", raising=False)
    assert cli.main(["rules"]) == cli.EXIT_INTERNAL == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: division by zero" in err
    assert "Traceback" not in err
    assert "PIE_DEBUG=1" in err


def test_closed_pipe_keeps_the_verdict_and_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    # `pie-check validate-log big.json | head`: the reader leaves early; the exit status keeps the verdict.
    import argparse

    from pie_conformance.commands import emit_report
    from pie_conformance.findings import Finding, Report, Severity

    class ClosedPipe:
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def isatty(self) -> bool:
            return False

    silenced: list[bool] = []
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr(cli, "_silence_stdout", lambda: silenced.append(True))
    bad = Report(kind="trainlog", subject="x.json", findings=(Finding("LOG002", Severity.ERROR, "not JSON"),))
    args = argparse.Namespace(format="json", output=None)
    assert emit_report(bad, args) == 1
    assert emit_report(Report(kind="trainlog", subject="x.json"), args) == 0
    assert silenced == [True, True]


def test_a_value_error_inside_a_run_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    # Only the kit's own checks of its input are usage errors; a ValueError deep in a run is a bug of the kit.
    import pie_conformance.harness.check as check

    def boom(*args: object, **kwargs: object) -> object:
        raise ValueError("could not broadcast input array from shape (3,) into shape (4,)")

    monkeypatch.setattr(check, "check_script", boom)
    monkeypatch.delenv("PIE_DEBUG", raising=False)
    assert cli.main(["run", "x/train.py", "--task", "segmentation"]) == cli.EXIT_INTERNAL
    assert "internal error: ValueError: could not broadcast" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "hidden", "message"),
    [
        (["serve", "--task", "segmentation"], "moto",
         "pie-check serve needs the kit's [run] extra (moto missing): pip install 'pie-conformance[run]'"),
        (["dataset", "--task", "segmentation", "--out", "x"], "PIL", "[run] extra (Pillow missing)"),
        (["run", "x/train.py", "--task", "detection"], "numpy", "[run] extra (numpy missing)"),
        (["run", "x/train.py", "--task", "detection"], "torch",
         "pie-check run needs torch, which is not installed"),
    ],
)
def test_a_command_without_what_it_needs_names_the_install(
    command: list[str], hidden: str, message: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, hidden, None)  # unimportable and unfindable, as if not installed
    assert cli.main(command) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["rules"], 0),
        (["rules", "--format", "junit"], 0),
        (["schema", "trainlog"], 0),
        (["validate-cfg", "tests/cases/cfg/CFG005/fail/epochs_zero.json", "--format", "json"], 1),
    ],
)
@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
def test_a_closed_pipe_ends_quietly_with_the_status(argv: list[str], status: int, buffered: bool) -> None:
    # `pie-check rules | head -3`: the reader leaves before everything is written. Buffered, the write fails
    # when stdout is flushed at the end; unbuffered (PYTHONUNBUFFERED), at the first write.
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen([sys.executable, "-m", "pie_conformance", *argv], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has written anything: every write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == status, err
    assert err == ""


def test_exit_statuses_are_those_of_the_contract() -> None:
    assert (cli.EXIT_OK, cli.EXIT_NOT_CONFORMANT, cli.EXIT_USAGE, cli.EXIT_INTERNAL) == (0, 1, 2, 3)


class _FixedParser:
    """A parser stand-in returning prepared arguments whose command is ``execute``."""

    def __init__(self, args: object, execute: object) -> None:
        self._args = args
        self._execute = execute

    def parse_args(self, argv: object) -> object:
        self._args._execute = self._execute  # type: ignore[attr-defined]
        return self._args


_BASE_INSTALL_RUN = """
import sys
for name in ("numpy", "PIL", "moto", "boto3", "botocore", "hypothesis", "torch"):
    sys.modules[name] = None  # importing any of them fails
from pie_conformance.cli import main
cfg, log = "tests/cases/cfg/", "tests/cases/log/"
statuses = [
    main(["validate-cfg", cfg + "pass/guide_detection.json", cfg + "CFG005/fail/epochs_zero.json",
          "--format", "sarif"]),
    main(["validate-log", log + "pass/guide_example.json", "--traincfg", log + "traincfg.json",
          "--format", "github"]),
    main(["rules", "--format", "junit"]),
    main(["schema", "report"]),
    main(["init", "--task", "detection", sys.argv[1]]),
]
print("STATUSES", statuses)
"""


def test_the_base_install_commands_import_nothing_of_the_run_extra(tmp_path: object) -> None:
    # What `pip install pie-conformance` (jsonschema only) must run: the validators, rules, schema, init.
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    job = Path(str(tmp_path)) / "job"
    done = subprocess.run([sys.executable, "-c", _BASE_INSTALL_RUN, str(job)], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert "STATUSES [1, 0, 0, 0, 0]" in done.stdout, done.stderr[-2000:]
