"""The pages: one static HTML file each (no server, no network), the stylesheet and plots inline.

:func:`page` and :func:`table` are the shell every page shares (``leaderboard.html`` here,
``report.html`` in :mod:`mer_zoo.bench.report`); tables scroll sideways on a phone and
plots scale to the screen's width.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from mer_zoo.bench.render_md import group_title, table_rows
from mer_zoo.bench.svg import spread_svg, va_plane_svg

__all__ = ["leaderboard_html", "page", "table"]

_STYLE = """body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem;color:#222;
line-height:1.4}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}h3{font-size:1rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}table{border-collapse:collapse;font-size:.85rem}
td,th{padding:.25rem .5rem;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
td.name,th.name{text-align:left;position:sticky;left:0;background:#fff}tr.incomplete td{color:#999}
code{background:#f4f4f4;padding:.1rem .3rem;word-break:break-all}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots figure{margin:0;flex:1 1 22rem;min-width:0}
figcaption{font-size:.8rem;color:#555}svg{width:100%;height:auto;display:block}svg.square{max-width:28rem}
@media(max-width:40rem){body{padding:.5rem}table{font-size:.75rem}h1{font-size:1.2rem}}"""


def page(title: str, body: Sequence[str]) -> str:
    """A whole self-contained HTML document: the inline stylesheet, ``title`` and the ``body`` parts."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]], attrs: Sequence[str] | None = None) -> str:
    """An HTML table; the column named ``model`` (or the first) stays in view when it scrolls."""
    name = header.index("model") if "model" in header else 0
    th = "".join(f"<th{' class=name' if i == name else ''}>{html.escape(h)}</th>" for i, h in enumerate(header))
    out = [f'<div class="scroll"><table><tr>{th}</tr>']
    for r, cells in enumerate(rows):
        tds = "".join(f"<td{' class=name' if i == name else ''}>{html.escape(c)}</td>" for i, c in enumerate(cells))
        out.append(f"<tr{attrs[r] if attrs else ''}>{tds}</tr>")
    return "".join(out) + "</table></div>"


def figure(svg: str, caption: str) -> str:
    """A plot with its caption."""
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _group_html(group: Mapping[str, Any]) -> str:
    header, rows = table_rows(group)
    attrs = [f' data-model="{html.escape(m)}"' + ("" if row["complete"] else ' class="incomplete"')
             for m, row, _ in rows]  # fmt: skip
    order = [m for m, _, _ in rows if group["models"][m]["folds_done"]]
    folds = {m: group["models"][m]["rank_values"] for m in order}
    errors = {m: [e for _, e in group["models"][m]["song_errors"]] for m in order}
    best = group["best_predictions"]
    truth = [(r["valence_true"], r["arousal_true"]) for r in best]
    predicted = [(r["valence_pred"], r["arousal_pred"]) for r in best]
    plots = [
        figure(spread_svg(folds, f"test {group['rank_by']} per fold"),
               f"Fold spread: each model's test {group['rank_by']} per fold (dots) and their mean (bar)."),
        figure(spread_svg(errors, f"per-song {group['rank_by']}", box=True),
               "Per-song errors over every fold's test songs: dots, quartile box, median (grey), mean (red)."),
        figure(va_plane_svg(truth, predicted, f"{group['best']}, {len(best)} test songs"),
               f"Valence-arousal plane of the best model ({group['best']}): each test song's truth and "
               "prediction, every fold's test part together (each song tested once per seed)."),
    ]  # fmt: skip
    return (f"<h2>{html.escape(group_title(group))}</h2>{table(header, [c for _, _, c in rows], attrs)}"
            f'<div class="plots">{"".join(plots)}</div>')  # fmt: skip


def _listing(title: str, items: Sequence[str]) -> str:
    return f"<h2>{html.escape(title)}</h2><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>"


def leaderboard_html(board: Mapping[str, Any]) -> str:
    """The whole bench page as one self-contained HTML string."""
    store = board["store"]
    body = [
        "<h1>mer-zoo bench</h1>",
        f"<p>Command: <code>{html.escape(board['command'])}</code></p>",
        f"<p>Store <code>{html.escape(str(store['path']))}</code> ({html.escape(str(store['dataset']))}, "
        f"fingerprint {html.escape(store['fingerprint'])}); mer-zoo {html.escape(board['versions']['mer_zoo'])}, "
        f"Python {html.escape(board['versions']['python'])}.</p>",
        "<p>Every figure is on its task's scale; lower is better for the ranking figure. “vs best” and "
        f"“vs mean” are the model minus the other, {html.escape(board['test'])}. Rank 1 is the best model and "
        "every model whose interval against it holds zero (a tie); ranks compare models only inside one "
        "task, set and split.</p>",
    ]  # fmt: skip
    body += [_group_html(group) for group in board["groups"]]
    if board["not_started"]:
        body.append(_listing("not started", [f"task {g['task']}, set {g['set']}, split {g['split']}"
                                             for g in board["not_started"]]))  # fmt: skip
    if board["skipped"]:
        body.append(_listing("skipped", [f"{s['model']} x {s['task']} x {s['set']}: {s['reason']}"
                                         for s in board["skipped"]]))  # fmt: skip
    if board["missing"]:
        body.append(_listing("missing (not run within --max-minutes; run the same command again)", board["missing"]))
    return page("mer-zoo bench", body)
