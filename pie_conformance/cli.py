"""The ``pie-check`` command line: it only parses arguments and hands over to a command module.

Each subcommand lives in ``pie_conformance/commands/<name>.py`` with ``HELP``, ``add_arguments(parser)``
and ``execute(args) -> int``; heavy imports happen inside ``execute``. The exit status is decided
here, in one place (CONTRACT section 4):

- 0: conformant (or, for a command that judges nothing, done);
- 1: not conformant;
- 2: usage or environment error: a bad option or input file (:class:`~pie_conformance.errors.UsageError`),
  or something this machine lacks, such as the ``[run]`` extra or torch;
- 3: an internal error of the kit, a bug to report (never the fault of the script under test);
- 130: interrupted (Ctrl-C).

A reader that closes the pipe early (``pie-check rules | head -3``) ends the command quietly, with the status
the command had (the report writers catch the broken pipe themselves).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pie_conformance.errors import UsageError

EXIT_OK, EXIT_NOT_CONFORMANT, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: Subcommand name -> module, in the order ``pie-check --help`` lists them.
COMMANDS: dict[str, str] = {
    "run": "pie_conformance.commands.run",
    "lint": "pie_conformance.commands.lint",
    "report": "pie_conformance.commands.report",
    "validate-cfg": "pie_conformance.commands.validate",
    "validate-log": "pie_conformance.commands.validate",
    "dataset": "pie_conformance.commands.dataset",
    "serve": "pie_conformance.commands.serve",
    "init": "pie_conformance.commands.init",
    "rules": "pie_conformance.commands.rules",
    "schema": "pie_conformance.commands.schema",
}

#: What a command needs beyond the base install (checked before it starts, so that a missing module is a
#: message naming the install command, exit 2, rather than an ImportError half-way): ``run_extra`` every
#: module of the ``[run]`` extra, ``modules`` some of them, ``torch`` the environment's torch.
NEEDS: dict[str, dict[str, object]] = {
    "run": {"run_extra": True, "torch": True},
    "serve": {"modules": ("moto", "boto3", "numpy", "PIL")},
    "dataset": {"modules": ("numpy", "PIL")},
    "report": {"modules": ("numpy", "PIL")},
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 by itself; this keeps the message format of the kit's other usage errors.
        self.print_usage(sys.stderr)
        sys.stderr.write(f"pie-check: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one subparser per available command."""
    from pie_conformance import __version__

    parser = _Parser(
        prog="pie-check",
        description="Check PIE-Engine AI training scripts, configs and logs against the platform contract.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        helps = getattr(module, "HELP", {})
        help_text = helps.get(name, "") if isinstance(helps, dict) else helps
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p, name)
        p.set_defaults(_execute=module.execute)
    return parser


def _silence_stdout() -> None:
    # Python would report the broken pipe again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def check_needs(command: str) -> None:
    """Raise a usage error naming what to install when ``command`` cannot run in this environment."""
    from pie_conformance._extras import require

    need = NEEDS.get(command)
    if need:
        require(f"pie-check {command}", **need)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pie-check``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status = EXIT_OK
    try:
        check_needs(args.command)
        status = int(args._execute(args))
        # Flushed here, not at interpreter exit, so that a reader gone by now is handled like any other.
        sys.stdout.flush()
        return status
    except UsageError as exc:
        sys.stderr.write(f"pie-check {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`pie-check rules | head -3`): stay quiet, as Unix tools do, with the status
        # the command returned; a pipe closed while a command was still writing leaves it at 0 (the reader
        # chose to stop), except in the report writers, which keep the verdict themselves.
        _silence_stdout()
        return status
    except KeyboardInterrupt:
        sys.stderr.write("pie-check: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:  # a crash of the kit is a bug: say so in one line, not a traceback
        if os.environ.get("PIE_DEBUG"):
            raise
        sys.stderr.write(
            f"pie-check {args.command}: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in pie-conformance; rerun with PIE_DEBUG=1 to see the traceback and report it.\n"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    raise SystemExit(main())
