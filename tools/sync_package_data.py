"""Copy the top-level ``schemas/`` and ``reference_scripts/`` into the package, where the wheel finds them.

The top-level folders are the source of truth (edit them); ``pie_conformance/_schemas/`` and
``pie_conformance/_reference/`` are real copies, not symlinks, so that a checkout without symlink support
builds the same wheel and sdist. ``tests/test_package_data.py`` fails while a copy differs.

    python tools/sync_package_data.py          # refresh the copies
    python tools/sync_package_data.py --check  # exit 1 and list the differences, change nothing
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: (source folder, copy in the package, file patterns under the source folder)
PAIRS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("schemas", "pie_conformance/_schemas", ("*.schema.json",)),
    ("reference_scripts", "pie_conformance/_reference", ("*/*.py", "*/*.md")),
)


def _files(folder: Path, patterns: tuple[str, ...]) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for pattern in patterns
        for p in sorted(folder.glob(pattern))
        if p.is_file() and "__pycache__" not in p.parts
    }


def differences(root: Path = ROOT) -> list[str]:
    """One line per file that is missing, extra or different in a package copy."""
    lines = []
    for source, copy, patterns in PAIRS:
        want, have = _files(root / source, patterns), _files(root / copy, patterns)
        lines += [
            f"{copy}/{name}: missing (copy of {source}/{name})" for name in sorted(set(want) - set(have))
        ]
        lines += [f"{copy}/{name}: no {source}/{name} to copy" for name in sorted(set(have) - set(want))]
        lines += [
            f"{copy}/{name}: differs from {source}/{name}"
            for name in sorted(set(want) & set(have))
            if want[name] != have[name]
        ]
    return lines


def sync(root: Path = ROOT) -> None:
    """Make every package copy equal to its source folder (files only; stale files are removed)."""
    for source, copy, patterns in PAIRS:
        target = root / copy
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        for name, data in _files(root / source, patterns).items():
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    """Refresh the copies, or with ``--check`` only report how they differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="report differences; change nothing")
    args = parser.parse_args(argv)
    if args.check:
        found = differences()
        for line in found:
            print(line)
        return 1 if found else 0
    sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
