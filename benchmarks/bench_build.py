"""Feature extraction: the original per-clip ``.npy`` pipeline against ``build-features``.

On one synthetic DEAM-like corpus (``write_synthetic_deam``, generated once into
``bench_out/build``), measured side by side, each run a fresh process:

- the original notebook's pipeline (whole-song ``librosa.load`` at 44.1 kHz mono, six
  ``melspectrogram`` calls, one ``np.save`` per clip), sequentially and with
  ``ProcessPoolExecutor(2)`` (fork, librosa imported in the parent, as in the notebook),
  and that pool again with one BLAS thread per process (the original's best case); timed
  from the start of its loop (interpreter start and ``import librosa`` excluded);
- ``mer-zoo build-features --workers 2``, timed from process start to exit (interpreter,
  imports, Dask start-up and worker warm-up included);
- the compute floor: what two workers would do with no orchestration, i.e. 2 x the songs/s
  of one process running the worker's own code (span decode + log-mel, ``extract_song``),
  and, for reference, the issue's definition with librosa (``librosa.load(offset=15,
  duration=30)`` + six librosa mels);
- peak memory of the whole process tree (sum of PSS from ``/proc``, sampled every 50 ms) for
  200 and 800 songs (the 800 are four hard-linked copies of the 200 under new ids);
- bytes on disk of the store against the ``.npy`` files.

Run: ``.venv/bin/python benchmarks/bench_build.py`` (``--help`` for sizes and repeats).
Prints a markdown report and writes ``bench_out/build/results.json``.

``--floor-only`` measures issue 12's targets alone: build-features on 200 and 800 songs
against two floors measured in the same run (2 x one process alone, and two processes at
once on half the songs each), timed without memory sampling; the same floor and the 800-song
build with the mel's FFT by scipy (``MER_ZOO_FFT=scipy``) next to the default (mkl_fft where
installed); the decode-only ceiling (2 x one process decoding the spans, no mel); then five
sampled runs of each build (alternated, median peak) and one of predict for peak memory; and
predict next to build on the same files.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mer_zoo.datasets.synthetic import AUDIO

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench_out" / "build"
BIN = Path(sys.executable).parent
SCIPY_FFT = {"MER_ZOO_FFT": "scipy"}  # the mel's FFT by scipy's pocketfft, as before mkl_fft
ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"), "1")


# --- stages, each run in a fresh process (`--stage NAME`) -------------------------------------


def _song_ids(root: Path) -> list[int]:
    return sorted(int(p.stem) for p in (root / AUDIO).glob("*.mp3"))


def process_and_save_song(args: tuple[int, Path, Path]) -> int:
    """The original notebook's function, verbatim apart from its arguments."""
    import librosa
    import numpy as np

    song_id, audio_path, spec_dir = args
    base = 15
    clip_size = 5
    saved_count = 0
    try:
        y, sr = librosa.load(audio_path / f"{song_id}.mp3", sr=44100, mono=True)
        for j in range(6):
            start = int((base + clip_size * j) * sr)
            end = int((base + clip_size * (j + 1)) * sr)
            clip = y[start:end]
            mel_spec = librosa.feature.melspectrogram(y=clip, sr=sr, n_mels=128, fmax=8000)
            mel_spec_db = librosa.power_to_db(mel_spec, ref=np.max)
            np.save(spec_dir / f"song_{song_id}_seg_{j}.npy", mel_spec_db)
            saved_count += 1
        return saved_count
    except Exception as e:
        print(f"Error processing song {song_id}: {e}")
        return 0


def stage_original(root: Path, npy: Path, pool: bool) -> dict[str, float]:
    import librosa  # noqa: F401  (the notebook imported it before forking its pool)

    shutil.rmtree(npy, ignore_errors=True)
    npy.mkdir(parents=True)
    tasks = [(song_id, root / AUDIO, npy) for song_id in _song_ids(root)]
    started, cpu = time.perf_counter(), _cpu_seconds()
    if pool:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(2) as executor:
            clips = sum(executor.map(process_and_save_song, tasks))
    else:
        clips = sum(map(process_and_save_song, tasks))
    return {"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu, "songs": len(tasks), "clips": clips}


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _warm_job(root: Path) -> tuple[Any, Any, Any, Any]:
    """The corpus at ``root``, a build's mel job for it (warmed up in this process) and its label layout."""
    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets import read_corpus
    from mer_zoo.pipeline.build import make_extractors, plan_job
    from mer_zoo.pipeline.extract import warm_up

    config = FeatureConfig()
    corpus = read_corpus(root)
    job, labels = plan_job(corpus, config, make_extractors(["mel"], {}, config))
    warm_up(job)
    return config, corpus, job, labels


def stage_floor(root: Path, part: str | None = None, go_at: float | None = None) -> dict[str, float]:
    """One process running the worker's code on every song (or part ``I/K`` of them), then the writer on the results.

    ``go_at`` (a ``time.time()``): start computing then, after warming up, so that processes
    started together compute together.
    """
    import tempfile

    from mer_zoo.pipeline.extract import extract_song
    from mer_zoo.store.writer import StoreWriter

    config, corpus, job, labels = _warm_job(root)
    songs = corpus.songs
    if part:
        index, count = map(int, part.split("/"))
        songs = songs[index::count]
    if go_at is not None:
        time.sleep(max(0.0, go_at - time.time()))
    started, cpu = time.perf_counter(), _cpu_seconds()
    results = [extract_song(song, job) for song in songs]
    compute, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    windows = sum(len(r.features.start_s) for r in results if r.features is not None)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        writer = StoreWriter.create(Path(tmp) / "f.h5", config, dataset="deam", source_root=str(root), labels=labels)
        started = time.perf_counter()
        for result in results:
            writer.append_song(result.features)
        write = time.perf_counter() - started
        writer.close(complete=True)
    return {"seconds": compute, "cpu": cpu, "songs": len(songs), "windows": windows, "write_seconds": write}


def stage_decode(root: Path) -> dict[str, float]:
    """One process decoding every song's window span and nothing more: the ceiling that no mel can lift."""
    from mer_zoo.audio.decode import load_audio
    from mer_zoo.audio.windows import plan_windows

    config, corpus, job, _ = _warm_job(root)
    spans = [plan_windows(song, config, job.frames_per_window) for song in corpus.songs]
    started, cpu = time.perf_counter(), _cpu_seconds()
    for song, plan in zip(corpus.songs, spans):
        if len(plan):
            first, last = plan.span_s
            load_audio(song.audio_path, config.sample_rate, offset_s=first, duration_s=last - first)
    return {"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu, "songs": len(corpus.songs)}


def stage_floor_librosa(root: Path) -> dict[str, float]:
    """The issue's floor: decode 15-45 s with librosa (offset/duration) and six librosa mels."""
    import librosa
    import numpy as np

    ids = _song_ids(root)
    librosa.load(root / AUDIO / f"{ids[0]}.mp3", sr=44100, mono=True, offset=15, duration=5)  # warm
    started, cpu = time.perf_counter(), _cpu_seconds()
    for song_id in ids:
        y, sr = librosa.load(root / AUDIO / f"{song_id}.mp3", sr=44100, mono=True, offset=15, duration=30)
        for j in range(6):
            clip = y[j * 5 * sr : (j + 1) * 5 * sr]
            librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=sr, n_mels=128, fmax=8000), ref=np.max)
    return {"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu, "songs": len(ids)}


def stage_startup(root: Path) -> dict[str, float]:
    """build-features' fixed costs: imports, corpus read (overlapping the cluster boot), worker set-up, close."""

    started = time.perf_counter()
    from mer_zoo.config import FeatureConfig
    from mer_zoo.datasets import read_corpus
    from mer_zoo.pipeline.build import make_extractors, plan_job
    from mer_zoo.pipeline.cluster import ClusterStart

    imported = time.perf_counter()
    cluster = ClusterStart(2, None)
    config = FeatureConfig()
    job, _ = plan_job(read_corpus(root), config, make_extractors(["mel"], {}, config))
    read = time.perf_counter()
    cluster.client(job)
    ready = time.perf_counter()
    cluster.close()
    return {
        "imports": imported - started,
        "read": read - imported,
        "cluster": ready - read,
        "close": time.perf_counter() - ready,
    }


STAGES = {
    "original-seq": lambda a: stage_original(a.root, a.npy, pool=False),
    "original-pool": lambda a: stage_original(a.root, a.npy, pool=True),
    "floor": lambda a: stage_floor(a.root, a.part, a.go_at),
    "floor-librosa": lambda a: stage_floor_librosa(a.root),
    "decode": lambda a: stage_decode(a.root),
    "startup": lambda a: stage_startup(a.root),
}


# --- the harness -------------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _handoff_kib(pid: int) -> int:
    """Shared memory in ``pid``'s hand-off files that no process maps yet (in RAM, but in no one's PSS)."""
    from mer_zoo.pipeline.handoff import FOLDER_PREFIX, SHARED_MEMORY

    total = 0
    for folder in Path(SHARED_MEMORY).glob(f"{FOLDER_PREFIX}{pid}-*"):
        for file in folder.glob("*"):
            with contextlib.suppress(OSError):  # read and removed meanwhile (then mapped: counted in a PSS)
                total += file.stat().st_blocks * 512
    return total // 1024


def _busy_fraction(seconds: float = 1.0) -> float:
    """Share of all CPUs busy over ``seconds`` (from /proc/stat)."""

    def ticks() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = ticks()
    time.sleep(seconds)
    total1, idle1 = ticks()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


BUSY_RUNS: list[str] = []  # commands that started on a machine busy with other work


def wait_for_idle(label: str, limit_s: float) -> None:
    """Wait up to ``limit_s`` for other processes to leave the CPUs (< 15% busy) before a run."""
    deadline = time.monotonic() + limit_s
    while _busy_fraction() > 0.15:
        if time.monotonic() > deadline:
            BUSY_RUNS.append(label)
            return


IDLE_WAIT_S = 0.0
MEMORY_RUNS = 5


def _adopt_orphans() -> None:
    """Become the reaper of orphaned descendants (Linux): build-features' fork server and its
    workers outlive the command by a moment, and their CPU counts only once they are reaped here."""
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _reap_orphans() -> None:
    """Wait for every orphan adopted from the last command (its CPU then counts in RUSAGE_CHILDREN)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def run_measured(
    command: list[str], env: dict[str, str] | None = None, sample: bool = True
) -> tuple[float, float, float, str]:
    """Run ``command``; return (wall seconds, CPU seconds, peak memory in MiB of its process tree, stdout).

    Memory is the PSS of every process of the tree plus the hand-off files in shared memory
    that no process maps yet (a task's results on their way to the client).

    Sampling PSS walks every page table of the tree 20 times a second: on 2 cores that slowed
    an 800-song build by about 15% (28.1-32.8 s against 24.2-28.0 s side by side), so timed
    runs pass ``sample=False`` (peak 0) and memory is measured in runs of its own.
    """
    if IDLE_WAIT_S:
        wait_for_idle(" ".join(map(str, command[1:4])), IDLE_WAIT_S)
    peak = 0
    cpu = _cpu_seconds()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    done = threading.Event()

    def sample_pss() -> None:
        nonlocal peak
        while not done.is_set():
            resident = sum(_pss_kib(p) for p in _descendants(process.pid)) + _handoff_kib(process.pid)
            peak = max(peak, resident)
            done.wait(0.05)

    sampler = threading.Thread(target=sample_pss, daemon=True)
    if sample:
        sampler.start()
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    _reap_orphans()
    cpu = _cpu_seconds() - cpu
    done.set()
    if sample:
        sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(map(str, command))} failed ({process.returncode}):\n{stderr[-2000:]}")
    return wall, cpu, peak / 1024, stdout


def run_stage(
    name: str, root: Path, npy: Path | None = None, env: dict[str, str] | None = None, sample: bool = True
) -> tuple[dict, float, float]:
    command = [sys.executable, __file__, "--stage", name, "--root", str(root)]
    if npy is not None:
        command += ["--npy", str(npy)]
    wall, _, peak, stdout = run_measured(command, env, sample)
    return json.loads(stdout.strip().splitlines()[-1]), wall, peak


def run_floor_pair(root: Path) -> dict[str, float]:
    """Two floor processes at once, each on half the songs (no orchestration): what both cores really give.

    Each warms up, then starts computing at the same agreed moment; the pair's seconds are
    the slower one's. ``seconds`` is for all the songs, so ``songs / seconds`` is the pair's rate.
    """
    if IDLE_WAIT_S:
        wait_for_idle("floor pair", IDLE_WAIT_S)
    go_at = time.time() + 5.0  # after both have imported and warmed up (about 1 s)
    command = [sys.executable, __file__, "--stage", "floor", "--root", str(root), "--go-at", str(go_at)]
    processes = [
        subprocess.Popen(
            [*command, "--part", f"{i}/2"], stdout=subprocess.PIPE, text=True, env={**os.environ, **ONE_THREAD}
        )
        for i in range(2)
    ]
    results = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in processes]
    if any(p.returncode != 0 for p in processes):
        raise SystemExit("a floor process of the pair failed")
    return {
        "seconds": max(r["seconds"] for r in results),
        "cpu": sum(r["cpu"] for r in results),
        "songs": sum(r["songs"] for r in results),
    }


def run_build(
    root: Path, out: Path, *extra: str, sample: bool = True, env: dict[str, str] | None = None
) -> dict[str, float]:
    """build-features --workers 2 from process start to exit: wall and CPU s, peak MiB, inner s."""
    command = [
        str(BIN / "mer-zoo"),
        "build-features",
        "--root",
        str(root),
        "--out",
        str(out),
        "--workers",
        "2",
        "--no-progress",
        "--overwrite",
        *extra,
    ]
    wall, cpu, peak, stdout = run_measured(command, env, sample)
    inner = float(re.search(r"seconds\s*│\s*([\d.]+)", stdout).group(1))
    return {"seconds": wall, "cpu": cpu, "peak_mib": peak, "inner": inner}


def run_predict(run: Path, root: Path, out: Path, sample: bool = True) -> dict[str, float]:
    """mer-zoo predict over the corpus' audio folder (--workers 2) from process start to exit."""
    command = [str(BIN / "mer-zoo"), "predict", str(run), str(root / AUDIO), "--out", str(out)]
    wall, cpu, peak, _ = run_measured([*command, "--overwrite", "--no-progress", "--workers", "2"], sample=sample)
    return {"seconds": wall, "cpu": cpu, "peak_mib": peak}


def trained_run(store: Path) -> Path:
    """A ``mean`` run on ``store`` (prediction cost does not depend on the model's size here)."""
    runs = OUT / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    subprocess.run(
        [str(BIN / "mer-zoo"), "train", "--model", "mean", "--features", str(store), "--out", str(runs)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return next(runs.iterdir())


def floor_report(args: argparse.Namespace, small: Path, large: Path) -> None:
    """Issue 12's targets only: build vs its own floor on both sizes, memory, and predict next to build.

    Two floors: 2 x one process alone (the issue's definition, which assumes two cores give
    twice one core) and two processes at once on the big corpus (what the cores really give
    with no orchestration at all).
    """
    from mer_zoo.audio.melspec import fft_engine

    big = len(_song_ids(large))
    kinds = (
        "build",
        "build-big",
        "build-big-scipy",
        "floor",
        "floor-scipy",
        "decode",
        "floor-pair",
        "startup",
        "predict",
    )
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    load_before = os.getloadavg()
    run = None
    for repeat in range(args.repeats):  # timed runs: no memory sampling
        runs["build"].append(run_build(small, OUT / "features.h5", sample=False))
        run = run or trained_run(OUT / "features.h5")
        runs["floor"].append(run_stage("floor", small, env=ONE_THREAD, sample=False)[0])
        runs["build-big"].append(run_build(large, OUT / "features_big.h5", sample=False))
        runs["floor-pair"].append(run_floor_pair(large))
        runs["build-big-scipy"].append(run_build(large, OUT / "features_big.h5", sample=False, env=SCIPY_FFT))
        runs["floor-scipy"].append(run_stage("floor", small, env={**ONE_THREAD, **SCIPY_FFT}, sample=False)[0])
        runs["decode"].append(run_stage("decode", small, env=ONE_THREAD, sample=False)[0])
        runs["predict"].append(run_predict(run, small, OUT / "predictions.csv", sample=False))
        runs["startup"].append(run_stage("startup", large, sample=False)[0])
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    # Sampled runs, for peak memory only: a peak is one instant (how many results wait to be
    # written just then), so each build's is the median of MEMORY_RUNS, alternated.
    peaks: dict[str, list[float]] = {"build": [], "build-big": []}
    for _ in range(MEMORY_RUNS):
        peaks["build"].append(run_build(small, OUT / "features.h5")["peak_mib"])
        peaks["build-big"].append(run_build(large, OUT / "features_big.h5")["peak_mib"])
    memory = {name: statistics.median(values) for name, values in peaks.items()}
    memory["predict"] = run_predict(run, small, OUT / "predictions.csv")["peak_mib"]
    load_after = os.getloadavg()
    (OUT / "results_floor.json").write_text(
        json.dumps({"runs": runs, "peak_mib": memory, "peaks_mib": peaks, "busy_runs": BUSY_RUNS}, indent=1)
    )

    def median(name: str, key: str = "seconds") -> float:
        return statistics.median(r[key] for r in runs[name])

    floor = 2 * args.songs / median("floor")
    pair = big / median("floor-pair")
    paired = [
        floor_run["seconds"] / build_run["seconds"]
        for build_run, floor_run in zip(runs["build-big"], runs["floor-pair"])
    ]
    build, build_big = args.songs / median("build"), big / median("build-big")
    fft_gain = [old["seconds"] / new["seconds"] for new, old in zip(runs["build-big"], runs["build-big-scipy"])]
    # build-features' own seconds ("inner") less the fixed costs inside it: waiting for the workers, closing.
    steady = big / (median("build-big", "inner") - median("startup", "cluster") - median("startup", "close"))
    with open(OUT / "predictions.csv") as f:
        predicted_windows = sum(1 for _ in f) - 1

    def row(what: str, songs: int, seconds: float, rate: float, cpu: float, peak: str = "", ratios: bool = True) -> str:
        against = f"{rate / floor:.2f}x | {rate / pair:.2f}x" if ratios else " | "
        return f"| {what} | {songs} | {seconds:.2f} | {rate:.1f} | {against} | {1000 * cpu / songs:.0f} | {peak} |"

    print(
        "\n".join(
            [
                f"{args.songs} and {big} synthetic songs, the mel's FFT by {fft_engine()}, "
                f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} "
                f"before and {load_after[0]:.1f} after; medians of {args.repeats}, every run a fresh process; "
                f"{len(BUSY_RUNS)} runs started on a busy machine.",
                "",
                "| what | songs | seconds | songs/s | vs floor (2 x one) | vs floor (two at once) "
                "| CPU ms a song (all processes) | peak memory MiB |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
                row(
                    "compute floor: 2 x one process running `extract_song`",
                    args.songs,
                    median("floor") / 2,
                    floor,
                    median("floor", "cpu"),
                ),
                row(
                    "compute floor with scipy's FFT (`MER_ZOO_FFT=scipy`): 2 x one process",
                    args.songs,
                    median("floor-scipy") / 2,
                    2 * args.songs / median("floor-scipy"),
                    median("floor-scipy", "cpu"),
                ),
                row(
                    "decode-only ceiling: 2 x one process decoding the spans (no mel)",
                    args.songs,
                    median("decode") / 2,
                    2 * args.songs / median("decode"),
                    median("decode", "cpu"),
                ),
                row(
                    "compute floor: two processes at once, `extract_song` on half the songs each",
                    big,
                    median("floor-pair"),
                    pair,
                    median("floor-pair", "cpu"),
                ),
                row(
                    "build-features --workers 2",
                    args.songs,
                    median("build"),
                    build,
                    median("build", "cpu"),
                    f"{memory['build']:.0f}",
                ),
                row(
                    "build-features --workers 2",
                    big,
                    median("build-big"),
                    build_big,
                    median("build-big", "cpu"),
                    f"{memory['build-big']:.0f}",
                ),
                row(
                    "build-features --workers 2, the mel's FFT by scipy (`MER_ZOO_FFT=scipy`)",
                    big,
                    median("build-big-scipy"),
                    big / median("build-big-scipy"),
                    median("build-big-scipy", "cpu"),
                ),
                row(
                    f"predict --workers 2 (whole files, {predicted_windows} windows)",
                    args.songs,
                    median("predict"),
                    args.songs / median("predict"),
                    median("predict", "cpu"),
                    f"{memory['predict']:.0f}",
                    ratios=False,
                ),
                "",
                f"Memory {big} vs {args.songs} songs: {memory['build-big'] / memory['build']:.2f}x (peak PSS of all processes plus unmapped hand-off files, median of "
                f"{MEMORY_RUNS} sampled runs each: {', '.join(f'{v:.0f}' for v in peaks['build'])} and "
                f"{', '.join(f'{v:.0f}' for v in peaks['build-big'])} MiB). "
                f"Fixed costs (medians): interpreter + CLI {median('build') - median('build', 'inner'):.2f} s, "
                f"imports {median('startup', 'imports'):.2f} s, reading {big} songs' annotations "
                f"{median('startup', 'read'):.2f} s (the cluster boots meanwhile), then waiting for the workers "
                f"{median('startup', 'cluster'):.2f} s, closing {median('startup', 'close'):.2f} s; "
                f"the floor's writer {1000 * median('floor', 'write_seconds') / args.songs:.1f} ms a song. "
                f"{big} songs without the fixed costs: {steady:.1f} songs/s ({steady / floor:.2f}x of 2 x one, "
                f"{steady / pair:.2f}x of two at once).",
                "",
                f"Paired repeat by repeat, {big}-song build / two-at-once floor: {', '.join(f'{r:.2f}' for r in paired)} "
                f"(median {statistics.median(paired):.2f}x); builds took "
                f"{min(r['seconds'] for r in runs['build-big']):.1f}-{max(r['seconds'] for r in runs['build-big']):.1f} s. "
                f"Paired, the build with scipy's FFT / the build with {fft_engine()}'s (s / s): "
                f"{', '.join(f'{r:.2f}' for r in fft_gain)} (median {statistics.median(fft_gain):.2f}x).",
            ]
        )
    )


def make_corpora(songs: int, big: int) -> tuple[Path, Path]:
    """The synthetic corpus (generated once) and a ``big``-song one of hard-linked copies."""
    from mer_zoo.datasets.synthetic import replicate_deam, write_synthetic_deam

    small = OUT / f"deam{songs}"
    if not (small / "done").exists():
        shutil.rmtree(small, ignore_errors=True)
        print(write_synthetic_deam(small, n_songs=songs, seed=0), file=sys.stderr)
        (small / "done").touch()
    large = OUT / f"deam{big}"
    copies = -(-big // songs)
    if not (large / "done").exists():
        shutil.rmtree(large, ignore_errors=True)
        replicate_deam(small, large, copies)
        (large / "done").touch()
    return small, large


def _disk(paths: list[Path]) -> tuple[int, int]:
    stats = [p.stat() for p in paths]
    return sum(s.st_size for s in stats), sum(s.st_blocks * 512 for s in stats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--songs", type=int, default=200)
    parser.add_argument("--big", type=int, default=800, help="corpus size for the memory comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=300.0,
        help="seconds to wait before each run for the CPUs to be idle (0: don't)",
    )
    parser.add_argument(
        "--floor-only", action="store_true", help="only build-features against its floor, memory and predict"
    )
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--go-at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        print(json.dumps(STAGES[args.stage](args)))
        return

    global IDLE_WAIT_S
    IDLE_WAIT_S = args.idle_wait
    # Bytecode for mer-zoo's own modules, as any installed copy has: with PYTHONDONTWRITEBYTECODE
    # set (as on this machine) every worker would compile them again at each start.
    compileall.compile_dir(ROOT / "mer_zoo", quiet=1)
    OUT.mkdir(parents=True, exist_ok=True)
    _adopt_orphans()
    small, large = make_corpora(args.songs, args.big)
    if args.floor_only:
        floor_report(args, small, large)
        return
    npy = OUT / "npy"
    runs: dict[str, list[dict]] = {
        k: []
        for k in (
            "original-seq",
            "original-pool",
            "original-pool-1t",
            "build",
            "floor",
            "floor-librosa",
            "startup",
            "build-big",
        )
    }
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        for name in ("original-seq", "original-pool"):
            result, wall, peak = run_stage(name, small, npy)
            runs[name].append({**result, "wall": wall, "peak_mib": peak})
        result, wall, peak = run_stage("original-pool", small, npy, env=ONE_THREAD)
        runs["original-pool-1t"].append({**result, "wall": wall, "peak_mib": peak})
        runs["build"].append({**run_build(small, OUT / "features.h5"), "songs": args.songs})
        for name in ("floor", "floor-librosa"):
            result, wall, peak = run_stage(name, small, env=ONE_THREAD)
            runs[name].append({**result, "peak_mib": peak})
        result, _, _ = run_stage("startup", small)
        runs["startup"].append(result)
        runs["build-big"].append({**run_build(large, OUT / "features_big.h5"), "songs": len(_song_ids(large))})
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr)
    load_after = os.getloadavg()

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    rate = {
        name: args.songs / median(name, "seconds")
        for name in ("original-seq", "original-pool", "original-pool-1t", "build")
    }
    floor = {name: 2 * args.songs / median(name, "seconds") for name in ("floor", "floor-librosa")}
    better = max(rate["original-seq"], rate["original-pool"])
    npy_files = sorted(npy.glob("*.npy"))
    npy_bytes, npy_blocks = _disk(npy_files)
    sizes = {"none": _disk([OUT / "features.h5"])}
    for compression in ("lzf", "gzip"):
        run_build(small, OUT / f"features_{compression}.h5", "--compression", compression)
        sizes[compression] = _disk([OUT / f"features_{compression}.h5"])
    from mer_zoo.store.reader import FeatureStore

    with FeatureStore(OUT / "features.h5") as store:
        windows = len(store)
    results = {
        "songs": args.songs,
        "repeats": args.repeats,
        "runs": runs,
        "load_before": load_before,
        "load_after": load_after,
        "busy_runs": BUSY_RUNS,
        "npy": {"files": len(npy_files), "bytes": npy_bytes, "blocks": npy_blocks},
        "store_sizes": sizes,
        "windows": windows,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=1))

    cpu = os.cpu_count()
    lines = [
        f"{args.songs} synthetic songs ({windows} windows in the store; the original takes 6 per song), "
        f"{cpu} CPUs, load average {load_before[0]:.1f} before and {load_after[0]:.1f} after; medians of {args.repeats}; "
        f"each run started once the CPUs were idle (< 15% busy, waiting up to {args.idle_wait:.0f} s): "
        f"{len(BUSY_RUNS)} of them started on a busy machine{': ' + ', '.join(BUSY_RUNS) if BUSY_RUNS else ''}.",
        "",
        "| pipeline | seconds | songs/s | vs better original (first two) | CPU ms a song (all processes) | peak memory (MiB, all processes) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("original-seq", "original, sequential"),
        ("original-pool", "original, ProcessPoolExecutor(2)"),
        ("original-pool-1t", "original, ProcessPoolExecutor(2), one BLAS thread each"),
        ("build", "build-features --workers 2 (whole process)"),
    ):
        lines.append(
            f"| {label} | {median(name, 'seconds'):.2f} | {rate[name]:.1f} | {rate[name] / better:.2f}x | "
            f"{1000 * median(name, 'cpu') / args.songs:.0f} | {median(name, 'peak_mib'):.0f} |"
        )
    build_cpu = median("build", "cpu") / args.songs
    lines += [
        "",
        "| compute floor (one process, x 2 for songs/s) | songs/s | build-features / floor | CPU ms a song | floor CPU / build CPU |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("floor", "worker code (span decode + log-mel, extract_song)"),
        ("floor-librosa", "issue's definition (librosa span load + six librosa mels)"),
    ):
        lines.append(
            f"| {label} | {floor[name]:.1f} | {rate['build'] / floor[name]:.2f}x | {1000 * median(name, 'cpu') / args.songs:.0f} | "
            f"{median(name, 'cpu') / args.songs / build_cpu:.2f} |"
        )
    lines += [
        "",
        "Where build-features' time goes (medians): "
        f"interpreter + CLI imports {median('build', 'seconds') - median('build', 'inner'):.2f} s; "
        f"library imports {median('startup', 'imports'):.2f} s, waiting for the workers after reading the corpus {median('startup', 'cluster'):.2f} s "
        f"(measured apart); writing {1000 * median('floor', 'write_seconds') / args.songs:.1f} ms a song in the client; "
        f"extraction {1000 * median('floor', 'seconds') / args.songs:.1f} ms a song in a worker.",
        f"Steady state excluding start-up: {args.songs / (median('build', 'inner') - median('startup', 'cluster')):.1f} songs/s.",
        "",
        f"| memory | {args.songs} songs | {runs['build-big'][0]['songs']} songs | ratio |",
        "|---|---:|---:|---:|",
        f"| build-features peak PSS, all processes, and unmapped hand-off files (MiB) | {median('build', 'peak_mib'):.0f} | "
        f"{median('build-big', 'peak_mib'):.0f} | {median('build-big', 'peak_mib') / median('build', 'peak_mib'):.2f} |",
        f"| build-features songs/s | {rate['build']:.1f} | {runs['build-big'][0]['songs'] / median('build-big', 'seconds'):.1f} | |",
        "",
        "| on disk | files | bytes | allocated |",
        "|---|---:|---:|---:|",
        f"| original .npy per clip | {len(npy_files)} | {npy_bytes / 2**20:.1f} MiB | {npy_blocks / 2**20:.1f} MiB |",
    ]
    for compression, (size, blocks) in sizes.items():
        lines.append(
            f"| features.h5, compression {compression} ({windows} windows) | 1 | {size / 2**20:.1f} MiB | {blocks / 2**20:.1f} MiB |"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
