"""Size and build time of the HTML report of a long run; prints figures.

Usage: python benchmarks/html_size.py [--epochs 100] [--size 512] [--picture-size 256] [--keep DIR]

A synthetic kept folder of a segmentation run (the harness's own kept-folder format) with --epochs epochs,
pictures of --size pixels a side (image.png and label.png the same at every epoch, pred.png different at
each), a trainlog of four metrics for class all and three classes, is turned into one HTML file.

Figures printed: the kept folder's size, the HTML file's size (total, the pictures' share, the rest), the
number of distinct pictures against the number shown, and the time to build the page.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pie_conformance.kept import load_kept  # noqa: E402
from pie_conformance.reporters._html_sample import make_kept_run, sample_finding  # noqa: E402
from pie_conformance.reporters.html import render_html  # noqa: E402


def _size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    """Build the report of a synthetic long run and print its size."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--size", type=int, default=512, help="picture side in the kept run (pixels)")
    ap.add_argument("--picture-size", type=int, default=256, help="largest picture side in the report")
    ap.add_argument("--keep", default=None, help="write the kept folder and report.html here (new folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pie-html-bench-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp) / "kept"
        t0 = time.perf_counter()
        make_kept_run(root, epochs=args.epochs, size=(args.size, args.size), findings=[sample_finding()])
        t_make = time.perf_counter() - t0
        t0 = time.perf_counter()
        kept = load_kept(root)
        page = render_html(kept.report, kept, max_side=args.picture_size)
        t_build = time.perf_counter() - t0
        data = page.encode("utf-8")
        (root / "report.html").write_bytes(data)
        uris = re.findall(r"data:image/png;base64,[A-Za-z0-9+/=]*", page)
        pictures = sum(len(u) for u in uris)
        shown = page.count('"img":"p') + page.count('"img":null')
        print(
            f"kept run: {args.epochs} epochs, pictures {args.size}x{args.size}, "
            f"kept folder {_size_of(root) / 1e6:.1f} MB (weights not included)"
        )
        print(f"HTML report: {len(data) / 1e6:.2f} MB ({len(data)} bytes)")
        print(f"  pictures: {pictures / 1e6:.2f} MB; everything else {(len(data) - pictures) / 1e6:.2f} MB")
        print(
            f"  pictures in the page: {len(uris)} data URIs ({len(set(uris))} distinct),"
            f" {shown} shown over all epochs"
        )
        print(f"time: making the kept folder {t_make:.1f} s, building the page {t_build:.2f} s")
        if args.keep:
            print(f"written: {root / 'report.html'}")


if __name__ == "__main__":
    main()
