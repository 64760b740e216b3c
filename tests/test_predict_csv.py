"""predict's CSV: a file's rows in one write; a rerun keeps whole files only, and one kind of line ending."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mer_zoo.errors import InputError
from mer_zoo.pipeline.predict_csv import PredictionCsv

Cli = Callable[[list[Any]], int]
COLUMNS = ["file", "window", "start_s", "end_s", "arousal", "valence", "silent", "n_windows"]


def _rows(name: str, n: int) -> pd.DataFrame:
    return pd.DataFrame({"file": name, "window": range(n), "start_s": [5.0 * i for i in range(n)],
                         "end_s": [5.0 * i + 5 for i in range(n)], "arousal": 0.1, "valence": -0.2,
                         "silent": [i == 0 for i in range(n)], "n_windows": n})  # fmt: skip


def _written(out: Path) -> Path:
    with PredictionCsv(out, COLUMNS, lambda n: n) as csv:
        assert csv.done == set()
        csv.append(_rows("a, with a comma.mp3", 3))
        csv.append(_rows("b.mp3", 4))
    return out


def test_a_row_cut_mid_write_drops_its_file_whole(tmp_path: Path) -> None:
    out = _written(tmp_path / "p.csv")
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) - 25])  # the last write stopped inside b.mp3's last row
    csv = PredictionCsv(out, COLUMNS, lambda n: n)
    csv.close()
    assert csv.done == {"a, with a comma.mp3"}
    assert csv.repair.bad_rows == 1 and csv.repair.cut_files == ["b.mp3"]
    assert "dropped 1 rows that did not parse and the rows of 1 files cut short" in csv.repair.note(out)
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and set(table.file) == {"a, with a comma.mp3"} and len(table) == 3
    assert out.read_bytes() == whole[: whole.index(b"b.mp3")]  # a's rows kept byte for byte


def test_a_cut_on_a_row_boundary_is_caught_by_the_row_count(tmp_path: Path) -> None:
    out = _written(tmp_path / "p.csv")
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:-1]))  # b.mp3 lost its last row, the file still ends in a newline
    with PredictionCsv(out, COLUMNS, lambda n: n) as csv:
        assert csv.done == {"a, with a comma.mp3"} and csv.repair.cut_files == ["b.mp3"] and csv.repair.bad_rows == 0


def test_rows_that_do_not_parse_are_dropped_and_line_endings_made_one(tmp_path: Path) -> None:
    out = _written(tmp_path / "p.csv")
    text = out.read_text()
    out.write_bytes((text.replace("\n", "\r\n", 2) + "b.mp3,x,oops\n").encode())  # CRLF from an old run, a stray row
    with PredictionCsv(out, COLUMNS, lambda n: n) as csv:
        assert csv.done == {"a, with a comma.mp3", "b.mp3"} and csv.repair.bad_rows == 1
        csv.append(_rows("c.mp3", 2))
    data = out.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    assert pd.read_csv(out).groupby("file").size().to_dict() == {"a, with a comma.mp3": 3, "b.mp3": 4, "c.mp3": 2}


def test_a_csv_of_other_columns_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    out.write_text("file,n_windows,arousal,valence\nx.mp3,2,0.1,0.2\n")
    with pytest.raises(InputError, match=r"holds the columns file, n_windows, arousal, valence, not this run's"):
        PredictionCsv(out, COLUMNS, lambda n: n)
    assert out.read_text() == "file,n_windows,arousal,valence\nx.mp3,2,0.1,0.2\n"


def test_predict_resumes_a_csv_cut_mid_row_to_the_same_table(
    cli: Cli, cnn_run: Path, demo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    songs = sorted((demo_root / "DEAM_audio/MEMD_audio").glob("*.mp3"))[:2]
    out = tmp_path / "predictions.csv"
    args = ["predict", cnn_run, *songs, "--out", out, "--no-progress", "--device", "cpu", "--workers", "1"]
    assert cli(args) == 0
    first = pd.read_csv(out)
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) - 30])  # killed inside the last file's write
    capsys.readouterr()
    assert cli(args) == 0
    stdout = capsys.readouterr().out
    assert "dropped 1 rows that did not parse and the rows of 1 files cut short (predicted again)" in stdout
    assert "1 files were already predicted" in stdout
    pd.testing.assert_frame_equal(pd.read_csv(out), first)
    assert b"\r" not in out.read_bytes()
