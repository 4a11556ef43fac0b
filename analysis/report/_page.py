"""The dashboard page: one self-contained HTML file that works offline.

plotly.js is inlined exactly once in <head> (no CDN, no request of any kind), every figure is a
<div> plus a call into that bundle, and all views sit on one scrolling page with a sidebar of
anchors: hidden tabs would make Plotly size charts at zero width. Where the page does hide
content (the Holm switch's two variants, the confusion matrices' budget selector), the script
below resizes each chart when it is shown. `?holm=1` / `?holm=0` in the address sets the switch,
so a headless browser can check both states. The page is written to a temporary file and
renamed, so a browser refreshing during a running grid never sees half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from plotly.offline import get_plotlyjs

from paragrid.analysis.report._dashboard import Section, esc

CSS = """
:root { --bg:#f5f6f8; --card:#fff; --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb;
        --accent:#2563eb; --side:#111827; --mark:#b91c1c; }
* { box-sizing:border-box; }
html { scroll-behavior:smooth; }
body { margin:0; font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--ink); background:var(--bg); line-height:1.5; }
nav { position:fixed; top:0; left:0; bottom:0; width:232px; background:var(--side); color:#e5e7eb;
      padding:22px 14px; overflow-y:auto; }
nav .brand { font-weight:700; font-size:18px; letter-spacing:.3px; color:#fff; margin:0 8px 2px; }
nav .sub { font-size:12px; color:#9ca3af; margin:0 8px 18px; word-break:break-all; }
nav a { display:block; color:#d1d5db; text-decoration:none; padding:7px 10px; border-radius:6px;
        font-size:14px; margin-bottom:2px; }
nav a:hover { background:#1f2937; color:#fff; }
nav a.active { background:var(--accent); color:#fff; }
nav .count { float:right; font-size:11px; color:#9ca3af; }
main { margin-left:232px; padding:28px 36px 60px; max-width:1480px; }
header.top h1 { margin:0 0 4px; font-size:26px; }
header.top .meta { color:var(--muted); font-size:14px; }
.pills { display:flex; flex-wrap:wrap; gap:8px; margin:14px 0 4px; }
.pill { background:var(--card); border:1px solid var(--line); border-radius:999px; padding:4px 12px;
        font-size:13px; }
.pill b { font-weight:600; }
.pill.warn { border-color:#f59e0b; background:#fffbeb; }
section { background:var(--card); border:1px solid var(--line); border-radius:12px;
          padding:22px 26px; margin:22px 0; box-shadow:0 1px 2px rgba(0,0,0,.04); }
section h2 { margin:0 0 6px; font-size:20px; }
section h3 { margin:22px 0 6px; font-size:16px; color:#374151; }
.explain { color:#4b5563; font-size:14px; max-width:980px; margin:0 0 14px; }
.note { color:var(--muted); font-size:13px; margin:6px 0; }
.warn { color:#92400e; background:#fffbeb; border:1px solid #fde68a; border-radius:8px;
        padding:8px 12px; font-size:13px; }
.table-wrap { overflow-x:auto; margin:8px 0 4px; }
table { border-collapse:collapse; font-size:14px; font-variant-numeric:tabular-nums; }
table caption { text-align:left; font-weight:600; padding:4px 0 8px; }
th, td { padding:7px 10px; border-bottom:1px solid var(--line); text-align:center; white-space:nowrap; }
thead th { background:#f9fafb; font-weight:600; color:#374151; border-bottom:2px solid #d1d5db; }
thead th.group { border-bottom:1px solid #d1d5db; }
tbody th { text-align:left; font-weight:500; color:#374151; }
tbody tr:hover { background:#f9fafb; }
table.plain td { font-size:13px; padding:5px 9px; }
table.plain th { white-space:normal; font-size:13px; padding:6px 9px; }
table.results td { padding:7px 8px; }
table.results.wide { font-size:13px; }
table.results.wide td, table.results.wide th { padding:6px 6px; }
tr.sig td { background:#f0fdf4; }
tr.flagged td { background:#fffbeb; }
.count { font-size:11px; color:#9ca3af; }
.mark { color:var(--mark); font-weight:700; }
.muted { color:#9ca3af; }
.figure { margin:8px 0 18px; }
details { margin:10px 0; }
details summary { cursor:pointer; color:var(--accent); font-size:14px; }
pre { background:#f9fafb; border:1px solid var(--line); border-radius:8px; padding:10px;
      font-size:12px; overflow-x:auto; }
#js-errors { white-space:pre-wrap; }
footer { color:var(--muted); font-size:12px; margin-top:30px; }
.flag { font-size:11px; color:#b45309; }
td[title] { cursor:help; }
.switch { display:inline-flex; align-items:center; gap:8px; background:var(--card);
          border:1px solid var(--line); border-radius:999px; padding:4px 12px; font-size:13px;
          margin:10px 0 0; cursor:pointer; }
.switch input { accent-color:var(--accent); width:16px; height:16px; }
.selector > label { font-size:14px; color:#374151; }
.selector select { font-size:14px; margin-left:6px; padding:2px 6px; }
body.holm .holm-off, body:not(.holm) .holm-on { display:none; }
"""

# Uncaught errors are written into the page itself, so a headless browser's DOM dump shows them.
ERROR_HOOK = """
window.__paragridErrors = [];
window.addEventListener('error', function (e) { window.__paragridErrors.push(String(e.message)); });
"""

TAIL_JS = """
(function () {
  function resizeIn(el) {
    if (!window.Plotly) return;
    el.querySelectorAll('.js-plotly-plot').forEach(function (gd) { Plotly.Plots.resize(gd); });
  }
  function setHolm(on) {
    document.body.classList.toggle('holm', on);
    var box = document.getElementById('holm-toggle');
    if (box) box.checked = on;
    document.querySelectorAll(on ? '.holm-on' : '.holm-off').forEach(resizeIn);
  }
  var toggle = document.getElementById('holm-toggle');
  if (toggle) toggle.addEventListener('change', function () { setHolm(toggle.checked); });
  var query = new URLSearchParams(window.location.search);
  if (query.has('holm')) setHolm(query.get('holm') === '1');
  document.querySelectorAll('select.view-select').forEach(function (sel) {
    function show() {
      sel.closest('.selector').querySelectorAll(':scope > .choice').forEach(function (p) {
        var on = p.getAttribute('data-choice') === sel.value;
        p.hidden = !on;
        if (on) resizeIn(p);
      });
    }
    sel.addEventListener('change', show);
    if (query.has(sel.id)) { sel.value = query.get(sel.id); show(); }
  });
  var errors = document.getElementById('js-errors');
  if (window.__paragridErrors.length) { errors.hidden = false;
    errors.textContent = 'JavaScript errors: ' + window.__paragridErrors.join('; '); }
  var links = document.querySelectorAll('nav a[href^="#"]');
  if (!('IntersectionObserver' in window)) return;
  var obs = new IntersectionObserver(function (entries) {
    entries.forEach(function (en) { if (en.isIntersecting) {
      links.forEach(function (a) { a.classList.toggle('active', a.getAttribute('href') === '#' + en.target.id); });
    }});
  }, { rootMargin: '-20% 0px -70% 0px' });
  document.querySelectorAll('main section').forEach(function (s) { obs.observe(s); });
})();
"""


def render_page(title: str, subtitle: str, header_html: str, sections: list[Section],
                footer: str, holm: bool = False) -> str:
    nav = "".join(f'<a href="#{s.id}">{esc(s.title)}</a>' for s in sections)
    body_class = ' class="holm"' if holm else ""
    body = "".join(
        f'<section id="{s.id}"><h2>{esc(s.title)}</h2><p class="explain">{s.explain}</p>'
        + "".join(s.body) + "</section>" for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style>"
        f"<script>{ERROR_HOOK}</script>"
        f"<script>{get_plotlyjs()}</script></head><body{body_class}>"
        f'<nav><div class="brand">paragrid</div><div class="sub">{esc(subtitle)}</div>{nav}</nav>'
        f'<main><div id="js-errors" class="warn" hidden></div>{header_html}{body}'
        f"<footer>{footer}</footer></main><script>{TAIL_JS}</script></body></html>\n"
    )


def write_atomic(path: Path, text: str) -> Path:
    """Write via a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
