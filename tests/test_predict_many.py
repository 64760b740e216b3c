"""`mer-zoo predict` at scale: folders, globs and lists in; parallel extraction; a CSV streamed and resumed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mer_zoo.errors import InputError
from mer_zoo.pipeline.predict_many import collect_audio

Cli = Callable[[list[Any]], int]


@pytest.fixture(scope="module")
def music(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five demo songs in nested folders, plus a corrupt file and a text file."""
    root = tmp_path_factory.mktemp("music")
    songs = sorted((demo_root / "DEAM_audio/MEMD_audio").glob("*.mp3"))[:5]
    for i, song in enumerate(songs):
        folder = root / ("a" if i < 3 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(song, folder / song.name)
    (root / "b/broken.mp3").write_bytes(b"not an mp3 at all" * 50)
    (root / "notes.txt").write_text("not audio")
    return root


def test_inputs_are_files_folders_globs_and_lists(music: Path, tmp_path: Path) -> None:
    every = collect_audio([music])
    assert len(every) == 6 and all(p.suffix == ".mp3" for p in every)  # the text file is not audio
    listed = tmp_path / "list.txt"
    listed.write_text(f"# two songs\n{every[0]}\n{every[1].relative_to(tmp_path.parent) if False else every[1]}\n")
    assert collect_audio([f"@{listed}"]) == every[:2]
    assert collect_audio([str(music / "a" / "*.mp3"), every[0]]) == sorted((music / "a").glob("*.mp3"))
    for bad, message in ((music / "nope.mp3", "no such audio file"), (str(music / "*.ogg"), "matches no file"),
                         (f"@{tmp_path / 'none.txt'}", "no such list file")):  # fmt: skip
        with pytest.raises(InputError, match=message):
            collect_audio([bad])


def test_a_folder_is_predicted_in_parallel_bad_files_skipped_and_a_rerun_continues(
    cli: Cli, cnn_run: Path, music: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "predictions.csv"
    assert cli(["predict", cnn_run, music, "--out", out, "--workers", "2", "--no-progress", "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert len(errors) == 2  # one line for the bad file, one for the file that is not audio
    assert "error:" in errors[1] and "broken.mp3" in errors[1]
    assert errors[0].startswith(f"mer-zoo predict: skipped {music / 'notes.txt'}: no decoder opens it (")
    assert "1 skipped (not audio)" in captured.out
    table = pd.read_csv(out)
    columns = ["file", "window", "start_s", "end_s", "arousal", "valence", "silent", "n_windows"]
    assert table.file.nunique() == 5 and list(table.columns) == columns
    assert (table.groupby("file").n_windows.first() == table.groupby("file").size()).all()
    first = table.copy()

    # a crash while the last file's rows were being written: its rows are cut short
    rows = out.read_text().splitlines()
    last = table.file.iloc[-1]
    out.write_text("\n".join(rows[:-2]) + "\n")
    assert cli(["predict", cnn_run, music, "--out", out, "--no-progress", "--device", "cpu"]) == 1
    again = pd.read_csv(out)
    assert (again.file == last).sum() == (first.file == last).sum()  # the cut file was redone, whole
    assert again.file.nunique() == 5 and len(again) == len(first)
    merged = again.sort_values(["file", "window"]).reset_index(drop=True)
    expected = first.sort_values(["file", "window"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(merged, expected)


def test_a_worker_that_dies_fails_only_the_file_that_killed_it(
    cli: Cli, cnn_run: Path, music: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import crash_task

    import mer_zoo.pipeline.predict_many

    culprit = sorted((music / "a").glob("*.mp3"))[1]  # in a task with other files
    monkeypatch.setenv(crash_task.CRASHING_FILE, culprit.name)
    monkeypatch.setattr(mer_zoo.pipeline.predict_many, "extract_files", crash_task.crash_on_one_file)
    out = tmp_path / "predictions.csv"
    assert cli(["predict", cnn_run, music, "--out", out, "--workers", "1", "--no-progress", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert f"{culprit.name}: worker failed (KilledWorker" in err
    # Its task's other files were sent again one a task; at most one more file, queued on the
    # worker when the culprit killed it a second time, fails with it.
    assert err.count("worker failed") <= 2
    written = set(pd.read_csv(out).file)
    assert str(culprit) not in written and len(written) >= 4 - (err.count("worker failed") - 1)
