"""The bench: the whole zoo on one store, same song folds and seeds, compared with paired tests.

- :mod:`~mer_zoo.bench.plan`: the model x task x set grid and the pairs skipped with why;
- :mod:`~mer_zoo.bench.run`: the resumable runner (one folder per fold run, ``--max-minutes``);
- :mod:`~mer_zoo.bench.songs`: a run's test songs one by one (truth, prediction, error);
- :mod:`~mer_zoo.bench.stats`: the corrected resampled t-test, song bootstraps, ranks with ties (pure);
- :mod:`~mer_zoo.bench.leaderboard`: ``leaderboard.json`` from the runs' own ``metrics.json``;
- :mod:`~mer_zoo.bench.render_md`, :mod:`~mer_zoo.bench.render_html`, :mod:`~mer_zoo.bench.svg`:
  the tables, the page shell and its inline plots;
- :mod:`~mer_zoo.bench.report`: the same kind of page for one run or cv folder;
- :mod:`~mer_zoo.bench.api`: ``bench``, all of it in one call.
"""

from __future__ import annotations

from mer_zoo.bench.api import bench
from mer_zoo.bench.leaderboard import LEADERBOARD_FILE, build_leaderboard
from mer_zoo.bench.plan import DEFAULT_SPLIT, BenchJob, BenchPlan, make_plan
from mer_zoo.bench.report import REPORT_FILE, report
from mer_zoo.bench.run import RUNS_DIR, finished_run, run_bench
from mer_zoo.bench.songs import SONGS_FILE, pooled, scored_songs, song_rows
from mer_zoo.bench.stats import Interval, PairedTest, bootstrap_interval, corrected_t_test, ranks_with_ties
from mer_zoo.folds import fold_split

__all__ = [
    "DEFAULT_SPLIT",
    "LEADERBOARD_FILE",
    "REPORT_FILE",
    "RUNS_DIR",
    "SONGS_FILE",
    "BenchJob",
    "BenchPlan",
    "Interval",
    "PairedTest",
    "bench",
    "bootstrap_interval",
    "build_leaderboard",
    "corrected_t_test",
    "finished_run",
    "fold_split",
    "make_plan",
    "pooled",
    "ranks_with_ties",
    "report",
    "run_bench",
    "scored_songs",
    "song_rows",
]
