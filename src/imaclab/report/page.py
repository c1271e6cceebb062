"""Building blocks of a self-contained HTML page: headline cards, sortable tables, plots, images.

Everything the page needs is inside it: the style sheet, a few lines of plain JavaScript that
sort tables, plotly's JavaScript (from its wheel, only when the page has a plot) and the PNG
images (base64).  Nothing is fetched when the page is opened.
"""

from __future__ import annotations

import base64
import html
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaclab.report.format import format_value, label_of

#: rows of a table shown on the page; the rest stay in the CSV next to it
MAX_TABLE_ROWS = 300

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde2ea; --bg:#f6f8fb; --accent:#2f5fb3; --bad:#b3261e; --ok:#1e7b3a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0; background: var(--bg); }
header.top { background: #1f2a44; color: #fff; padding: 14px 28px; }
header.top h1 { margin: 0; font-size: 20px; font-weight: 600; }
header.top .meta { color: #c7d0e0; font-size: 12.5px; margin-top: 4px; }
main { padding: 12px 28px 40px; max-width: 1500px; }
nav.toc { font-size: 13px; margin: 8px 0 4px; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; }
section.run { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 18px 16px;
              margin: 14px 0; }
section.run section.run { background: #fbfcfe; }
section.run > h2, section.run > h3 { margin: 2px 0 2px; font-size: 17px; }
section.run section.run > h3 { font-size: 15px; }
.kind { font-size: 12px; color: var(--muted); font-weight: normal; margin-left: 6px; }
.runmeta { color: var(--muted); font-size: 12px; margin-bottom: 8px; }
.headlines { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 10px; }
.headline { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; min-width: 130px; background: #fff; }
.headline .label { color: var(--muted); font-size: 12px; }
.headline .value { font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
h4 { margin: 14px 0 6px; font-size: 14px; }
.tablewrap { max-height: 460px; overflow: auto; border: 1px solid var(--line); border-radius: 6px; }
table.data { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; width: max-content;
             min-width: 100%; }
table.data th, table.data td { padding: 3px 9px; border-bottom: 1px solid #edf0f5; white-space: nowrap; }
table.data th { position: sticky; top: 0; background: #eef2f8; text-align: left; cursor: pointer; user-select: none; }
table.data th.num, table.data td.num { text-align: right; }
table.data th[aria-sort=ascending]::after { content: " ▲"; font-size: 10px; }
table.data th[aria-sort=descending]::after { content: " ▼"; font-size: 10px; }
table.data tr:hover td { background: #f3f6fb; }
tr.failed td { color: var(--bad); }
.note { color: var(--muted); font-size: 12px; margin: 4px 0; }
.warn { color: #8a5300; }
.error { color: var(--bad); font-weight: 600; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 10px; }
.plot { border: 1px solid var(--line); border-radius: 6px; padding: 4px; background: #fff; min-height: 380px; }
.images { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 10px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px; background: #fff; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 12px; text-align: center; }
details { margin: 6px 0; }
details > summary { cursor: pointer; color: var(--accent); }
pre.config { background: #f4f6fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; font-size: 12px;
             max-height: 420px; overflow: auto; }
.progress { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: #e7ebf2; margin: 6px 0;
            max-width: 640px; }
.progress .ok { background: #3b8f55; } .progress .failed { background: #c9483f; }
.progress .running { background: #e0a526; }
a { color: var(--accent); }
"""

#: click a header to sort by that column (numbers by value, text alphabetically); click again to reverse
SORT_JS = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-v');
    if (v === null) v = cell.textContent.trim();
    var n = parseFloat(v);
    return (v !== '' && isFinite(n) && String(n) !== 'NaN' && /^[-+]?[0-9.]/.test(v)) ? n : v.toLowerCase();
  }
  function sortBy(table, th) {
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index]), y = key(b.cells[index]);
      if (typeof x === 'number' && typeof y === 'number') return dir * (x - y);
      if (typeof x === 'number') return -dir;
      if (typeof y === 'number') return dir;
      return dir * (x < y ? -1 : x > y ? 1 : 0);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  window.addEventListener('load', function () {
    if (!window.Plotly) return;
    document.querySelectorAll('.plotly-graph-div').forEach(function (el) { Plotly.Plots.resize(el); });
  });
  document.querySelectorAll('table.data.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th) {
      th.addEventListener('click', function () { sortBy(table, th); });
    });
  });
})();
"""


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _raw(value: Any) -> str:
    """The value a table sorts by (a number as text, or the text itself)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else repr(value)
    return str(value)


@dataclass
class Headline:
    """One headline figure: its label, value, where it came from (file and dotted key) and how it reads."""

    label: str
    value: Any
    source: str = ""  # file name inside the run folder (summary.json, report.json, ...)
    key: str = ""  # dotted path of the value in that file
    text: str = ""  # formatted; from the key's unit when empty

    def html(self) -> str:
        text = self.text or format_value(self.key or self.label, self.value)
        return (
            f'<div class="headline" data-source="{esc(self.source)}" data-key="{esc(self.key)}" '
            f'data-value="{esc(_raw(self.value))}"><div class="label">{esc(self.label)}</div>'
            f'<div class="value">{esc(text)}</div></div>'
        )


def headlines_html(items: Sequence[Headline]) -> str:
    if not items:
        return ""
    return '<div class="headlines">' + "".join(h.html() for h in items) + "</div>"


def table_html(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    names: Sequence[str] | None = None,
    total: int | None = None,
    source: str = "",
    row_classes: Sequence[str] | None = None,
    formatted: bool = False,
) -> str:
    """A sortable table: cells formatted by their column's unit (``names`` are the unit-bearing column names)."""
    names = list(names or columns)
    rows = list(rows)
    shown = rows[:MAX_TABLE_ROWS]
    numeric = [
        all(isinstance(r[j], numbers.Real) or r[j] is None for r in shown)
        and any(isinstance(r[j], numbers.Real) for r in shown)
        for j in range(len(columns))
    ]
    head = "".join(
        f'<th class="{"num" if numeric[j] else "text"}" title="{esc(names[j])}">{esc(c)}</th>'
        for j, c in enumerate(columns)
    )
    body = []
    for i, row in enumerate(shown):
        cells = []
        for j, value in enumerate(row):
            text = str(value) if formatted else format_value(names[j], value)
            cls = "num" if numeric[j] else "text"
            cells.append(f'<td class="{cls}" data-v="{esc(_raw(value))}">{esc(text)}</td>')
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    count = total if total is not None else len(rows)
    note = ""
    if count > len(shown):
        note = (
            f'<p class="note">first {len(shown):,} of {count:,} rows{f"; all in {esc(source)}" if source else ""}</p>'
        )
    elif source:
        note = f'<p class="note">from {esc(source)}</p>'
    return (
        f'<h4>{esc(title)}</h4><div class="tablewrap"><table class="data sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def key_value_table(title: str, data: dict[str, Any]) -> str:
    rows = [(label_of(k), format_value(k, v)) for k, v in data.items()]
    return table_html(title, ("quantity", "value"), rows, formatted=True)


def image_html(path: Path, caption: str | None = None) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else f"image/{path.suffix.lower().lstrip('.')}"
    caption = caption or path.name
    return (
        f'<figure><img alt="{esc(caption)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


@dataclass
class Plots:
    """The interactive plots of a page: plotly figures as divs, plotly's JavaScript once per page."""

    count: int = 0
    used: bool = False
    prefix: str = "plot"
    divs: list[str] = field(default_factory=list)

    def figure(self, fig: Any, title: str = "") -> str:
        """One plotly figure as a div (its JavaScript comes once, at the end of the page)."""
        self.count += 1
        self.used = True
        fig.update_layout(
            template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=400, font={"size": 12}
        )
        if title:
            fig.update_layout(title={"text": title, "x": 0.02, "font": {"size": 14}})
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"{self.prefix}-{self.count}",
            config={"displaylogo": False, "responsive": True},
        )
        return f'<div class="plot">{div}</div>'


def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def page_html(title: str, meta: str, body: str, *, with_plotly: bool) -> str:
    script = f"<script>{plotly_js()}</script>" if with_plotly else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{script}</head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><div class="meta">{meta}</div></header>'
        f"<main>{body}</main><script>{SORT_JS}</script></body></html>\n"
    )
