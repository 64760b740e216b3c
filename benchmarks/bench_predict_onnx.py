"""Start-up time and peak memory of predicting from an ONNX export against predicting from its run folder.

A synthetic DEAM corpus of 16 songs is built and cnn_small and crnn are trained on it for one
epoch, then exported to ONNX (or pass ``--runs RUN_DIR ...``). Each measurement is a fresh
process, run alternately for the two sources, ``--repeats`` times; medians are reported:

- the Python API: ``from mer_zoo import Predictor`` (import), ``Predictor(source)`` (load), the
  first ``predict(song)`` on a 45-s song, and the process's peak resident memory;
- the command: ``mer-zoo predict SOURCE song.mp3`` from launch to exit (two Dask workers
  decode and featurise, the model runs in the command's process), and that process's peak
  resident memory.

Peak memory is ``VmHWM`` of ``/proc/self/status``, which starts afresh at exec.

    .venv/bin/python benchmarks/bench_predict_onnx.py [--repeats 5] [--runs RUN_DIR ... --song SONG]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_API = """
import sys, time, json
t0 = time.perf_counter()
from mer_zoo import Predictor
t1 = time.perf_counter()
p = Predictor(sys.argv[1], device="cpu")
t2 = time.perf_counter()
rows = p.predict(sys.argv[2])
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_s": t3 - t2, "rows": len(rows),
                  "peak_mb": peak_mb(), "torch": "torch" in sys.modules}))
"""
# The peak resident memory of this process's own image: /proc's VmHWM starts afresh at exec
# (getrusage's ru_maxrss does not: a child starts from its parent's size at the fork).
_PEAK = """
def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
"""
# `mer-zoo predict ...` in this process (as the `mer-zoo` script runs it), then its peak memory into a file.
_CLI = """
import os, sys
if __name__ == "__main__":
    from mer_zoo.cli import main
    code = 0
    try:
        main(sys.argv[2:])
    except SystemExit as done:
        code = done.code or 0
    with open(sys.argv[1], "w") as out:
        out.write(str(peak_mb()))
    sys.stdout.flush()
    os._exit(code)
"""


def _mer_zoo() -> str:
    return str(Path(sys.executable).with_name("mer-zoo"))


def prepare(root: Path) -> list[Path]:
    """Train cnn_small and crnn for one epoch on a 16-song synthetic corpus; returns the run folders."""
    from mer_zoo.datasets.synthetic import write_synthetic_deam
    from mer_zoo.pipeline.build import build_features

    write_synthetic_deam(root / "deam", n_songs=16, seed=0)
    store = root / "features.h5"
    build_features(root / "deam", store, workers=2, progress=False)
    runs = []
    for model in ("cnn_small", "crnn"):
        out = root / "runs" / model
        args = ["train", "--model", model, "--features", store, "--out", out, "--epochs", "1", "--device", "cpu"]
        subprocess.run([_mer_zoo(), *map(str, args)], check=True, capture_output=True)
        runs += list(out.iterdir())
    return runs


def measure_api(source: Path, song: Path) -> dict[str, float]:
    """One fresh process: import, load, first prediction, peak memory; and its whole wall time."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK + _API, str(source), str(song)], check=True, capture_output=True, text=True
    )
    report = json.loads(done.stdout.splitlines()[-1])
    report["process_s"] = time.perf_counter() - start
    return report


def measure_cli(source: Path, song: Path, out: Path) -> dict[str, float]:
    """``mer-zoo predict SOURCE song`` from launch to exit, and the peak memory of its main process."""
    script, peak = out.with_name("cli.py"), out.with_name("peak.txt")
    script.write_text(_PEAK + _CLI)
    args = ["predict", str(source), str(song), "--out", str(out), "--overwrite", "--no-progress", "--device", "cpu"]
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(peak), *args], check=True, capture_output=True)
    return {"cli_s": time.perf_counter() - start, "cli_peak_mb": float(peak.read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=Path, nargs="*", help="Run folders to compare (default: train two).")
    parser.add_argument("--song", type=Path, help="The audio file to predict (needed with --runs).")
    args = parser.parse_args()
    if args.runs and args.song is None:
        parser.error("--runs needs --song")
    from mer_zoo.export import export_run
    from mer_zoo.runs import open_run

    with tempfile.TemporaryDirectory(prefix="mer-zoo-bench-onnx-") as tmp:
        root = Path(tmp)
        runs = args.runs or prepare(root)
        song = args.song or sorted((root / "deam").rglob("*.mp3"))[0]
        print(f"song: {song.name}; {args.repeats} interleaved fresh processes per figure, medians")
        header = f"{'model':10} {'path':6} {'import s':>9} {'load s':>7} {'1st song s':>10} {'API MB':>7} {'API s':>6} {'CLI s':>6} {'CLI MB':>7} torch"
        print(header)
        for run in runs:
            onnx = root / f"{run.name}.onnx"
            export_run(run, onnx)
            samples: dict[str, list[dict[str, float]]] = {"torch": [], "onnx": []}
            for _ in range(args.repeats):
                for path, source in (("torch", run), ("onnx", onnx)):
                    api = measure_api(source, song)
                    samples[path].append({**api, **measure_cli(source, song, root / "p.csv")})
            medians = {
                path: {key: statistics.median(float(s[key]) for s in rows) for key in rows[0]}
                for path, rows in samples.items()
            }
            name = open_run(run).model_name
            for path, m in medians.items():
                print(f"{name:10} {path:6} {m['import_s']:9.2f} {m['load_s']:7.2f} {m['first_s']:10.2f} "
                      f"{m['peak_mb']:7.0f} {m['process_s']:6.2f} {m['cli_s']:6.2f} {m['cli_peak_mb']:7.0f} "
                      f"{'yes' if m['torch'] else 'no'}")  # fmt: skip
            t, o = medians["torch"], medians["onnx"]
            print(f"{name:10} onnx/torch: import+load {(o['import_s'] + o['load_s']) / (t['import_s'] + t['load_s']):.2f}x, "
                  f"API process {o['process_s'] / t['process_s']:.2f}x, API memory {o['peak_mb'] / t['peak_mb']:.2f}x, "
                  f"CLI {o['cli_s'] / t['cli_s']:.2f}x, CLI memory {o['cli_peak_mb'] / t['cli_peak_mb']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
