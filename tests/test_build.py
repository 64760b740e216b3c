"""build-features: bad songs become per-song failures, usage errors stop before work, resume."""

from __future__ import annotations

import fcntl
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from stores import assert_same_store

from mer_zoo.cli import main
from mer_zoo.config import FeatureConfig
from mer_zoo.datasets.base import STATIC_COLUMNS
from mer_zoo.datasets.synthetic import AUDIO, DYNAMIC
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.pipeline.build import build_features
from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import SongFeatures, StoreWriter


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def song_ids(root: Path) -> list[int]:
    return sorted(int(p.stem) for p in (root / AUDIO).glob("*.mp3"))


def blank_annotations(root: Path, song_id: int) -> None:
    for name in ("arousal.csv", "valence.csv"):
        path = root / DYNAMIC / name
        lines = path.read_text().splitlines()
        width = lines[0].count(",")
        path.write_text(
            "\n".join(f"{song_id}" + "," * width if line.startswith(f"{song_id},") else line for line in lines) + "\n"
        )


@pytest.fixture(scope="module")
def bad_root(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    """A copy of the demo data with one song of each kind of bad input, and the expected reasons."""
    root = tmp_path_factory.mktemp("bad") / "deam"
    shutil.copytree(demo_root, root)
    ids = song_ids(root)
    audio = root / AUDIO
    corrupt, truncated, missing, empty, short, donor = ids[:6]
    (audio / f"{corrupt}.mp3").write_bytes(np.random.default_rng(0).bytes(60_000))
    data = (audio / f"{truncated}.mp3").read_bytes()
    (audio / f"{truncated}.mp3").write_bytes(data[: int(len(data) * 0.4)])
    (audio / f"{missing}.mp3").unlink()
    shutil.copy(audio / f"{donor}.mp3", audio / "3.mp3")  # audio but no annotation rows
    blank_annotations(root, empty)
    sf.write(audio / f"{short}.mp3", np.zeros((12 * 44100, 2), np.float32), 44100, format="MP3")
    expected = {
        corrupt: "cannot decode audio",
        truncated: "audio ends at",
        missing: "audio file not found",
        3: "no dynamic annotations",
        empty: "no dynamic annotations",
        short: "audio ends at 12.0",
    }
    return root, expected


def test_every_bad_input_is_a_per_song_failure_and_the_rest_is_built(
    bad_root: tuple[Path, dict[int, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, expected = bad_root
    out = tmp_path / "features.h5"
    code, stdout, _ = run_cli(
        ["build-features", "--root", root, "--out", out, "--workers", "2", "--no-progress"], capsys
    )
    assert code == 1
    with FeatureStore(out) as store:
        failures = dict(zip(store.failures.song_id, store.failures.reason))
        built = set(store.songs.song_id)
    assert sorted(failures) == sorted(expected)
    for song_id, cause in expected.items():
        assert cause in failures[song_id] and "\n" not in failures[song_id], failures[song_id]
        assert str(song_id) in stdout
    assert built == set(song_ids(root)) - set(expected)
    assert "songs failed" in stdout and "6" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--root", "{tmp}/nowhere"], "no such dataset folder"),
        (["--root", "{tmp}"], "no DEAM dynamic annotations found"),
        (["--root", "{demo}", "--dataset", "pmemo2"], "unknown dataset"),
        (["--root", "{demo}", "--out", "{tmp}/missing/features.h5"], "output folder does not exist"),
        (["--root", "{demo}", "--out", "{tmp}/file.txt/features.h5"], "output folder does not exist"),
        (["--root", "{demo}", "--out", "{tmp}"], "is a folder"),
        (["--root", "{demo}", "--n-mels", "0"], "n_mels must be positive"),
        (["--root", "{demo}", "--fmax", "30000"], "fmax"),
        (["--root", "{demo}", "--compression", "zstd"], "unknown compression"),
        (["--root", "{demo}", "--workers", "0"], "--workers must be at least 1"),
        (["--root", "{demo}", "--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_usage_errors_exit_2_before_any_work(
    args: list[str], message: str, demo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("")
    args = [a.format(tmp=tmp_path, demo=demo_root) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "features.h5")]
    code, _, stderr = run_cli(["build-features", *args, "--no-progress"], capsys)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1 and stderr.startswith("mer-zoo: error:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def _stopped_build(store: Path, partial: Path, root: Path, n_songs: int) -> None:
    """A .partial holding the first songs of ``store``, as a stopped build leaves it."""
    with FeatureStore(store) as done:
        songs, segments, frames = done.songs, done.segments, done.frames()
        writer = StoreWriter.create(
            partial,
            done.config,
            dataset="deam",
            source_root=str(root.resolve()),
            metadata_columns=done.metadata_columns,
        )
        for song in songs.iloc[:n_songs].itertuples():
            rows = slice(song.first_segment, song.first_segment + song.n_segments)
            writer.append_song(
                SongFeatures(
                    song_id=song.song_id,
                    path=song.path,
                    duration_s=song.duration_s,
                    features={"mel": done.mel[rows]},
                    start_s=segments.start_s.values[rows],
                    end_s=segments.end_s.values[rows],
                    arousal=segments.arousal.values[rows],
                    valence=segments.valence.values[rows],
                    static={name: getattr(song, name) for name in STATIC_COLUMNS},
                    metadata={name: getattr(song, name) for name in done.metadata_columns},
                    **{name: values[rows] for name, values in frames.items()},
                    silent=segments.silent.values[rows],
                    backend=song.backend,
                )
            )
    writer.close()


def test_a_stopped_build_resumes_to_the_same_store(demo_root: Path, demo_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    partial = tmp_path / "features.h5.partial"
    _stopped_build(demo_store, partial, demo_root, n_songs=5)
    summary = build_features(demo_root, out, workers=1, progress=False)
    assert summary.songs_resumed == 4 and summary.songs_this_run == summary.songs_total - 4  # the last one is redone
    assert summary.exit_code == 0 and summary.songs_ok == summary.songs_total
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.h5"]
    assert_same_store(out, demo_store)


def test_a_finished_build_stopped_before_its_rename_is_completed_by_the_same_command(
    demo_root: Path, demo_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "features.h5"  # an old store is unlinked just before the rename: the kill came between
    shutil.copy(demo_store, tmp_path / "features.h5.partial")
    summary = build_features(demo_root, out, workers=1, progress=False)
    assert summary.songs_resumed == summary.songs_total - 1 and summary.songs_this_run == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.h5"]
    assert_same_store(out, demo_store)


def test_a_complete_store_is_kept_refused_or_overwritten(demo_root: Path, demo_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    shutil.copy(demo_store, out)
    before = out.read_bytes()

    summary = build_features(demo_root, out, workers=1, progress=False)
    assert summary.up_to_date and summary.songs_this_run == 0 and "nothing to do" in summary.notes[-1]
    assert out.read_bytes() == before

    with pytest.raises(InputError, match=r"different settings: mel.n_mels=128 \(asked 64\).*--overwrite"):
        build_features(demo_root, out, workers=1, progress=False, config=FeatureConfig(n_mels=64))
    with pytest.raises(InputError, match="compression None"):
        build_features(demo_root, out, workers=1, progress=False, compression="lzf")
    assert out.read_bytes() == before

    summary = build_features(
        demo_root, out, workers=1, progress=False, overwrite=True, config=FeatureConfig(n_mels=64), compression="lzf"
    )
    assert not summary.up_to_date and summary.songs_this_run == summary.songs_total
    with FeatureStore(out) as store:
        assert store.mel.shape[1:] == (64, 431) and store.config.n_mels == 64
        assert store.mel.compression == "lzf" and store.mel_offsets() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.h5"]


def test_a_second_build_of_the_same_output_is_refused(demo_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.h5"
    with open(tmp_path / "features.h5.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(InputError, match="another build-features is writing it"):
            build_features(demo_root, out, workers=1, progress=False)
    assert not out.exists()


def test_a_local_cluster_that_cannot_start_is_a_one_line_error_and_leaves_no_store(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distributed

    def no_workers(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Nanny failed to start.")

    monkeypatch.setattr(distributed, "LocalCluster", no_workers)
    out = tmp_path / "features.h5"
    with pytest.raises(MerZooError, match=r"^the local Dask cluster of 2 workers did not start \(RuntimeError: Nanny"):
        build_features(demo_root, out, workers=2, progress=False)
    assert not out.exists()


def test_a_song_result_crosses_the_wire_with_its_arrays_as_frames_of_their_own() -> None:
    from distributed.protocol import deserialize, serialize

    import mer_zoo.pipeline.dask_worker  # noqa: F401  (registers the wire format, as on the client and workers)
    from mer_zoo.pipeline.extract import SongResult

    mel = np.arange(2 * 4 * 8, dtype=np.float32).reshape(2, 4, 8)
    features = SongFeatures(7, "7.mp3", 45.0, {"mel": mel}, np.array([15.0, 20.0]), np.array([20.0, 25.0]),
                            np.zeros(2), np.zeros(2))  # fmt: skip
    # The scheduler talks pickle protocol 4, which would copy every array into the pickle.
    header, frames = serialize([SongResult(7, features, "", {})], context={"pickle-protocol": 4})
    assert mel.nbytes in [memoryview(f).nbytes for f in frames]
    (back,) = deserialize(header, frames)
    assert back.song_id == 7 and np.array_equal(back.features.features["mel"], mel)
    assert np.array_equal(back.features.start_s, [15.0, 20.0])


@pytest.mark.parametrize(("songs", "threads"), [(1, 2), (7, 2), (200, 2), (800, 2), (1802, 2), (800, 1), (800, 16)])
def test_songs_go_out_in_order_in_batches_that_shrink_to_one_song(songs: int, threads: int) -> None:
    from mer_zoo.pipeline.dispatch import MAX_BATCH, split_batches

    todo = list(range(songs))
    batches = split_batches(todo, threads)
    sizes = [len(batch) for batch in batches]
    assert [song for batch in batches for song in batch] == todo
    assert all(1 <= size <= MAX_BATCH for size in sizes) and sizes == sorted(sizes, reverse=True)
    assert sizes[-1] == 1  # the last task is one song: workers finish within a song of each other
    # a batch never holds more than a quarter of one worker's share of the songs left
    starts = np.cumsum([0, *sizes[:-1]])
    assert all(size <= max(1, (songs - start) // (4 * threads)) for size, start in zip(sizes, starts))
    if songs >= 800 and threads <= 2:  # the Dask task cost is paid once for many songs
        assert len(batches) < songs / 6


def test_long_songs_go_fewer_to_a_task_so_results_in_flight_stay_bounded() -> None:
    from mer_zoo.pipeline.dispatch import MAX_BATCH, split_batches

    typical, long = 4_000_000, 10_000_000  # bytes: 2.5 typical songs
    sizes: list[int | None] = [typical] * 200 + [long] * 30 + [None] * 10 + [typical] * 200
    todo = list(range(len(sizes)))
    batches = split_batches(todo, 2, sizes)
    assert [song for batch in batches for song in batch] == todo
    work = [sum((sizes[i] or typical) / typical for i in batch) for batch in batches]
    assert all(w <= MAX_BATCH + 1 or len(b) == 1 for w, b in zip(work, batches))
    long_only = [b for b in batches if all(sizes[i] == long for i in b)]
    assert long_only and all(len(b) == 3 for b in long_only)  # 3 x 2.5 fits in MAX_BATCH + 1, 4 x 2.5 does not
    assert max(len(b) for b in batches[:20]) == MAX_BATCH  # typical songs fill a task
    # a size unknown here (audio on a remote worker's disk) counts as the median's: a typical song
    assert batches == split_batches(todo, 2, [typical if size is None else size for size in sizes])
    assert split_batches(todo, 2, [None] * len(todo)) == split_batches(todo, 2)
