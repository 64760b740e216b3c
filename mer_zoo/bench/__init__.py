"""The bench: the whole zoo on one store, same song folds and seeds, compared with paired tests.

- :mod:`~mer_zoo.bench.plan`: the model x task x set grid and the pairs skipped with why;
- :mod:`~mer_zoo.bench.run`: the resumable runner (one folder per fold run, ``--max-minutes``);
- :mod:`~mer_zoo.bench.stats`: the corrected resampled t-test and ranks with ties (pure);
- :mod:`~mer_zoo.bench.leaderboard`: ``leaderboard.json`` from the runs' own ``metrics.json``;
- :mod:`~mer_zoo.bench.render_md`, :mod:`~mer_zoo.bench.render_html`: the tables and the page;
- :mod:`~mer_zoo.bench.api`: ``bench``, all of it in one call.
"""

from __future__ import annotations

from mer_zoo.bench.api import bench
from mer_zoo.bench.leaderboard import LEADERBOARD_FILE, build_leaderboard
from mer_zoo.bench.plan import BenchJob, BenchPlan, make_plan
from mer_zoo.bench.run import RUNS_DIR, finished_run, run_bench
from mer_zoo.bench.stats import PairedTest, corrected_t_test, ranks_with_ties

__all__ = [
    "LEADERBOARD_FILE",
    "RUNS_DIR",
    "BenchJob",
    "BenchPlan",
    "PairedTest",
    "bench",
    "build_leaderboard",
    "corrected_t_test",
    "finished_run",
    "make_plan",
    "ranks_with_ties",
    "run_bench",
]
