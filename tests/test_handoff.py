"""Results from local workers come back through shared memory, unchanged, and leave nothing behind."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from stores import assert_same_store

from mer_zoo.pipeline.build import build_features
from mer_zoo.pipeline.handoff import FOLDER_VARIABLE, Stashed, TaskResults, handoff_folder, run_stashed, unstash


def arrays_task(sizes: list[int], job: Any) -> list[Any]:
    """A task whose results hold arrays of several sizes and dtypes, and plain values: one per item."""
    return [("song", {"mel": np.arange(n, dtype=np.float32).reshape(-1, 4)}, np.ones(3), job) for n in sizes]


def test_a_stashed_result_comes_back_equal_and_its_file_is_removed(tmp_path: Path) -> None:
    with handoff_folder(tmp_path) as folder:
        assert folder is not None and Path(folder).parent == tmp_path
        sent = run_stashed(arrays_task, [4096, 8, 12], "job", os.path.join(folder, "task.bin"))
        assert isinstance(sent, Stashed) and len(pickle.dumps(sent)) < 256  # all a worker keeps
        assert os.listdir(folder) == ["task.bin"]
        results = unstash(sent)
        assert os.listdir(folder) == []
        assert [len(sets["mel"].ravel()) for _, sets, _, _ in results] == [4096, 8, 12]
        (name, sets, ones, job) = results[0]
        assert (name, job) == ("song", "job")
        assert np.array_equal(sets["mel"], np.arange(4096, dtype=np.float32).reshape(-1, 4))
        assert np.array_equal(ones, np.ones(3)) and not ones.flags.writeable
        assert all(sets["mel"].ctypes.data % 64 == 0 for _, sets, _, _ in results)
    assert not Path(folder).exists()


def test_a_worker_moves_each_items_arrays_out_before_it_computes_the_next(tmp_path: Path) -> None:
    sizes_on_disk = []

    def watched_task(sizes: list[int], job: Any) -> list[Any]:
        sizes_on_disk.append(sum(f.stat().st_size for f in Path(folder).iterdir()))
        return arrays_task(sizes, job)

    with handoff_folder(tmp_path) as folder:
        unstash(run_stashed(watched_task, [1024, 1024, 1024], "job", os.path.join(folder, "task.bin")))
    # item k starts once the arrays of items before it are in shared memory (4 KiB each, aligned)
    assert sizes_on_disk[0] == 0 and sizes_on_disk[1] >= 4096 and sizes_on_disk[2] >= 2 * 4096


def test_a_worker_that_cannot_see_the_folder_returns_its_result_as_it_is(tmp_path: Path) -> None:
    elsewhere = tmp_path / "on-the-client-machine-only"
    for path in (None, str(elsewhere / "task.bin")):
        result = run_stashed(arrays_task, [8], "job", path)
        assert isinstance(result, list) and result[0][0] == "song"
        assert unstash(result) is result


def test_a_full_shared_memory_falls_back_to_the_wire_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    writev = os.writev
    writes = []

    def space_for_one_item(fd: int, buffers: Any) -> int:
        writes.append(fd)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return writev(fd, buffers)

    monkeypatch.setattr(os, "writev", space_for_one_item)
    with handoff_folder(tmp_path) as folder:
        result = run_stashed(arrays_task, [8, 12, 16], "job", os.path.join(folder, "task.bin"))
        assert isinstance(result, list)  # the whole task's results, over the wire
        assert [sets["mel"].ravel().tolist() for _, sets, _, _ in result] == [list(range(n)) for n in (8, 12, 16)]
        assert os.listdir(folder) == []


def test_results_without_arrays_come_back_equal_and_leave_no_file(tmp_path: Path) -> None:
    def failing_task(items: list[int], job: Any) -> list[Any]:
        return [(item, None, "unreadable") for item in items]

    def empty_task(items: list[int], job: Any) -> list[Any]:
        return [(item, np.zeros((0, 4), dtype=np.float32)) for item in items]

    with handoff_folder(tmp_path) as folder:
        path = os.path.join(folder, "task.bin")
        assert unstash(run_stashed(failing_task, [1, 2], "job", path)) == [
            (1, None, "unreadable"),
            (2, None, "unreadable"),
        ]
        ((item, empty),) = unstash(run_stashed(empty_task, [3], "job", path))
        assert item == 3 and empty.shape == (0, 4) and empty.dtype == np.float32
        assert os.listdir(folder) == []


def test_a_file_gone_before_it_is_read_raises_its_error(tmp_path: Path) -> None:
    with handoff_folder(tmp_path) as folder:
        sent = run_stashed(arrays_task, [8], "job", os.path.join(folder, "task.bin"))
        os.unlink(sent.path)
        with pytest.raises(FileNotFoundError):
            unstash(sent)


def test_folders_of_processes_that_are_gone_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / "mer-zoo-handoff-999999999-abc"  # above any pid Linux hands out
    live = tmp_path / f"mer-zoo-handoff-{os.getpid()}-def"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "left.bin").write_bytes(b"x")
    with handoff_folder(tmp_path):
        pass
    assert not dead.exists() and live.exists()


def test_an_empty_MER_ZOO_SHM_DIR_turns_the_handoff_off_and_a_missing_one_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FOLDER_VARIABLE, "")
    with handoff_folder() as folder:
        assert folder is None
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path / "missing"))
    with handoff_folder() as folder:
        assert folder is None
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path))
    with handoff_folder() as folder:
        assert folder is not None and Path(folder).parent == tmp_path


def crashing_task(items: list[int], job: Any) -> list[Any]:
    raise ValueError(f"no item {items[0]}")


def test_local_workers_stash_their_results_and_the_client_reads_them_without_fetching_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
        handoff_folder() as folder,
    ):
        if folder is None:
            pytest.skip("no usable /dev/shm on this machine")
        fetched = []
        gather = client._gather
        monkeypatch.setattr(client, "_gather", lambda *a, **k: fetched.append(a) or gather(*a, **k))
        tasks = TaskResults(client, folder)
        sent = {tasks.submit(arrays_task, [n], "job"): n for n in (64, 128)}
        failed = tasks.submit(crashing_task, [7], "job")
        got = dict(tasks)
        assert [got[key][0][1]["mel"].size for key in sent] == list(sent.values())
        assert fetched == [] and os.listdir(folder) == []  # read from shared memory, never fetched
        assert isinstance(got[failed], ValueError) and "no item 7" in str(got[failed])

        tasks = TaskResults(client, None)  # no folder: the results come over the wire
        key = tasks.submit(arrays_task, [64], "job")
        ((got_key, results),) = list(tasks)
        assert got_key == key and np.array_equal(results[0][1]["mel"].ravel(), np.arange(64)) and fetched


def test_a_build_through_the_wire_writes_the_same_store(
    demo_root: Path, demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FOLDER_VARIABLE, "")
    out = tmp_path / "wire.h5"
    build_features(demo_root, out, workers=2, progress=False)
    assert_same_store(out, demo_store)
