"""Peak memory of a predict worker against the length of the file it predicts (1, 10 and 40 minutes).

What a ``mer-zoo predict`` worker runs for one file is its task ``extract_files([file], job)``
through the hand-off (``run_stashed``: results written to a file as they come), with the run's
default feature set (the 128-band mel of 5-s windows at 44.1 kHz). Each measurement is a fresh
process that imports the code, runs that task on one file and reports its peak resident memory
(``ru_maxrss``); a process that only imports and warms up the same code is the floor. With
``--before DIR`` the same task of another mer-zoo tree (e.g. the code before block-wise
decoding, ``git archive 4599dc0 mer_zoo | tar -x -C DIR``) is measured in the same run.

The files are written once into ``bench_out/predict_memory/`` (FLAC, 44.1 kHz stereo: three
drifting tones under noise, written block by block): about 6, 60 and 240 MB.

Run: ``nice .venv/bin/python benchmarks/bench_predict_memory.py [--before /tmp/before]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path("bench_out/predict_memory")
MINUTES = (1, 10, 40)
RATE = 44100

_CHILD = r"""
import json, os, resource, sys, tempfile, time
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[name] = "1"
sys.path.insert(0, sys.argv[1])
from mer_zoo.config import FeatureConfig
from mer_zoo.features import get_extractor
from mer_zoo.pipeline.extract import ExtractJob, warm_up
from mer_zoo.pipeline.handoff import run_stashed, unstash
from mer_zoo.pipeline.predict_many import extract_files
job = ExtractJob(FeatureConfig(), (get_extractor("mel"),), 10)
warm_up(job)
path = sys.argv[2]
started = time.perf_counter()
windows = 0
if path != "-":
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as folder:
        stash = run_stashed(extract_files, [path], job, os.path.join(folder, "task.bin"))
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for result in unstash(stash):
            windows += 0 if result[1] is None else len(result[2])
else:
    seconds, peak = 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak_mib": peak, "seconds": seconds, "windows": windows}))
"""


def write_file(path: Path, minutes: int) -> None:
    """``minutes`` of 44.1-kHz stereo FLAC, written a minute at a time."""
    import soundfile as sf

    rng = np.random.default_rng(minutes)
    tmp = path.with_suffix(".tmp.flac")
    with sf.SoundFile(tmp, "w", RATE, 2, format="FLAC") as f:
        for minute in range(minutes):
            t = (minute * 60 * RATE + np.arange(60 * RATE)) / RATE
            tone = sum(0.1 * np.sin(2 * np.pi * hz * t * (1 + 0.01 * np.sin(t / 7))) for hz in (220, 330, 495))
            left = tone + rng.normal(0, 0.01, len(t))
            f.write(np.stack([left, 0.8 * left], axis=1).astype(np.float32))
    tmp.rename(path)


def measure(code: Path, path: str) -> dict[str, float]:
    """The task on ``path`` ("-": nothing) in a fresh process of ``code``'s mer-zoo."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(code), path], capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{code}: {done.stderr.strip().splitlines()[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="another mer-zoo source tree to measure beside this one")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per file and tree (median)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    files = {m: OUT / f"{m}min.flac" for m in MINUTES}
    for minutes, path in files.items():
        if not path.exists():
            print(f"writing {path} ...", flush=True)
            write_file(path, minutes)
    trees = {"after (this tree)": Path(__file__).resolve().parents[1]}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    rows: dict[str, dict[str, list[dict[str, float]]]] = {name: {} for name in trees}
    for _ in range(args.repeats):  # interleaved, so that load on a shared machine falls on all alike
        for name, code in trees.items():
            for label, path in [("imports only", "-")] + [(f"{m} min", str(p)) for m, p in files.items()]:
                rows[name].setdefault(label, []).append(measure(code, path))
    print(f"\npeak resident memory of one predict worker's task, MiB (median of {args.repeats}; seconds in brackets)")
    labels = ["imports only", *(f"{m} min" for m in MINUTES)]
    print("| code | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name, found in rows.items():
        cells = []
        for label in labels:
            peak = float(np.median([r["peak_mib"] for r in found[label]]))
            secs = float(np.median([r["seconds"] for r in found[label]]))
            cells.append(f"{peak:.0f}" + (f" ({secs:.1f} s)" if secs else ""))
        print(f"| {name} | " + " | ".join(cells) + " |")
    windows = {name: [int(found[label][0]["windows"]) for label in labels[1:]] for name, found in rows.items()}
    print(
        f"\nwindows per file ({', '.join(labels[1:])}): {windows}; {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
