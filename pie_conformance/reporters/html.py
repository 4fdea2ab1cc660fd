"""The HTML report: one self-contained page that shows a run as the platform's front end would.

Everything inline (style, script, SVG charts, pictures as ``data:`` URIs), nothing fetched, and a Content
Security Policy that allows only the page's own style sheet and script (by hash), so even a slip in escaping
could not run anything. Every text that comes from the script under test (messages, class names, file names,
stderr) is escaped; the pictures are decoded and re-encoded by the kit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from pie_conformance.findings import Finding, Report, Severity
from pie_conformance.kept import KeptRun, KeptScenario, read_json
from pie_conformance.reporters._html_assets import CSS, JS
from pie_conformance.reporters._html_images import MAX_SIDE, PictureStore, Shown
from pie_conformance.reporters._html_svg import (
    PALETTE,
    TRAIN_COLOUR,
    VALID_COLOUR,
    Series,
    bar_chart,
    esc,
    fmt,
    legend,
    line_chart,
    timeline_chart,
)

#: Pictures each task must write (CONTRACT section 2), shown first and in this order.
_REQUIRED = {
    "detection": ("pred.png",),
    "segmentation": ("image.png", "label.png", "pred.png"),
    "change_detection": ("A.png", "B.png", "label.png", "pred.png"),
}
_WHAT = {
    "image.png": "the input image",
    "label.png": "the ground-truth labels in class colours",
    "pred.png": "the prediction",
    "A.png": "the image before the change",
    "B.png": "the image after the change",
}
#: Extra files of output/picture/ shown per epoch (OUT009 reports them all; the page stays small).
_MAX_EXTRA_PICTURES = 8


def _csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _json_for_script(data: Any) -> str:
    """JSON that can sit inside a <script> element: no "<", ">" or "&" that could end it."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _slug(text: str, used: set[str]) -> str:
    base = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower()).strip("-") or "s"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug


def _table(rows: Iterable[Sequence[str]], head: Sequence[str] | None = None, *, numbers: bool = True) -> str:
    """A table from cells that are already HTML (callers escape); ``numbers``: right-align numeric cells."""
    parts = ['<div class="table-wrap"><table>']
    if head:
        parts.append("<thead><tr>" + "".join(f'<th scope="col">{h}</th>' for h in head) + "</tr></thead>")
    parts.append("<tbody>")
    for row in rows:
        cells = [f'<th scope="row">{row[0]}</th>'] + [
            f'<td class="num">{c}</td>' if numbers and _numeric(c) else f"<td>{c}</td>" for c in row[1:]
        ]
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _rgb(text: object) -> str | None:
    """``"R,G,B"`` with 0..255 integers as an SVG colour, or None (the value comes from a file)."""
    parts = str(text).split(",")
    if len(parts) != 3:
        return None
    try:
        values = [int(p) for p in parts]
    except ValueError:
        return None
    return f"rgb({values[0]},{values[1]},{values[2]})" if all(0 <= v <= 255 for v in values) else None


def _swatch(colour: str | None) -> str:
    if colour is None:
        return ""
    return (
        f'<svg class="swatch" viewBox="0 0 28 10" aria-hidden="true"><rect width="28" height="10" '
        f'fill="{colour}" stroke="#555"/></svg>'
    )


# -- verdict and findings ----------------------------------------------------------------------------------


def _verdict(report: Report) -> str:
    from pie_conformance.reporters.text import verdict_line

    n_err, n_warn = len(report.errors), len(report.warnings)
    state = "CONFORMANT" if report.conformant else "NOT CONFORMANT"
    counts = f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
    scen = []
    for s in report.scenarios:
        note = f": {esc(s.note)}" if s.note else ""
        scen.append(f"<li>scenario <strong>{esc(s.name)}</strong> {esc(s.status)}{note}</li>")
    return (
        f'<section id="verdict" class="verdict {"ok" if report.conformant else "bad"}"'
        ' aria-labelledby="verdict-h">'
        f'<h2 id="verdict-h"><span class="verdict-text">{state}</span></h2>'
        f'<p class="counts">{esc(counts)}</p><p class="note">{esc(verdict_line(report))}</p>'
        + (f"<ul>{''.join(scen)}</ul>" if scen else "")
        + "</section>"
    )


def _findings(report: Report, viewers: Mapping[str, tuple[str, set[int]]] | None = None) -> str:
    """Findings by rule; ``viewers``: scenario -> (viewer id, epochs it shows), to link a finding's epoch."""
    from pie_conformance.rules import CATALOGUE_BY_ID

    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule, []).append(f)
    parts = ['<section id="findings" aria-labelledby="findings-h"><h2 id="findings-h">Findings</h2>']
    if not by_rule:
        parts.append('<p class="none">No finding: every rule that was checked held.</p>')
    # Errors before warnings, then catalogue order, as in the text report: first read, first to fix.
    order = {rid: i for i, rid in enumerate(CATALOGUE_BY_ID)}
    for rid in sorted(
        by_rule, key=lambda r: (by_rule[r][0].severity is not Severity.ERROR, order.get(r, 999), r)
    ):
        group = by_rule[rid]
        sev = group[0].severity.value
        summary = CATALOGUE_BY_ID.get(rid, (None, ""))[1]
        parts.append(
            f'<article class="rule {esc(sev)}" data-rule="{esc(rid)}"><h3><span class="badge {esc(sev)}">'
            f"{esc(sev)}</span>{esc(rid)} {esc(summary)}</h3><ul>"
        )
        hints: list[str] = []
        for f in group:
            where = esc(f.where)
            shown = (viewers or {}).get(f.scenario or "")
            if shown is not None and f.epoch in shown[1]:
                # A link to the pictures of that epoch (the script steps the viewer there; without it the
                # link still leads to the pictures).
                where += (
                    f' <a class="goto" href="#{shown[0]}-pictures" data-viewer="{shown[0]}"'
                    f' data-goto="{f.epoch}">see the pictures of epoch {f.epoch}</a>'
                )
            parts.append(
                f'<li><span class="message">{esc(f.message)}</span>'
                + (f'<br><span class="where">{where}</span>' if where else "")
                + "</li>"
            )
            if f.hint and f.hint not in hints:
                hints.append(f.hint)
        parts.append("</ul>")
        parts.extend(f'<p class="hint"><strong>How to fix:</strong> {esc(h)}</p>' for h in hints)
        parts.append("</article>")
    parts.append("</section>")
    return "".join(parts)


# -- pictures ----------------------------------------------------------------------------------------------


def _picture_names(folder: Path, task: str | None) -> tuple[list[str], int]:
    """Required names first (present or not), then the other files, and how many others were left out."""
    required = list(_REQUIRED.get(task or "", ()))
    others: list[str] = []
    try:
        with os.scandir(folder) as it:
            others = sorted(e.name for e in it if e.name not in required)
    except OSError:
        pass
    left_out = max(0, len(others) - _MAX_EXTRA_PICTURES)
    return required + others[:_MAX_EXTRA_PICTURES], left_out


def _pic_entry(shown: Shown, k_text: str) -> dict[str, Any]:
    what = _WHAT.get(shown.name)
    alt = f"{shown.name} at {k_text}" + (f": {what}" if what else "")
    if shown.image is None:
        alt += f" ({shown.note or 'missing'})"
    caption = shown.name + (f" ({shown.note})" if shown.note else "")
    return {"name": shown.name, "img": shown.image, "alt": alt, "caption": caption, "note": shown.note}


def _epoch_pictures(sc: KeptScenario, task: str | None, store: PictureStore) -> list[dict[str, Any]]:
    """One entry per progress line with a snapshot: its label and its pictures."""
    lines = {int(p["index"]): p for p in sc.progress if isinstance(p.get("index"), int)}
    epochs = []
    for index in sc.snapshot_indices():
        p = lines.get(index, {})
        k, n = p.get("k"), p.get("n")
        k_text = f"epoch {k}" if isinstance(k, int) else f"progress line {index}"
        label = f"Epoch {k} of {n}" if isinstance(k, int) and isinstance(n, int) else k_text.capitalize()
        folder = sc.snapshot(index) / "output" / "picture"
        names, left_out = _picture_names(folder, task)
        pics = [_pic_entry(store.add(folder / name, name), k_text) for name in names]
        if left_out:
            label += f" ({left_out} more files in output/picture/ not shown)"
        epochs.append({"k": k if isinstance(k, int) else index, "label": label, "pics": pics})
    return epochs


def _no_snapshot(sc: KeptScenario) -> str:
    """Why a scenario has no pictures to show."""
    if sc.run.get("mode") == "partial":
        return (
            "No snapshots: this scenario only checks that the run starts from the offered checkpoint, "
            "and the kit ends it at its first progress line."
        )
    if sc.run.get("mode") not in (None, "full"):
        return "No snapshots: the kit does not take them in this scenario."
    if sc.progress:
        return "No snapshots were kept for this run."
    return "No snapshot: the script printed no progress line."


def _figure_html(p: Mapping[str, Any], images: Mapping[str, str]) -> str:
    if p["img"] is not None:
        body = f'<img src="{images[p["img"]]}" alt="{esc(p["alt"])}" data-img="{esc(p["img"])}">'
    else:
        note = esc(p["note"] or "missing")
        body = f'<div class="missing" role="img" aria-label="{esc(p["alt"])}">{note}</div>'
    return f"<figure>{body}<figcaption>{esc(p['caption'])}</figcaption></figure>"


def _viewer(key: str, epochs: list[dict[str, Any]], images: Mapping[str, str], title_id: str) -> str:
    last = epochs[-1]
    n = len(epochs)
    return (
        f'<div class="viewer" data-viewer="{esc(key)}" data-epoch="{esc(last["k"])}" tabindex="0"'
        ' role="group"'
        f' aria-labelledby="{title_id}" aria-describedby="{title_id}-keys">'
        f'<p class="note" id="{title_id}-keys">Step through the epochs with the buttons, the slider, or the'
        " arrow"
        " keys, Home and End while this box has focus.</p>"
        '<div class="controls" hidden>'
        '<button type="button" data-step="first">&#xAB; First</button>'
        '<button type="button" data-step="prev">&#x2039; Previous</button>'
        f'<input type="range" min="0" max="{n - 1}" value="{n - 1}" step="1" aria-label="Epoch">'
        '<button type="button" data-step="next">Next &#x203A;</button>'
        '<button type="button" data-step="last">Last &#xBB;</button>'
        f'<span class="epoch-label" aria-live="polite">{esc(last["label"])}</span></div>'
        '<div class="figures">' + "".join(_figure_html(p, images) for p in last["pics"]) + "</div></div>"
    )


# -- metrics -----------------------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _epoch_number(value: Any, fallback: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return fallback


def _trainlog(sc: KeptScenario) -> tuple[Any, str]:
    """The trainlog the platform last received (the last snapshot's), else the one left at exit."""
    candidates = [
        (sc.snapshot(i) / "output" / "trainlog.json", f"as uploaded at progress line {i}")
        for i in reversed(sc.snapshot_indices()[-1:])
    ]
    candidates.append((sc.work / "output" / "trainlog.json", "as left in output/ when the script ended"))
    reasons = []
    for path, where in candidates:
        if not path.is_file():
            continue
        try:
            return read_json(path), where
        except ValueError as exc:
            reasons.append(str(exc).replace(str(sc.folder) + os.sep, ""))
    return None, "; ".join(reasons) or "no output/trainlog.json was written"


def _collect(
    log: Any,
) -> tuple[list[str], dict[str, str], dict[str, dict[tuple[str, str], list[tuple[int, float]]]], list[str]]:
    """(metric keys, display names, metric -> (class, split) -> points, classes in order)."""
    description = log.get("description") if isinstance(log, Mapping) else None
    names = {str(k): str(v) for k, v in description.items()} if isinstance(description, Mapping) else {}
    data: dict[str, dict[tuple[str, str], list[tuple[int, float]]]] = {}
    groups: list[str] = ["all"]
    epochs = log.get("epochs") if isinstance(log, Mapping) else None
    for i, ep in enumerate(epochs if isinstance(epochs, list) else []):
        if not isinstance(ep, Mapping):
            continue
        x = _epoch_number(ep.get("epoch"), i + 1)
        for split in ("train", "valid"):
            entries = ep.get(split)
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, Mapping) or not isinstance(entry.get("values"), Mapping):
                    continue
                group = str(entry.get("class", "all"))
                if group not in groups:
                    groups.append(group)
                for key, v in entry["values"].items():
                    if _finite(v):
                        data.setdefault(str(key), {}).setdefault((group, split), []).append((x, float(v)))
    keys = [k for k in names if k in data] + [k for k in data if k not in names]
    return keys, names, data, groups


def _values_table(metric: str, series: Sequence[Series]) -> str:
    """Every value of one metric, a column per series: the charts' points, for reading and screen readers."""
    xs = sorted({x for s in series for x, _ in s.points})
    lookup = [dict(s.points) for s in series]
    head = "".join(f'<th scope="col">{esc(s.label)}</th>' for s in series)
    body = "".join(
        f'<tr><th scope="row">{x}</th>'
        + "".join(f"<td>{fmt(m[x])}</td>" if x in m else "<td></td>" for m in lookup)
        + "</tr>"
        for x in xs
    )
    return (
        f'<details><summary>Values of {esc(metric)} as a table</summary><div class="table-wrap">'
        f'<table class="values"><thead><tr><th scope="col">epoch</th>{head}</tr></thead><tbody>{body}</tbody>'
        "</table></div></details>"
    )


def _chart_box(title: str, heading: str, series: list[Series], key: str, group: str, table: str) -> str:
    chart = line_chart(title, series, x_label="epoch", y_label=key, attrs={"metric": key, "group": group})
    return f'<div class="chart-box"><h4>{esc(heading)}</h4>{chart}{legend(series)}{table}</div>'


def _charts(log: Any, source: str) -> str:
    keys, names, data, groups = _collect(log)
    if not keys:
        return f'<p class="none">No metric values to draw ({esc(source)}).</p>'
    boxes = []
    for key in keys:
        title = key + (f" ({names[key]})" if key in names and names[key] != key else "")
        by = data[key]
        overall = [
            Series("train all", by.get(("all", "train"), []), TRAIN_COLOUR, True, "train", "all"),
            Series("valid all", by.get(("all", "valid"), []), VALID_COLOUR, False, "valid", "all"),
        ]
        overall = [s for s in overall if s.points]
        per_class = []
        for ci, group in enumerate(g for g in groups if g != "all"):
            colour = PALETTE[ci % len(PALETTE)]
            for split in ("valid", "train"):
                pts = by.get((group, split), [])
                if pts:
                    per_class.append(Series(f"{group} {split}", pts, colour, split == "train", split, group))
        # One table of every value per metric, under its last chart.
        table = _values_table(key, overall + per_class)
        if overall:
            boxes.append(
                _chart_box(
                    f"{title} over epochs, train against valid, class all",
                    f"{title}: overall",
                    overall,
                    key,
                    "all",
                    "" if per_class else table,
                )
            )
        if per_class:
            boxes.append(
                _chart_box(
                    f"{title} over epochs per class (valid solid, train dashed)",
                    f"{title}: per class",
                    per_class,
                    key,
                    "classes",
                    table,
                )
            )
    return (
        f'<p class="note">From trainlog.json {esc(source)}. Train is dashed with hollow markers,'
        " valid solid.</p>"
        '<div class="charts">' + "".join(boxes) + "</div>"
    )


# -- timeline ----------------------------------------------------------------------------------------------


def _num(v: Any, default: float = 0.0) -> float:
    return float(v) if _finite(v) else default


def _timeline(sc: KeptScenario) -> str:
    run = sc.run
    if not run:
        return '<p class="none">This run folder has no run.json, so the arrival times are unknown.</p>'
    progress = sc.progress
    end = _num(run.get("exit_elapsed"))
    if run.get("timed_out"):
        end_label = "killed at the time limit"
    elif run.get("stopped_by_kit"):
        end_label = "stopped by the kit after its first progress line"
    elif run.get("start_error"):
        end_label = f"could not start: {run.get('start_error')}"
    else:
        end_label = f"exit status {run.get('returncode')}"
    arrivals = [
        (_num(p.get("elapsed")), str(p.get("k")), f"{p.get('text')} (stdout line {p.get('line')})")
        for p in progress
    ]
    near = [
        (
            _num(p.get("elapsed")),
            f"near miss {p.get('text')!r} (stdout line {p.get('line')}, not the exact format)",
        )
        for p in sc.near_misses
    ]
    bars, rows = [], []
    prev_end = 0.0
    for i, p in enumerate(progress):
        t = _num(p.get("elapsed"))
        took = max(0.0, t - prev_end)
        held = _num(p.get("held"))
        prev_end = t + held
        what = "epoch " + str(p.get("k")) + (" (from the start: includes start-up)" if i == 0 else "")
        bars.append((str(p.get("k")), what, took))
        rows.append(
            [
                esc(p.get("k")),
                esc(p.get("n")),
                esc(p.get("line")),
                f"{t:.3f}",
                f"{took:.3f}",
                f"{held * 1000:.1f}",
                esc(p.get("text")),
            ]
        )
    for p in sc.near_misses:
        rows.append(
            ["near miss", "", esc(p.get("line")), f"{_num(p.get('elapsed')):.3f}", "", "", esc(p.get("text"))]
        )
    rows.sort(key=lambda r: float(r[3]))
    parts = [
        '<div class="wide">' + timeline_chart(arrivals, near, end, end_label) + "</div>",
        '<ul class="legend"><li>tick: a progress line arrived</li><li>triangle: a line that looks like one'
        " but is not exact</li><li>square: " + esc(end_label) + "</li></ul>",
    ]
    if bars:
        chart = bar_chart("Seconds each epoch took, kit's snapshot time left out", bars, y_label="seconds")
        parts.append('<div class="wide">' + chart + "</div>")
        parts.append(
            '<p class="note">Each bar: from the previous progress line (once the kit let the script go on)'
            " to this one; the first, in orange, counts from the start and includes imports and data"
            " loading.</p>"
        )
    parts.append(
        "<details><summary>Every progress line</summary>"
        + _table(rows, ["k", "N", "stdout line", "arrived (s)", "epoch took (s)", "snapshot (ms)", "line"])
        + "</details>"
    )
    facts = [
        ("exit", end_label),
        ("ended after (s)", f"{end:.3f}"),
        ("stdout ended after (s)", f"{_num(run.get('eof_elapsed')):.3f}"),
        ("held for snapshots (s)", f"{_num(run.get('frozen_time')):.3f}"),
        ("stdout", f"{run.get('stdout_lines', 0)} lines, {run.get('stdout_bytes', 0)} bytes"),
    ]
    parts.append(_table([[esc(a), esc(b)] for a, b in facts]))
    tail = run.get("stderr_tail")
    if isinstance(tail, str) and tail.strip():
        failed = run.get("returncode") not in (0, None) or bool(run.get("timed_out"))
        parts.append(
            f"<details{' open' if failed else ''}><summary>Last lines of stderr</summary>"
            f"<pre>{esc(tail)}</pre></details>"
        )
    return "".join(parts)


# -- configuration, dataset, timings -----------------------------------------------------------------------


def _labels_table(labels: Any) -> str:
    if not isinstance(labels, list):
        return ""
    rows = []
    for item in labels:
        if isinstance(item, Mapping):
            colour = item.get("class_color")
            rows.append(
                [
                    esc(item.get("class_name", "")),
                    esc(item.get("class_value", "")),
                    esc(item.get("class_title", "")),
                    _swatch(_rgb(colour)) + esc(colour),
                ]
            )
    return _table(rows, ["class_name", "class_value", "class_title", "class_color"]) if rows else ""


def _cfg_value(key: str, value: Any) -> str:
    text = esc(json.dumps(value, ensure_ascii=False))
    if key == "label" and isinstance(value, str):
        # A JSON string holding JSON: unreadable inline, so folded (the labels table below decodes it).
        return (
            f"<details><summary>a JSON string of {len(value)} characters</summary><pre>{text}</pre></details>"
        )
    return text


def _traincfg(kept: KeptRun) -> str:
    parts = ['<section id="traincfg" aria-labelledby="traincfg-h"><h2 id="traincfg-h">traincfg</h2>']
    first: Mapping[str, Any] | None = None
    for sc in kept.scenarios:
        try:
            cfg = read_json(sc.work / "traincfg.json")
        except ValueError:
            continue
        if not isinstance(cfg, Mapping):
            continue
        if first is None:
            first = cfg
            parts.append(f'<p class="note">As given to the script in scenario {esc(sc.name)}.</p>')
            rows = [[esc(k), _cfg_value(k, v)] for k, v in sorted(cfg.items())]
            parts.append(_table(rows, ["key", "value (JSON)"], numbers=False))
            try:
                labels = json.loads(cfg["label"]) if isinstance(cfg.get("label"), str) else None
            except ValueError:
                labels = None
            parts.append(_labels_table(labels))
        else:
            diff = [
                [esc(k), esc(json.dumps(v, ensure_ascii=False))]
                for k, v in sorted(cfg.items())
                if first.get(k) != v
            ]
            if diff:
                parts.append(
                    f"<h3>Scenario {esc(sc.name)}: what differs</h3>" + _table(diff, ["key", "value"])
                )
    if first is None:
        parts.append('<p class="none">No traincfg.json in the kept folder.</p>')
    parts.append("</section>")
    return "".join(parts)


def _dataset(kept: KeptRun) -> str:
    ds = kept.dataset
    parts = ['<section id="dataset" aria-labelledby="dataset-h"><h2 id="dataset-h">Dataset</h2>']
    if not ds:
        parts.append('<p class="none">No dataset.json in the kept folder.</p></section>')
        return "".join(parts)
    size = ds.get("size")
    rows = [
        ["task", esc(ds.get("task", ""))],
        ["dataset_id", esc(ds.get("dataset_id", ""))],
        ["prefix", esc(ds.get("prefix", ""))],
        ["image size", esc("x".join(str(v) for v in size)) if isinstance(size, list) else ""],
        ["image format", esc(ds.get("image_format", ""))],
    ]
    files = ds.get("files")
    if isinstance(files, Mapping):
        counts: dict[str, int] = {}
        for key in files:
            folder = "/".join(str(key).split("/")[:2])
            counts[folder] = counts.get(folder, 0) + 1
        total = sum(v for v in files.values() if _finite(v))
        rows.append(
            [
                "files",
                esc(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
                + esc(f" ({len(files)} files, {total} bytes)"),
            ]
        )
    parts.append(_table(rows))
    parts.append(_labels_table(ds.get("classes")))
    parts.append("</section>")
    return "".join(parts)


def _timings(report: Report) -> str:
    parts = ['<section id="timings" aria-labelledby="timings-h"><h2 id="timings-h">Timings</h2>']
    if report.timings:
        parts.append(_table([[esc(k), f"{v:.3f}"] for k, v in report.timings.items()], ["phase", "seconds"]))
    rows = []
    for s in report.scenarios:
        d = s.details
        rows.append(
            [
                esc(s.name),
                esc(s.status),
                esc(d.get("exit_status", "")),
                esc(d.get("progress_lines", "")),
                esc(d.get("last_epoch", "")),
                esc(d.get("script_seconds", "")),
                esc(d.get("frozen_seconds", "")),
                esc(s.note or d.get("stdout_note", "") or ""),
            ]
        )
    if rows:
        parts.append(
            _table(
                rows,
                [
                    "scenario",
                    "status",
                    "exit status",
                    "progress lines",
                    "last epoch",
                    "script (s)",
                    "held (s)",
                    "note",
                ],
            )
        )
    parts.append("</section>")
    return "".join(parts)


# -- the page ----------------------------------------------------------------------------------------------


def render_html(report: Report, kept: KeptRun | None = None, *, max_side: int = MAX_SIDE) -> str:
    """The whole page for ``report``; with ``kept`` (a kept run folder) also pictures, charts, timeline."""
    from pie_conformance import __version__

    store = PictureStore(max_side=max_side)
    viewers: dict[str, list[dict[str, Any]]] = {}
    used: set[str] = {"verdict", "findings", "traincfg", "dataset", "timings", "main"}
    nav = [("verdict", "Verdict"), ("findings", "Findings")]
    scenario_ids: dict[str, str] = {}
    sections = []
    for sc in kept.scenarios if kept is not None else ():
        sid = _slug("scenario-" + sc.name, used)
        scenario_ids[sc.name] = sid
        nav.append((sid, f"Scenario {sc.name}"))
        body = [
            f'<section id="{sid}" class="scenario" data-scenario="{esc(sc.name)}" aria-labelledby="{sid}-h">'
            f'<h2 id="{sid}-h">Scenario {esc(sc.name)}</h2>'
        ]
        epochs = _epoch_pictures(sc, report.task, store)
        body.append(f'<h3 id="{sid}-pictures">Pictures per epoch</h3>')
        if epochs:
            viewers[sid] = epochs
        else:
            body.append(f'<p class="none">{esc(_no_snapshot(sc))}</p>')
        body.append(f'<h3 id="{sid}-metrics">Metrics</h3>')
        log, source = _trainlog(sc)
        body.append(_charts(log, source))
        body.append(f'<h3 id="{sid}-timeline">Progress timeline</h3>')
        body.append(_timeline(sc))
        body.append("</section>")
        sections.append((sid, body))
    # The viewers are rendered once every picture is in the store (the page shows their last epoch).
    rendered = []
    for sid, body in sections:
        if sid in viewers:
            at = body.index(f'<h3 id="{sid}-pictures">Pictures per epoch</h3>') + 1
            body.insert(at, _viewer(sid, viewers[sid], store.images, f"{sid}-pictures"))
        rendered.append("".join(body))
    tail = [_traincfg(kept), _dataset(kept)] if kept is not None else []
    if kept is not None:
        nav += [("traincfg", "traincfg"), ("dataset", "Dataset")]
    nav.append(("timings", "Timings"))
    # The pictures of the epochs shown when the page opens are in the page already: the script takes them
    # from there instead of a second copy in its table.
    in_page = {p["img"] for epochs in viewers.values() for p in epochs[-1]["pics"] if p["img"] is not None}
    table = {k: v for k, v in store.images.items() if k not in in_page}
    data = _json_for_script({"images": table, "viewers": viewers})
    state = "CONFORMANT" if report.conformant else "NOT CONFORMANT"
    csp = (
        f"default-src 'none'; img-src data:; style-src '{_csp_hash(CSS)}'; script-src '{_csp_hash(JS)}'; "
        "base-uri 'none'; form-action 'none'"
    )
    subject = report.subject + (f" [{report.task}]" if report.task else "")
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">',
            f"<title>{esc(state)}: {esc(report.subject)} - pie-check</title>",
            f"<style>{CSS}</style></head><body>",
            '<a class="skip" href="#main">Skip to the report</a>',
            f'<header><h1>pie-check report</h1><p class="subject">{esc(subject)}</p>',
            '<nav aria-label="Sections"><ul>'
            + "".join(f'<li><a href="#{i}">{esc(t)}</a></li>' for i, t in nav)
            + "</ul></nav></header>",
            '<main id="main" tabindex="-1">',
            _verdict(report),
            _findings(
                report,
                {
                    name: (sid, {e["k"] for e in viewers[sid]})
                    for name, sid in scenario_ids.items()
                    if sid in viewers
                },
            ),
            *rendered,
            *tail,
            _timings(report),
            "</main>",
            f"<footer>Written by pie-check {esc(__version__)}. Pictures at most {max_side} px a side,"
            f" {len(store.images)} distinct.</footer>",
            f'<script type="application/json" id="pie-data">{data}</script>',
            f"<script>{JS}</script></body></html>\n",
        ]
    )


def write_html(report: Report, out: TextIO, kept: KeptRun | None = None, *, max_side: int = MAX_SIDE) -> None:
    """Write the HTML report of ``report`` (with pictures, charts and timeline when ``kept`` is given)."""
    out.write(render_html(report, kept, max_side=max_side))


def write_kept_html(
    folder: str | os.PathLike[str], dest: str | os.PathLike[str], *, max_side: int = MAX_SIDE
) -> Report:
    """Write the HTML report of a folder kept by ``pie-check run --keep`` to ``dest``; return its report."""
    from pie_conformance.errors import UsageError
    from pie_conformance.kept import load_kept

    kept = load_kept(folder)
    text = render_html(kept.report, kept, max_side=max_side)
    try:
        Path(dest).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the HTML report to {dest}: {exc.strerror or exc}") from None
    return kept.report
