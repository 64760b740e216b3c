"""A store knows its corpus: a rerun on a corpus grown or relabelled says what changed and refuses, or updates."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from audio_files import noise, write
from conftest import run_cli
from stores import assert_same_store

from mer_zoo.store import FeatureStore


def _labels(root: Path, n: int, edit: float = 0.0) -> None:
    rows = "".join(f"s{i}.flac,{3 + i + edit:.1f},{4 + i}\n" for i in range(1, n + 1))
    (root / "labels.csv").write_text("path,arousal,valence\n" + rows)


def _build(root: Path, out: Path, *flags: str) -> tuple[int, str, str]:
    args = ["build-features", "--root", root, "--dataset", "csv", "--labels", "labels.csv", "--scale", "1..9"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = run_cli([*args, "--out", out, "--workers", "1", "--no-progress", *flags])
    return code, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four 11-s songs, a labels CSV naming the first two, and the store built from them."""
    root = tmp_path_factory.mktemp("grown")
    for i in range(1, 5):
        write(root / f"s{i}.flac", noise(11, seed=i))
    _labels(root, 2)
    out = tmp_path_factory.mktemp("grown_store") / "features.h5"
    assert _build(root, out)[0] == 0
    return root, out


def test_a_grown_and_relabelled_corpus_is_named_and_refused(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    root, built = corpus
    out = tmp_path / "features.h5"
    shutil.copy(built, out)
    before = out.read_bytes()
    _labels(root, 4, edit=0.5)
    try:
        code, _, err = _build(root, out)
    finally:
        _labels(root, 2)
    assert code == 2 and err.count("\n") == 1
    assert "the corpus changed since it was built: 2 songs added (3, 4); 2 songs with edited labels (1, 2)" in err
    assert "use --update" in err and "--overwrite" in err
    assert out.read_bytes() == before
    code, stdout, _ = _build(root, out)  # the corpus as it was: nothing to do
    assert code == 0 and "nothing to do" in stdout and out.read_bytes() == before


def test_update_extracts_only_new_songs_and_rewrites_the_labels(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    root, built = corpus
    out = tmp_path / "features.h5"
    shutil.copy(built, out)
    _labels(root, 4, edit=0.5)
    (root / "s2.flac").touch()  # its audio "changed" (a new mtime): extracted again, not carried
    try:
        code, stdout, _ = _build(root, out, "--update")
        fresh = tmp_path / "fresh.h5"
        assert _build(root, fresh)[0] == 0
    finally:
        _labels(root, 2)
    assert code == 0
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip() for line in stdout.splitlines() if line.count("│") == 3
    }
    assert rows["songs extracted in this run"] == "3" and rows["songs built"] == "4"  # s2 (new audio), s3, s4
    assert "update: 1 songs carried over" in stdout
    with FeatureStore(out) as store:
        songs = store.songs.set_index("song_id")
        assert songs["arousal_mean"].to_dict() == {1: 4.5, 2: 5.5, 3: 6.5, 4: 7.5}
        assert np.array_equal(store.segments["arousal"], np.repeat([4.5, 5.5, 6.5, 7.5], 2))
    assert_same_store(out, fresh)  # the same store a fresh build of the new corpus makes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.h5", "fresh.h5"]
    code, stdout, _ = _build(root, out)  # the old corpus again: refused, and updated back
    assert code == 2
    assert _build(root, out, "--update")[0] == 0
    with FeatureStore(out) as store:
        assert sorted(store.songs.song_id) == [1, 2]  # the removed songs are gone


def test_overwrite_rebuilds_a_store_of_another_corpus(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    root, built = corpus
    out = tmp_path / "features.h5"
    shutil.copy(built, out)
    _labels(root, 3)
    try:
        code = _build(root, out, "--overwrite")[0]
    finally:
        _labels(root, 2)
    assert code == 0
    with FeatureStore(out) as store:
        assert sorted(store.songs.song_id) == [1, 2, 3]
        corpus_table, _ = store.corpus()
        assert sorted(corpus_table["song_id"]) == [1, 2, 3] and set(corpus_table["path"]) == {
            "s1.flac",
            "s2.flac",
            "s3.flac",
        }
