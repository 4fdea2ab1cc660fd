"""``pie-check report``: the HTML report of a folder kept by ``pie-check run --keep``, and ``run --html``."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pie_conformance.errors import UsageError

HELP = "write the HTML report (pictures per epoch, metric charts, findings) of a folder kept by run --keep"


def _side(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if not 16 <= v <= 4096:
        raise argparse.ArgumentTypeError(f"expected 16 to 4096 pixels, got {v}")
    return v


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """Options of ``pie-check report``."""
    parser.add_argument("folder", metavar="DIR", help="the folder given to pie-check run --keep")
    parser.add_argument("--html", metavar="FILE", required=True, help="write the HTML report to FILE")
    parser.add_argument("--picture-size", type=_side, default=None, metavar="PX",
                        help="largest side of a picture in the report, in pixels (default: 256)")


def check_destination(path: str) -> None:
    """UsageError now, before a long run, when ``path`` cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--html {path}: expected a file name, got a folder")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--html {path}: no folder {parent} to write it in")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"--html {path}: the folder {parent} is not writable")


def execute(args: argparse.Namespace) -> int:
    """Write the HTML report of a kept folder; the exit status is the kept run's verdict."""
    from pie_conformance.reporters.html import MAX_SIDE, write_kept_html
    from pie_conformance.reporters.text import verdict_line

    check_destination(args.html)
    report = write_kept_html(args.folder, args.html, max_side=args.picture_size or MAX_SIDE)
    sys.stdout.write(verdict_line(report) + "\n")
    sys.stdout.write(f"HTML report written to {args.html}\n")
    return 0 if report.conformant else 1


class HtmlAfterRun:
    """``pie-check run --html FILE``: the folder to keep the run in, and the report written from it.

    The HTML report is made from a kept folder; without ``--keep`` the run is kept in a temporary folder
    that :meth:`close` removes.
    """

    def __init__(self, html: str | None, keep: str | None) -> None:
        self.html = html
        self.keep = keep
        self._temporary: str | None = None
        if html is None:
            return
        check_destination(html)
        if keep is None:
            self._temporary = tempfile.mkdtemp(prefix="pie-check-html-")
            self.keep = os.path.join(self._temporary, "kept")

    def write(self) -> None:
        """Write the HTML report once the run has ended (nothing without ``--html``)."""
        if self.html is None or self.keep is None:
            return
        from pie_conformance.reporters.html import write_kept_html

        write_kept_html(self.keep, self.html)
        sys.stderr.write(f"HTML report written to {self.html}\n")

    def close(self) -> None:
        """Remove the temporary keep folder, if one was made."""
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)
            self._temporary = None
