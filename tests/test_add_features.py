"""add-features: a set added to a finished store for its windows, the other sets untouched, even under SIGKILL."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from stores import assert_same_store, datasets

from mer_zoo.datasets.synthetic import AUDIO
from mer_zoo.pipeline.add import SIDE_SUFFIX
from mer_zoo.pipeline.build import build_features
from mer_zoo.store.reader import FeatureStore

BIN = Path(sys.executable).parent
BASE_SETS = ["mel", "mfcc", "egemaps_functionals"]


@pytest.fixture(scope="module")
def base_store(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo data built with mel, mfcc and egemaps_functionals in one pass."""
    out = tmp_path_factory.mktemp("base") / "features.h5"
    summary = build_features(demo_root, out, sets=BASE_SETS, workers=2, progress=False)
    assert summary.exit_code == 0
    return out


def copy_of(store: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(store, folder / "features.h5"))


def same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == object:
        return a.shape == b.shape and a.tolist() == b.tolist()
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def printed(attrs: Any) -> dict[str, str]:
    """HDF5 attributes as text (a NaN frame rate equals itself)."""
    return {key: str(value) for key, value in attrs.items()}


def root_attrs(path: Path) -> dict[str, str]:
    with h5py.File(path, "r") as f:
        return printed(f.attrs)


@pytest.fixture(scope="module")
def with_chroma(base_store: Path, tmp_path_factory: pytest.TempPathFactory, cli: Callable[[list[Any]], int]) -> Path:
    """A copy of ``base_store`` after `mer-zoo add-features STORE --set chroma` (uninterrupted)."""
    store = copy_of(base_store, tmp_path_factory.mktemp("added"))
    assert cli(["add-features", store, "--set", "chroma", "--workers", "2", "--no-progress"]) == 0
    return store


def test_the_base_store_holds_three_sets_built_in_one_pass(base_store: Path) -> None:
    with FeatureStore(base_store) as store:
        assert store.sets == BASE_SETS
        assert [store.set_spec(name).kind for name in BASE_SETS] == ["image", "sequence", "vector"]
        assert store.data("mfcc").shape == (len(store), 60, 431)
        assert store.data("egemaps_functionals").shape == (len(store), 88)
        assert len(store.failures) == 0


def test_add_features_adds_chroma_and_leaves_every_other_byte_of_data_as_it_was(
    base_store: Path, with_chroma: Path, demo_root: Path, tmp_path: Path, cli: Callable[[list[Any]], int],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    before, after = datasets(base_store), datasets(with_chroma)
    assert sorted(after) == sorted([*before, "features/chroma/data"])
    for name, values in before.items():
        assert same_bytes(values, after[name]), name
    assert {k: v for k, v in root_attrs(with_chroma).items() if k != "sets"} == {
        k: v for k, v in root_attrs(base_store).items() if k != "sets"
    }
    with h5py.File(with_chroma, "r") as f, h5py.File(base_store, "r") as base:
        assert f.get("mel", getlink=True).path == "/features/mel/data"
        for name in BASE_SETS:  # the sets' own attributes and layout survive the copy too
            old, new = base[f"features/{name}/data"], f[f"features/{name}/data"]
            assert printed(new.attrs) == printed(old.attrs) and (new.chunks, new.maxshape) == (old.chunks, old.maxshape)
    with FeatureStore(with_chroma) as store:
        assert store.sets == [*BASE_SETS, "chroma"]
        assert store.set_spec("chroma").kind == "image" and store.offsets("chroma") is not None
        chroma = store.data("chroma")[:]
    assert sorted(p.name for p in with_chroma.parent.iterdir()) == ["features.h5"]
    # the same values a build computing chroma from the start writes for these windows
    built = tmp_path / "chroma.h5"
    build_features(demo_root, built, sets=["chroma"], workers=2, progress=False)
    with FeatureStore(built) as store:
        np.testing.assert_array_equal(store.data("chroma")[:], chroma)
    capsys.readouterr()
    assert cli(["info", with_chroma]) == 0
    assert "set chroma:  image 12 x 431 by chroma v1" in capsys.readouterr().out


def test_a_set_already_in_the_store_is_refused_unless_overwrite(
    base_store: Path, tmp_path: Path, cli: Callable[[list[Any]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_of(base_store, tmp_path)
    digest = sha256(store)
    assert cli(["add-features", store, "--set", "mfcc", "--no-progress"]) == 2
    assert "already has feature set mfcc; use --overwrite" in capsys.readouterr().err
    assert sha256(store) == digest
    assert cli(["add-features", store, "--set", "mfcc:n_mfcc=13", "--overwrite", "--no-progress"]) == 0
    with FeatureStore(store) as features:
        assert features.sets == BASE_SETS
        assert features.data("mfcc").shape[1:] == (39, 431)
        assert features.set_spec("mfcc").config["n_mfcc"] == 13
    before, after = datasets(base_store), datasets(store)
    assert all(same_bytes(before[n], after[n]) for n in before if not n.startswith("features/mfcc")), (
        "other sets changed"
    )


def test_a_song_whose_audio_is_gone_is_a_failure_and_the_others_get_the_set(
    demo_root: Path, tmp_path: Path, cli: Callable[[list[Any]], int]
) -> None:
    root = tmp_path / "deam"
    shutil.copytree(demo_root, root)
    store = tmp_path / "features.h5"
    build_features(root, store, workers=2, progress=False)
    with FeatureStore(store) as features:
        songs = features.songs
        gone = int(songs.song_id[1])
        mel_before = features.data("mel")[:]
    (root / AUDIO / f"{gone}.mp3").unlink()
    assert cli(["add-features", store, "--set", "spectral", "--no-progress"]) == 1
    with FeatureStore(store) as features:
        failures = features.failures
        assert failures.song_id.tolist() == [gone] and failures.set.tolist() == ["spectral"]
        assert "audio file not found" in failures.reason[0] and failures.path[0] == f"{AUDIO}/{gone}.mp3"
        assert len(features.songs) == len(songs)  # the song keeps its windows in mel
        rows = (features.segments.song_id == gone).to_numpy()
        spectral = features.data("spectral")[:]
        assert np.isnan(spectral[rows]).all() and np.isfinite(spectral[~rows]).all()
        np.testing.assert_array_equal(features.data("mel")[:], mel_before)


def committed_songs(side: Path) -> int:
    try:
        with h5py.File(side, "r", libver="latest", swmr=True) as f:
            return f["songs/song_id"].shape[0]
    except (OSError, KeyError):
        return 0


@pytest.mark.slow  # two adds of 12 songs and a killed one
def test_sigkill_mid_add_harms_nothing_and_the_rerun_equals_an_uninterrupted_add(
    base_store: Path, with_chroma: Path, tmp_path: Path
) -> None:
    store = copy_of(base_store, tmp_path / "killed")
    digest = sha256(store)
    command = [BIN / "mer-zoo", "add-features", store, "--set", "chroma", "--workers", "1", "--no-progress"]
    add = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    side = store.with_name(store.name + SIDE_SUFFIX)
    deadline = time.monotonic() + 90
    while committed_songs(side) < 3 and add.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(add.pid, signal.SIGKILL)  # the add, its Dask nanny and worker, all at once
    add.wait()
    assert add.returncode == -signal.SIGKILL, "the add finished before it could be killed"
    assert sha256(store) == digest, "the store changed before the add finished"
    with FeatureStore(store) as features:  # and it still reads as it did
        assert features.sets == BASE_SETS and np.isfinite(features.data("mfcc")[:]).all()
    assert 3 <= committed_songs(side) < 12
    store.with_name(store.name + ".partial").write_bytes(b"left by a kill during the final copy")

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert rerun.returncode == 0, rerun.stderr
    assert "songs done before this run" in rerun.stdout
    assert sorted(p.name for p in store.parent.iterdir()) == ["features.h5"]
    assert_same_store(store, with_chroma, attrs=True)
