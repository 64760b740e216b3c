"""build-features as users run it: killed with SIGKILL part-way, and on a real Dask cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from stores import assert_same_store

from mer_zoo.datasets.synthetic import replicate_deam
from mer_zoo.pipeline.build import build_features
from mer_zoo.store.reader import FeatureStore

BIN = Path(sys.executable).parent


def committed_songs(partial: Path) -> int:
    try:
        with h5py.File(partial, "r", libver="latest", swmr=True) as f:
            return f["songs/song_id"].shape[0]
    except (OSError, KeyError):
        return 0


@pytest.mark.slow  # three real builds of 72 songs
def test_sigkill_part_way_then_rerun_gives_the_uninterrupted_store(demo_root: Path, tmp_path: Path) -> None:
    root = replicate_deam(demo_root, tmp_path / "deam", copies=6)
    out = tmp_path / "killed" / "features.h5"
    out.parent.mkdir()
    command = [BIN / "mer-zoo", "build-features", "--root", root, "--out", out, "--workers", "1", "--no-progress"]
    build = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = out.with_name(out.name + ".partial")
    deadline = time.monotonic() + 60
    while committed_songs(partial) < 12 and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(build.pid, signal.SIGKILL)  # the build, its Dask nanny and worker, all at once
    build.wait()
    assert build.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    assert not out.exists() and 12 <= committed_songs(partial) < 72

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "songs done before this run" in rerun.stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["features.h5"]

    uninterrupted = tmp_path / "features.h5"
    build_features(root, uninterrupted, workers=2, progress=False)
    assert_same_store(out, uninterrupted, attrs=True)
    with FeatureStore(out) as store:
        assert len(store.songs) == 72 and len(store.failures) == 0


def test_a_running_dask_scheduler_builds_the_same_store(
    dask_cluster: str, demo_root: Path, demo_store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "features.h5"
    summary = build_features(demo_root, out, scheduler=dask_cluster, progress=False)
    assert summary.exit_code == 0 and summary.songs_this_run == summary.songs_total
    assert_same_store(out, demo_store, attrs=True)


def test_local_workers_re_importing_the_mer_zoo_script_import_no_cli_framework() -> None:
    # Spawned Dask workers run the `mer-zoo` script as __mp_main__: `from mer_zoo.cli import main`
    # must not pull in typer (50 ms per worker, on the critical path of every build's start).
    script = BIN / "mer-zoo"
    code = f"import runpy, sys; runpy.run_path({str(script)!r}, run_name='__mp_main__'); print('typer' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_local_workers_are_forked_from_a_server_with_their_thread_limits_stopped_with_the_cluster(
    demo_root: Path,
) -> None:
    from multiprocessing import forkserver

    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets import read_corpus
    from mer_zoo.pipeline.build import make_extractors, plan_job
    from mer_zoo.pipeline.cluster import dask_client
    from mer_zoo.pipeline.workers import THREAD_VARIABLES, start_fork_server

    before = dict(os.environ)
    assert start_fork_server()
    assert dict(os.environ) == before  # the limits go to the server, not into this process
    config = FeatureConfig()
    job, _ = plan_job(read_corpus(demo_root), config, make_extractors(["mel"], {}, config))
    with dask_client(2, None, job) as client:
        seen = client.run(lambda: (os.getppid(), {name: os.environ.get(name) for name in THREAD_VARIABLES},
                                   "MALLOC_TRIM_THRESHOLD_" in os.environ))  # fmt: skip
        server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    assert forkserver._forkserver._forkserver_pid is None  # type: ignore[attr-defined]  # stopped with its cluster
    with pytest.raises(ProcessLookupError):
        os.kill(server, 0)
    assert len(seen) == 2
    for parent, limits, trim in seen.values():
        assert parent == server != os.getpid()
        assert limits == THREAD_VARIABLES and not trim


def test_a_worker_that_dies_fails_only_the_song_that_killed_it(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crash_task

    import mer_zoo.pipeline.extract
    from mer_zoo.datasets import read_corpus

    root = replicate_deam(demo_root, tmp_path / "deam", copies=3)  # several songs a task
    songs = read_corpus(root).songs
    culprit = songs[len(songs) // 2].song_id
    monkeypatch.setenv(crash_task.CRASHING_SONG, str(culprit))
    monkeypatch.setattr(mer_zoo.pipeline.extract, "extract_songs", crash_task.crash_on_one_song)
    out = tmp_path / "features.h5"
    summary = build_features(root, out, workers=1, progress=False)
    assert summary.exit_code == 1
    with h5py.File(out, "r") as f:
        written = set(f["songs/song_id"][:].tolist())
        failed = dict(zip(f["failures/song_id"][:].tolist(), f["failures/reason"][:].astype(str)))
    assert "worker failed (KilledWorker" in failed[culprit]
    # Its task's other songs were sent again one a task; at most one more song, queued on the
    # worker when the culprit killed it a second time, fails with it.
    assert len([reason for reason in failed.values() if "worker failed" in reason]) <= 2
    assert written.isdisjoint(failed) and len(written) + len(failed) == len(songs)
    other_failures = [song for song, reason in failed.items() if "worker failed" not in reason]
    assert len(written) >= len(songs) - len(other_failures) - 2
