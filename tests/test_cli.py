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
    assert cli.main(["rules"]) == cli.EXIT_USAGE
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


class _FixedParser:
    """A parser stand-in returning prepared arguments whose command is ``execute``."""

    def __init__(self, args: object, execute: object) -> None:
        self._args = args
        self._execute = execute

    def parse_args(self, argv: object) -> object:
        self._args._execute = self._execute  # type: ignore[attr-defined]
        return self._args
