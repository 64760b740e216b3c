"""The build's speed, this tree against another (``--before DIR``), on a small synthetic DEAM corpus.

Two measures, each tree in a fresh process, the trees in turn within each repeat (medians):

- the worker's own code: ``extract_song`` on every song in one process (decode the span, every
  window's mel, silence flags), ms a song: what a change to decoding costs per song;
- ``build-features --workers 2`` end to end (interpreter start to exit), songs/s.

The corpus (``write_synthetic_deam``, ``--songs`` songs, seed 0) is written once into
``bench_out/build_ab``. ``--before DIR``: a mer-zoo source tree, e.g.
``git archive 4599dc0 mer_zoo | tar -x -C DIR``.

Run: ``nice .venv/bin/python benchmarks/bench_build_ab.py --before /tmp/before``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path("bench_out/build_ab")

_WORKER = r"""
import json, os, sys, time
for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[name] = "1"
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from mer_zoo.datasets import read_corpus
from mer_zoo.pipeline.build import make_extractors, plan_job
from mer_zoo.pipeline.extract import extract_song, warm_up
from mer_zoo.config import FeatureConfig
import dataclasses
corpus = read_corpus(Path(sys.argv[2]), "deam")
config = dataclasses.replace(FeatureConfig(), start_s=corpus.start_s or 15.0)
job, _ = plan_job(corpus, config, make_extractors(["mel"], {}, config))
warm_up(job)
extract_song(corpus.songs[0], job)
started = time.perf_counter()
ok = sum(extract_song(song, job).features is not None for song in corpus.songs)
print(json.dumps({"ms": 1000 * (time.perf_counter() - started) / len(corpus.songs), "ok": ok}))
"""

_BUILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
sys.argv = ["mer-zoo", "build-features", "--root", sys.argv[2], "--out", sys.argv[3], "--workers", "2", "--no-progress"]
from mer_zoo.cli import run
run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other mer-zoo source tree")
    parser.add_argument("--songs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root = OUT / f"deam{args.songs}"
    if not root.exists():
        from mer_zoo.datasets.synthetic import write_synthetic_deam

        write_synthetic_deam(root, n_songs=args.songs, seed=0)
    trees = {"before": args.before.resolve(), "after": Path(__file__).resolve().parents[1]}
    ms: dict[str, list[float]] = {name: [] for name in trees}
    rate: dict[str, list[float]] = {name: [] for name in trees}
    for _ in range(args.repeats):
        for name, code in trees.items():
            done = subprocess.run([sys.executable, "-c", _WORKER, str(code), str(root)], capture_output=True, text=True)
            ms[name].append(json.loads(done.stdout.strip().splitlines()[-1])["ms"])
            store = OUT / f"{name}.h5"
            store.unlink(missing_ok=True)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", _BUILD, str(code), str(root), str(store)], capture_output=True, check=True
            )
            rate[name].append(args.songs / (time.perf_counter() - started))
    print(f"| tree | extract_song, ms a song | build-features --workers 2, songs/s | (medians of {args.repeats}) |")
    print("|---|---:|---:|---|")
    for name in trees:
        print(f"| {name} | {statistics.median(ms[name]):.1f} | {statistics.median(rate[name]):.1f} | |")
    ratio_ms = statistics.median(ms["after"]) / statistics.median(ms["before"])
    ratio_rate = statistics.median(rate["after"]) / statistics.median(rate["before"])
    print(f"\nafter / before: {ratio_ms:.3f}x the time a song, {ratio_rate:.3f}x the songs/s ({args.songs} songs)")


if __name__ == "__main__":
    main()
