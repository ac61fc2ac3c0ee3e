"""``--format html``: one self-contained page, a chart of chosen columns over time and the table.

No scripts, fonts or images from anywhere: the chart is inline SVG and the styles are
inline CSS, so the file opens the same offline, from a mail attachment or a bucket. Every
text that came from events is escaped.
"""

from __future__ import annotations

import html
from typing import Any

from streamer.report.render import cell

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563")
W, H = 960, 340
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 20, 60
STYLE = """
body{font:14px system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;
background:#fff}h1{font-size:20px;margin:0 0 4px}p.meta{color:#4b5563;margin:0 0 16px}
table{border-collapse:collapse;margin-top:16px}th,td{border:1px solid #d1d5db;padding:4px 8px}
th{background:#f3f4f6;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{font-weight:600;background:#f9fafb}.chart{border:1px solid #e5e7eb}
"""


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def chart_svg(series: list[tuple[str, dict[str, Any]]], columns: list[str]) -> str:
    """A line chart: one line per column over the time buckets of ``series``."""
    values = [float(point[c] or 0) for _label, point in series for c in columns]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    hi = hi if hi > lo else lo + 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    n = len(series)

    def x(i: int) -> float:
        return LEFT + (pw / 2 if n == 1 else pw * i / (n - 1))

    def y(v: float) -> float:
        return TOP + ph * (hi - v) / (hi - lo)

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" role="img" aria-label="report columns over time">',
           f'<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>']  # fmt: skip
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        v = lo + (hi - lo) * frac
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                   f'stroke="#e5e7eb"/><text x="{LEFT - 6}" y="{y(v) + 4:.1f}" font-size="11" '
                   f'text-anchor="end" fill="#4b5563">{_fmt(v)}</text>')  # fmt: skip
    step = max(1, n // 8)
    for i, (label, _point) in enumerate(series):
        if i % step == 0 or i == n - 1:
            out.append(
                f'<text x="{x(i):.1f}" y="{H - BOTTOM + 16}" font-size="11" '
                f'text-anchor="middle" fill="#4b5563">{html.escape(label)}</text>'
            )
    for k, name in enumerate(columns):
        color = PALETTE[k % len(PALETTE)]
        ys = [y(float(p[name] or 0)) for _l, p in series]
        pts = " ".join(f"{x(i):.1f},{v:.1f}" for i, v in enumerate(ys))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="{pts}"/>')
        if n <= 60:
            out.extend(
                f'<circle cx="{x(i):.1f}" cy="{v:.1f}" r="3" fill="{color}"/>'
                for i, v in enumerate(ys)
            )
        lx = LEFT + k * 180
        out.append(
            f'<rect x="{lx}" y="{H - 22}" width="12" height="12" fill="{color}"/>'
            f'<text x="{lx + 18}" y="{H - 12}" font-size="12">{html.escape(name)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _table(rows: list[dict[str, Any]], total: dict[str, Any], columns: list[str],
           group_by: list[str]) -> str:  # fmt: skip
    head = "".join(f"<th>{html.escape(h)}</th>" for h in [*group_by, *columns])
    body = []
    for row in rows:
        groups = "".join(
            f"<td>{html.escape('(none)' if v is None else str(v))}</td>"
            for v in row["group"].values()
        )
        cells = "".join(f'<td class="n">{html.escape(cell(c, row[c]))}</td>' for c in columns)
        body.append(f"<tr>{groups}{cells}</tr>")
    label = "".join(["<td>total</td>", *["<td></td>"] * (len(group_by) - 1)]) if group_by else ""
    cells = "".join(f'<td class="n">{html.escape(cell(c, total[c]))}</td>' for c in columns)
    body.append(f'<tr class="total">{label}{cells}</tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(
    title: str,
    meta: str,
    series: list[tuple[str, dict[str, Any]]],
    chart_columns: list[str],
    table: tuple[list[dict[str, Any]], dict[str, Any], list[str], list[str]],
) -> str:
    """The whole document."""
    chart = chart_svg(series, chart_columns) if series else "<p>No events in the range.</p>"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"meta\">{html.escape(meta)}</p>"
        f"{chart}{_table(*table)}</body></html>\n"
    )
