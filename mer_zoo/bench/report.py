"""``report.html`` for one run or one cv folder, from the bench's renderer.

The page holds the loss curves (each fold's, for a cv folder), the test and validation
figures next to the mean baseline's, the valence-arousal plane of the test songs' truth and
prediction, and the songs the model got most wrong. A cv folder (one with ``cv.json``)
pools its folds' test songs, each song tested once.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mer_zoo.bench.render_html import figure, page, table
from mer_zoo.bench.render_md import cell
from mer_zoo.bench.songs import pooled, scored_songs
from mer_zoo.bench.svg import curves_svg, spread_svg, va_plane_svg
from mer_zoo.errors import InputError
from mer_zoo.metrics import mean_std
from mer_zoo.tasks import get_task, lookup, ratio

__all__ = ["REPORT_FILE", "WORST_SONGS", "report", "report_html"]

REPORT_FILE = "report.html"
WORST_SONGS = 10


def _runs(folder: Path) -> tuple[list[Path], dict[str, Any] | None]:
    """The run folders a report covers, and ``cv.json`` when ``folder`` is a cv folder."""
    if (folder / "cv.json").exists():
        summary = json.loads((folder / "cv.json").read_text())
        return [folder / name for name in summary["runs"]], summary
    if (folder / "metrics.json").exists():
        return [folder], None
    raise InputError(f"{folder}: neither a finished run (metrics.json) nor a cv folder (cv.json)")


def _figures_table(task_name: str, metrics: Sequence[Mapping[str, Any]]) -> str:
    """Each of the task's figures (mean ± std over folds) on the test and validation parts, and vs baseline."""
    task = get_task(task_name)
    rows = []
    for name, path in (*task.columns, ("vs_baseline", "")):
        per_part = []
        for part in ("test", "val"):
            values = [ratio(task, m[part]) if not path else lookup(m[part], path) for m in metrics]
            per_part.append(cell(mean_std([float(v) for v in values if v is not None])))
        rows.append([name, *per_part])
    return table(["figure", "test (mean ± std over folds)", "validation"], rows)


def _worst(songs: pd.DataFrame, rank_by: str) -> str:
    """The songs with the largest error: truth and prediction of each."""
    worst = songs.sort_values("error", ascending=False).head(WORST_SONGS)
    rows = [[str(int(r.song_id)), f"{r.error:.4f}", f"{r.arousal_true:.3f}", f"{r.arousal_pred:.3f}",
             f"{r.valence_true:.3f}", f"{r.valence_pred:.3f}"] for r in worst.itertuples()]  # fmt: skip
    header = ["song", rank_by, "arousal true", "arousal predicted", "valence true", "valence predicted"]
    return table(header, rows)


def report_html(folder: Path, runs: Sequence[Path], summary: Mapping[str, Any] | None, device: str = "cpu") -> str:
    """The report page of ``runs`` (one run, or a cv folder's folds) as one self-contained HTML string."""
    metrics = [json.loads((r / "metrics.json").read_text()) for r in runs]
    first = metrics[0]
    task = get_task(first["task"])
    songs = pd.concat([scored_songs(r, device=device) for r in runs], ignore_index=True)
    histories = [pd.read_csv(r / "history.csv") for r in runs]
    what = f"{len(runs)}-fold cv" if summary else "run"
    curves = [
        figure(curves_svg(h["epoch"].tolist(), {"train": h["train_loss"].tolist(), "validation": h["val_loss"].tolist()},
                          f"loss per epoch: {r.name}"), f"Training and validation loss of {r.name}.")
        for r, h in zip(runs, histories, strict=True) if len(h) > 1
    ]  # fmt: skip
    truth = list(zip(songs["valence_true"], songs["arousal_true"], strict=True))
    predicted = list(zip(songs["valence_pred"], songs["arousal_pred"], strict=True))
    plots = [
        figure(va_plane_svg(truth, predicted, f"{first['model']}, {len(songs)} test songs"),
               "Valence-arousal plane of the test songs: truth and prediction of each."),
        figure(spread_svg({first["model"]: songs["error"].tolist()}, f"per-song {task.rank_by[0]}", box=True),
               "Per-song errors of the test songs: dots, quartile box, median (grey), mean (red)."),
    ]  # fmt: skip
    body = [
        f"<h1>mer-zoo report: {html.escape(first['model'])} ({html.escape(what)})</h1>",
        f"<p>Folder <code>{html.escape(str(folder))}</code>; task {html.escape(task.name)} "
        f"({html.escape(task.description)}), scale {html.escape(str(first['scale']))}, store "
        f"<code>{html.escape(str(first['features']))}</code>; {len(songs)} test songs, pooled test "
        f"{html.escape(task.rank_by[0])} {pooled(songs):.4f}.</p>",
        "<h2>figures, with the mean baseline</h2>",
        _figures_table(task.name, metrics),
        f'<h2>test songs</h2><div class="plots">{"".join(plots)}</div>',
        f"<h2>the {WORST_SONGS} worst songs</h2>",
        _worst(songs, task.rank_by[0]),
    ]  # fmt: skip
    if curves:
        body.append(f'<h2>curves</h2><div class="plots">{"".join(curves)}</div>')
    return page(f"mer-zoo report: {first['model']}", body)


def report(run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, *, device: str = "cpu") -> Path:
    """Write the report page of a run or cv folder (default ``RUN_DIR/report.html``) and return its path."""
    folder = Path(run_dir)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such run or cv folder")
    runs, summary = _runs(folder)
    path = Path(out) if out is not None else folder / REPORT_FILE
    path.write_text(report_html(folder, runs, summary, device))
    return path
