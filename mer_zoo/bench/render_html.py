"""``leaderboard.html``: one static page (no server, no network) with the tables, fold spreads and command.

Plots are inline SVG; the stylesheet is inline and the tables scroll sideways on a narrow screen.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from mer_zoo.bench.render_md import TEST_NAME, cell, vs_text

__all__ = ["fold_spread_svg", "leaderboard_html"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem;color:#222}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem}td,th{padding:.25rem .5rem;
border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}td.model,th.model{text-align:left}
tr.incomplete td{color:#999}code{background:#f4f4f4;padding:.1rem .3rem;word-break:break-all}
svg{max-width:100%;height:auto}@media(max-width:40rem){body{padding:.5rem}table{font-size:.75rem}}"""


def fold_spread_svg(values: Mapping[str, Sequence[float]], label: str) -> str:
    """An inline SVG strip plot: one row per model, a dot per fold and a bar at the mean."""
    rows = list(values.items())
    allv = [v for _, vs in rows for v in vs]
    low, high = (min(allv), max(allv)) if allv else (0.0, 1.0)
    span = (high - low) or 1.0
    width, left, step = 600, 140, 22

    def x(v: float) -> float:
        return left + (v - low) / span * (width - left - 20)

    parts = [f'<svg viewBox="0 0 {width} {step * len(rows) + 40}" role="img" aria-label="{html.escape(label)}">']
    for i, (model, vs) in enumerate(rows):
        y = 20 + i * step
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end" font-size="12">{html.escape(model)}</text>')
        parts += [f'<circle cx="{x(v):.1f}" cy="{y}" r="4" fill="#3b6ea5" opacity=".7"/>' for v in vs]
        if vs:
            m = x(sum(vs) / len(vs))
            parts.append(
                f'<line x1="{m:.1f}" x2="{m:.1f}" y1="{y - 8}" y2="{y + 8}" stroke="#c0392b" stroke-width="2"/>'
            )
    y = 20 + len(rows) * step
    parts.append(f'<text x="{left}" y="{y + 10}" font-size="11">{low:.4g}</text>')
    parts.append(f'<text x="{width - 20}" y="{y + 10}" font-size="11" text-anchor="end">{high:.4g}</text>')
    parts.append(f'<text x="{(left + width) / 2}" y="{y + 10}" font-size="11" text-anchor="middle">'
                 f"{html.escape(label)} per fold (dots), mean (bar)</text></svg>")  # fmt: skip
    return "".join(parts)


def _table(group: Mapping[str, Any]) -> str:
    models = sorted(group["models"].items(), key=lambda kv: kv[1]["rank"])
    names = list(models[0][1]["figures"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    out = [f'<div class="scroll"><table><tr><th>rank</th><th class="model">model</th>{head}'
           "<th>vs best</th><th>vs mean</th><th>folds</th></tr>"]  # fmt: skip
    for model, row in models:
        cls = "" if row["complete"] else ' class="incomplete"'
        figures = "".join(f"<td>{html.escape(cell(row['figures'][n]))}</td>" for n in names)
        folds = f"{row['folds_done']}" + ("" if row["complete"] else " (incomplete)")
        out.append(f'<tr{cls} data-model="{html.escape(model)}"><td>{row["rank"]}</td>'
                   f'<td class="model">{html.escape(model)}</td>{figures}'
                   f"<td>{html.escape(vs_text(row['vs_best']))}</td><td>{html.escape(vs_text(row['vs_mean']))}</td>"
                   f"<td>{folds}</td></tr>")  # fmt: skip
    return "".join(out) + "</table></div>"


def leaderboard_html(board: Mapping[str, Any]) -> str:
    """The whole bench page as one self-contained HTML string."""
    body = [f"<h1>mer-zoo bench</h1><p>Command: <code>{html.escape(board['command'])}</code></p>",
            f"<p>Store {html.escape(str(board['store']['path']))} (fingerprint {board['store']['fingerprint']}); "
            f"mer-zoo {board['versions']['mer_zoo']}. Differences: {html.escape(TEST_NAME)}; lower is better; "
            "rank 1 is the best and every model whose interval against it holds zero (a tie).</p>"]  # fmt: skip
    for group in board["groups"]:
        body.append(f"<h2>task {html.escape(group['task'])}, set {html.escape(group['set'])}</h2>")
        body.append(_table(group))
        spread = {m: r["rank_values"] for m, r in group["models"].items()}
        body.append(fold_spread_svg(spread, group["rank_by"]))
    if board["skipped"]:
        texts = (f"{s['model']} x {s['task']} x {s['set']}: {s['reason']}" for s in board["skipped"])
        items = "".join(f"<li>{html.escape(t)}</li>" for t in texts)
        body.append(f"<h2>skipped</h2><ul>{items}</ul>")
    if board["missing"]:
        items = "".join(f"<li>{html.escape(k)}</li>" for k in board["missing"])
        body.append(f"<h2>missing (not run within --max-minutes)</h2><ul>{items}</ul>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mer-zoo bench</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
