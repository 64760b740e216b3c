"""What a study shows: a line per finished trial, the trials table (``trials.csv``), the header."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["FINISHED", "params_text", "trial_line", "trial_record", "trials_frame", "trials_table"]

FINISHED = ("COMPLETE", "PRUNED")  # the trials that count towards --trials


def trial_record(trial: Any) -> dict[str, Any]:
    """An Optuna ``FrozenTrial`` as plain values: number, state, value, params, seconds, folds, error."""
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    attrs = trial.user_attrs
    return {
        "number": int(trial.number),
        "state": trial.state.name,
        "value": trial.value,
        "params": dict(trial.params),
        "seconds": seconds,
        "folds": len(attrs.get("fold_values", [])),
        "error": attrs.get("error"),
    }


def params_text(params: Mapping[str, Any]) -> str:
    """``lr=0.003, batch-size=16``: a trial's values, floats to 4 significant digits."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def trial_line(record: Mapping[str, Any], figure: str, folds: int) -> str:
    """One line for a finished trial: its value (or why it stopped), its parameters, its time."""
    seconds = "" if record["seconds"] is None else f"  ({record['seconds']:.1f} s)"
    state = record["state"]
    if state == "COMPLETE":
        what = f"mean {figure} {record['value']:.4f}"
    elif state == "PRUNED":
        what = f"pruned after fold {record['folds']} of {folds}"
    else:
        what = f"{state.lower()}{': ' + record['error'] if record.get('error') else ''}"
    return f"trial {record['number']}: {what}  {params_text(record['params'])}{seconds}"


def trials_frame(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> pd.DataFrame:
    """One row per trial: number, state, value, each tuned option, folds run, seconds (``trials.csv``)."""
    rows = [{"trial": r["number"], "state": r["state"], "value": r["value"],
             **{n: r["params"].get(n) for n in names}, "folds": r["folds"], "seconds": r["seconds"]}
            for r in records]  # fmt: skip
    return pd.DataFrame(rows, columns=["trial", "state", "value", *names, "folds", "seconds"])


def trials_table(frame: pd.DataFrame, figure: str, best: int | None) -> Any:
    """The trials as a rich table, the best one marked."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, caption=f"value = mean {figure} over the folds' held-out songs; * best")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "state" else "right")
    for row in frame.itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, row):
            if value is None or (isinstance(value, float) and pd.isna(value)):
                cells.append("-")
            elif column == "trial":
                cells.append(f"{value}{' *' if value == best else ''}")
            elif isinstance(value, float):
                cells.append(f"{value:.1f}" if column == "seconds" else f"{value:.4g}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table
