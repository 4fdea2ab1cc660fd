"""The HTML report's inline style sheet and script (the page fetches nothing; its CSP allows only these)."""

from __future__ import annotations

CSS = """
:root { --fg: #1b1b1b; --muted: #555; --line: #c8c8c8; --bg: #fff; --soft: #f4f4f2;
  --ok: #009E73; --bad: #D55E00; --warn: #E69F00; --focus: #0072B2; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--fg); background: var(--bg); }
a { color: #005a8c; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
/* Paths and messages from the script can be one long word: let them wrap rather than widen the page. */
main p, main li, main h2, main h3, main h4, summary { overflow-wrap: anywhere; }
.skip { position: absolute; left: -999px; top: 0; background: var(--bg); padding: .5rem; z-index: 2; }
.skip:focus { left: .5rem; }
header, main, footer { max-width: 76rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .5rem; }
.subject { margin: 0; color: var(--muted); overflow-wrap: anywhere; }
nav ul { list-style: none; padding: 0; margin: .5rem 0 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
.verdict { border: 2px solid; border-left-width: .75rem; padding: .75rem 1rem; margin-top: 1rem; }
.verdict.ok { border-color: var(--ok); background: #e8f5ef; }
.verdict.bad { border-color: var(--bad); background: #fcefe6; }
.verdict h2 { border: 0; margin: 0; font-size: 1.5rem; }
.verdict p { margin: .25rem 0 0; }
.badge { display: inline-block; font-size: .8rem; font-weight: 600; padding: 0 .4rem; border: 2px solid;
  border-radius: .25rem; margin-right: .4rem; vertical-align: .1em; }
.badge.error { border-color: var(--bad); color: #8f3b00; }
.badge.warning { border-color: var(--warn); color: #6b4a00; }
.rule { border-top: 1px solid var(--line); }
.rule ul { padding-left: 1.25rem; margin: .25rem 0; }
.rule li { margin: .35rem 0; overflow-wrap: anywhere; }
.where { color: var(--muted); font-size: .9rem; }
.hint { background: var(--soft); border-left: 4px solid var(--focus); padding: .4rem .75rem; margin: .5rem 0;
  overflow-wrap: anywhere; }
.none { color: var(--muted); }
.viewer { border: 1px solid var(--line); padding: .75rem; border-radius: .25rem; }
.viewer:focus-visible { outline-offset: 4px; }
.controls { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem; margin-bottom: .75rem; }
.controls button { font: inherit; min-width: 2.75rem; min-height: 2.75rem; padding: .25rem .6rem;
  border: 1px solid #767676; background: var(--soft); border-radius: .25rem; color: var(--fg);
  cursor: pointer; }
.controls button:disabled { color: #767676; cursor: default; }
.controls input[type=range] { flex: 1 1 8rem; min-width: 6rem; min-height: 2.75rem; }
.epoch-label { font-weight: 600; min-width: 9rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(11rem, 1fr)); gap: .75rem; }
figure { margin: 0; }
figure img { display: block; width: 100%; height: auto; image-rendering: pixelated;
  border: 1px solid var(--line);
  background: repeating-conic-gradient(#eee 0 25%, #fff 0 50%) 0 0 / 16px 16px; }
figcaption { font-size: .9rem; color: var(--muted); overflow-wrap: anywhere; }
.missing { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; text-align: center;
  border: 2px dashed var(--bad); color: #8f3b00; padding: .5rem; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 26rem), 1fr)); gap: 1rem; }
.chart-box { border: 1px solid var(--line); padding: .5rem; border-radius: .25rem; min-width: 0; }
.wide { max-width: 36rem; }
.chart-box h4 { margin: 0 0 .25rem; font-size: 1rem; overflow-wrap: anywhere; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; }
svg.chart .plot { fill: #fff; stroke: var(--line); }
svg.chart .grid { stroke: #e3e3e3; }
svg.chart .axis { stroke: #767676; }
svg.chart .tick { fill: #444; font-size: 15px; }
svg.chart .axis-label { fill: #333; font-size: 15px; }
.legend { list-style: none; padding: 0; margin: .25rem 0 0; display: flex; flex-wrap: wrap; gap: .1rem 1rem;
  font-size: .9rem; }
.legend li { overflow-wrap: anywhere; }
.swatch { width: 28px; height: 10px; margin-right: .3rem; vertical-align: middle; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .95rem; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; min-width: 4rem; }
th { background: var(--soft); white-space: nowrap; }
td.num, table.values td { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: var(--soft); padding: .5rem; overflow-x: auto; max-width: 100%; white-space: pre-wrap;
  overflow-wrap: anywhere; font-size: .85rem; }
details { margin: .5rem 0; }
summary { cursor: pointer; }
.note { color: var(--muted); font-size: .9rem; }
footer { color: var(--muted); font-size: .85rem; padding: 2rem 1rem; }
@media (max-width: 30rem) {
  body { font-size: 15px; }
  header, main, footer { padding: 0 .6rem; }
  .figures { grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); }
  .epoch-label { min-width: 0; flex-basis: 100%; }
}
@media print { nav, .controls, .skip { display: none; } }
"""

JS = """
(function () {
  "use strict";
  var source = document.getElementById("pie-data");
  if (!source) { return; }
  var data = JSON.parse(source.textContent);
  var images = data.images || {};
  Array.prototype.forEach.call(document.querySelectorAll("img[data-img]"), function (img) {
    images[img.getAttribute("data-img")] = img.getAttribute("src");
  });
  function figure(p) {
    var fig = document.createElement("figure");
    if (p.img && images[p.img]) {
      var img = document.createElement("img");
      img.src = images[p.img];
      img.alt = p.alt;
      fig.appendChild(img);
    } else {
      var box = document.createElement("div");
      box.className = "missing";
      box.setAttribute("role", "img");
      box.setAttribute("aria-label", p.alt);
      box.textContent = p.note || "missing";
      fig.appendChild(box);
    }
    var cap = document.createElement("figcaption");
    cap.textContent = p.caption;
    fig.appendChild(cap);
    return fig;
  }
  var steppers = {};
  Array.prototype.forEach.call(document.querySelectorAll(".viewer"), function (viewer) {
    var epochs = (data.viewers || {})[viewer.getAttribute("data-viewer")];
    if (!epochs || !epochs.length) { return; }
    var grid = viewer.querySelector(".figures");
    var label = viewer.querySelector(".epoch-label");
    var range = viewer.querySelector("input[type=range]");
    var buttons = {};
    Array.prototype.forEach.call(viewer.querySelectorAll("button[data-step]"), function (b) {
      buttons[b.getAttribute("data-step")] = b;
    });
    var current = epochs.length - 1;
    function show(i) {
      current = Math.max(0, Math.min(epochs.length - 1, i));
      var ep = epochs[current];
      while (grid.firstChild) { grid.removeChild(grid.firstChild); }
      ep.pics.forEach(function (p) { grid.appendChild(figure(p)); });
      label.textContent = ep.label;
      range.value = String(current);
      range.setAttribute("aria-valuetext", ep.label);
      viewer.setAttribute("data-epoch", String(ep.k));
      buttons.first.disabled = buttons.prev.disabled = current === 0;
      buttons.last.disabled = buttons.next.disabled = current === epochs.length - 1;
    }
    var moves = {
      first: function () { return 0; }, prev: function () { return current - 1; },
      next: function () { return current + 1; }, last: function () { return epochs.length - 1; }
    };
    Object.keys(moves).forEach(function (name) {
      buttons[name].addEventListener("click", function () { show(moves[name]()); });
    });
    range.addEventListener("input", function () { show(parseInt(range.value, 10)); });
    viewer.addEventListener("keydown", function (ev) {
      if (ev.target === range || ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
      var to = { ArrowLeft: "prev", ArrowRight: "next", Home: "first", End: "last",
        PageUp: "prev", PageDown: "next" }[ev.key];
      if (!to) { return; }
      ev.preventDefault();
      show(moves[to]());
    });
    viewer.querySelector(".controls").hidden = false;
    show(current);
    steppers[viewer.getAttribute("data-viewer")] = function (k) {
      for (var i = 0; i < epochs.length; i++) {
        if (epochs[i].k === k) { show(i); return; }
      }
    };
  });
  // A finding's "see the pictures of epoch k" link: step that viewer to epoch k, then follow the link.
  Array.prototype.forEach.call(document.querySelectorAll("a.goto[data-goto]"), function (a) {
    a.addEventListener("click", function () {
      var step = steppers[a.getAttribute("data-viewer")];
      if (step) { step(parseInt(a.getAttribute("data-goto"), 10)); }
    });
  });
})();
"""
