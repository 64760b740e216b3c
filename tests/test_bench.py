"""mer-zoo bench: the paired t-test by hand, the grid, the leaderboard against the runs, resuming after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from mer_zoo.bench import corrected_t_test, make_plan, ranks_with_ties
from mer_zoo.bench.run import RUNS_DIR
from mer_zoo.tasks import get_task, lookup

BENCH = ["--models", "ridge,cnn_small", "--tasks", "window,static", "--folds", "3", "--epochs", "2", "--device", "cpu"]


def test_corrected_t_test_matches_hand_computation() -> None:
    a, b = [0.30, 0.28, 0.35], [0.25, 0.27, 0.30]
    d = [0.05, 0.01, 0.05]
    mean = sum(d) / 3  # 0.036666...
    var = sum((x - mean) ** 2 for x in d) / 2  # 0.000533...
    se = math.sqrt((1 / 3 + 20 / 40) * var)
    t_crit = 4.302652729911275  # t(0.975, 2 dof)
    test = corrected_t_test(a, b, n_train=40, n_test=20)
    assert test.mean_diff == pytest.approx(0.0366666667)
    assert test.high - test.mean_diff == pytest.approx(t_crit * se)
    assert test.p_value == pytest.approx(2 * (1 - stats.t.cdf(mean / se, 2)))
    assert test.low == pytest.approx(mean - t_crit * 0.0210818510678)
    # the uncorrected test would be narrower: the correction widens the interval
    assert test.high - test.low > 2 * t_crit * math.sqrt(var / 3)


def test_ranks_share_first_place_with_ties() -> None:
    assert ranks_with_ties([0.3, 0.2, 0.25, 0.5], [False, True, True, False]) == [2, 1, 1, 3]


def test_plan_skips_pairs_that_do_not_fit_with_a_reason(demo_store: Path) -> None:
    plan = make_plan(demo_store, ["ridge", "cnn_small"], ["window", "dynamic"], ["mel"], folds=3, seeds=[0, 1])
    cells = {job.cell for job in plan.jobs}
    assert ("window", "mel", "mean") in cells and ("window", "mel", "cnn_small") in cells
    assert len(plan.jobs) == len(cells) * 3 * 2
    assert all(reason for *_, reason in plan.skipped)


def _bench(store: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    args = [str(Path(sys.executable).parent / "mer-zoo"), "bench", "--features", str(store), "--out", str(out), *BENCH, *extra]
    env = dict(os.environ, COLUMNS="120")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _runs(out: Path) -> dict[str, float]:
    return {p.parent.parent.name: p.stat().st_mtime for p in (out / RUNS_DIR).glob("*/*/metrics.json")}


@pytest.fixture(scope="module")
def killed_then_resumed(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """A bench killed with SIGKILL after its first finished runs, then run again to the end."""
    out = tmp_path_factory.mktemp("bench")
    proc = _bench(demo_store, out)
    deadline = time.monotonic() + 120
    while len(_runs(out)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _runs(out)
    assert 0 < len(before) < 18, "the kill should land mid-bench"
    again = _bench(demo_store, out)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    return out, before


def test_rerun_after_sigkill_trains_only_what_was_missing(killed_then_resumed: tuple[Path, dict[str, float]]) -> None:
    out, before = killed_then_resumed
    after = _runs(out)
    assert len(after) == 3 * 3 * 2  # mean, ridge, cnn_small x window, static x 3 folds
    assert {k: after[k] for k in before} == before  # finished runs untouched
    assert all(len(list((out / RUNS_DIR / key).iterdir())) == 1 for key in after)  # killed run replaced


def test_leaderboard_numbers_are_the_fold_runs_own(killed_then_resumed: tuple[Path, dict[str, float]]) -> None:
    out, _ = killed_then_resumed
    board: dict[str, Any] = json.loads((out / "leaderboard.json").read_text())
    assert {(g["task"], g["set"]) for g in board["groups"]} == {("window", "mel"), ("static", "mel")}
    for group in board["groups"]:
        task = get_task(group["task"])
        assert set(group["models"]) == {"mean", "ridge", "cnn_small"}
        for model, row in group["models"].items():
            runs = sorted((out / RUNS_DIR).glob(f"{group['task']}--mel--{model}--seed0--fold*/*/metrics.json"))
            metrics = [json.loads(p.read_text())["test"] for p in runs]
            for name, path in task.columns:
                values = [v for m in metrics if (v := lookup(m, path)) is not None]
                if not values:  # a figure the task names but these runs do not report
                    assert row["figures"][name]["mean"] is None
                    continue
                assert row["figures"][name]["mean"] == pytest.approx(float(np.mean(values)))
                assert row["figures"][name]["std"] == pytest.approx(float(np.std(values)))
            assert row["rank_values"] == pytest.approx([lookup(m, task.rank_by[0]) for m in metrics])
            assert row["complete"]
        assert group["models"]["mean"]["vs_mean"]["mean_diff"] == 0.0
    assert len(board["fold_test_songs"]) == 3
    page = (out / "leaderboard.html").read_text()
    assert page.count('data-model="cnn_small"') == 2 and "<svg" in page
    assert "http://" not in page and "https://" not in page
    assert "| cnn_small |" in (out / "leaderboard.md").read_text()
