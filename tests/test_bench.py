"""mer-zoo bench: the statistics by hand, the grid, the leaderboard against the runs, resuming after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mer_zoo.bench import (
    RUNS_DIR,
    bootstrap_interval,
    corrected_t_test,
    fold_split,
    make_plan,
    pooled,
    ranks_with_ties,
    report,
    scored_songs,
    song_rows,
)
from mer_zoo.errors import InputError
from mer_zoo.metrics import metrics_block
from mer_zoo.tasks import TaskLabels, get_task, lookup

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


def test_bootstrap_interval_of_pooled_figures_and_paired_differences() -> None:
    errors, weights = [1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]
    one = bootstrap_interval(errors, weights)
    assert one.value == 2.5  # the mean of four equally weighted songs
    # the mean of 4 draws from {1, 2, 3, 4}: its 2.5th and 97.5th percentiles are 1.5 and 3.5
    assert one.low == pytest.approx(1.5, abs=0.26) and one.high == pytest.approx(3.5, abs=0.26)
    assert bootstrap_interval(errors, weights) == one  # seeded
    heavy = bootstrap_interval([1.0, 3.0], [3.0, 1.0])
    assert heavy.value == pytest.approx(1.5)  # (3 * 1 + 1 * 3) / 4
    paired = bootstrap_interval([2.0, 3.0, 4.0], [1.0, 1.0, 1.0], other=[1.0, 2.0, 3.0])
    assert (paired.value, paired.low, paired.high) == (1.0, 1.0, 1.0)  # same shift on every song: no spread


def test_ranks_share_first_place_with_ties() -> None:
    assert ranks_with_ties([0.3, 0.2, 0.25, 0.5], [False, True, True, False]) == [2, 1, 1, 3]


def test_song_rows_pool_to_the_tasks_own_figure() -> None:
    rng = np.random.default_rng(0)
    songs = np.array([1, 1, 1, 2, 2, 3])
    targets, preds = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    window = song_rows(get_task("window"), TaskLabels(targets, songs), preds)
    assert window["weight"].tolist() == [3, 2, 1]
    assert pooled(window) == pytest.approx(metrics_block(targets, preds, songs, [0, 0])["mse"])
    static = song_rows(get_task("static"), TaskLabels(targets, songs), preds)
    t_song = np.stack([targets[:3].mean(0), targets[3:5].mean(0), targets[5]])
    p_song = np.stack([preds[:3].mean(0), preds[3:5].mean(0), preds[5]])
    assert static["error"].tolist() == pytest.approx(((t_song - p_song) ** 2).mean(axis=1).tolist())
    assert static["weight"].tolist() == [1, 1, 1]


def test_plan_skips_pairs_that_do_not_fit_with_a_reason(demo_store: Path) -> None:
    plan = make_plan(demo_store, ["ridge", "cnn_small"], ["window", "dynamic"], ["mel"], folds=3, seeds=[0, 1])
    cells = {job.cell for job in plan.jobs}
    assert ("window", "mel", "mean") in cells and ("window", "mel", "cnn_small") in cells
    assert len(plan.jobs) == len(cells) * 3 * 2
    assert all(reason for *_, reason in plan.skipped)
    assert {job.split_spec for job in plan.jobs} == {"kfold:1/3", "kfold:2/3", "kfold:3/3"}


def test_split_family_goes_to_the_split_mechanism(demo_store: Path) -> None:
    assert fold_split("kfold", 2, 5) == "kfold:2/5"
    assert fold_split("group:artist", 1, 3) == "group:artist:1/3"  # any kind whose spec ends in :I/K
    with pytest.raises(InputError, match=r"--split nope: bad split 'nope:1/3'"):
        make_plan(demo_store, ["ridge"], ["window"], ["mel"], folds=3, seeds=[0], split="nope")


def _bench(store: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    args = [str(Path(sys.executable).parent / "mer-zoo"), "bench", "--features", str(store), "--out", str(out),
            *BENCH, *extra]  # fmt: skip
    env = dict(os.environ, COLUMNS="120")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _runs(out: Path) -> dict[str, float]:
    return {p.parent.parent.name: p.stat().st_mtime for p in (out / RUNS_DIR).glob("*/*/metrics.json")}


def _board(out: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((out / "leaderboard.json").read_text())
    return board


@pytest.fixture(scope="module")
def bench_out(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A bench killed with SIGKILL after its first finished runs, run with no time left, then run to the end."""
    out = tmp_path_factory.mktemp("bench")
    proc = _bench(demo_store, out)
    deadline = time.monotonic() + 120
    while len(_runs(out)) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = _runs(out)
    assert 0 < len(killed) < 18, "the kill should land mid-bench"
    budget = _bench(demo_store, out, "--max-minutes", "0")
    budget_text, _ = budget.communicate(timeout=120)
    assert budget.returncode == 0, budget_text
    budget_board, budget_md = _board(out), (out / "leaderboard.md").read_text()
    again = _bench(demo_store, out)
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0, output
    return {"out": out, "killed": killed, "budget": budget_board, "budget_text": budget_text, "budget_md": budget_md}


def test_rerun_after_sigkill_trains_only_what_was_missing(bench_out: dict[str, Any]) -> None:
    out, killed = bench_out["out"], bench_out["killed"]
    after = _runs(out)
    assert len(after) == 3 * 3 * 2  # mean, ridge, cnn_small x window, static x 3 folds
    assert {k: after[k] for k in killed} == killed  # finished runs untouched
    assert all(len(list((out / RUNS_DIR / key).iterdir())) == 1 for key in after)  # killed run replaced
    assert not _board(out)["missing"]


def test_max_minutes_marks_incomplete_rows_and_lists_what_is_missing(bench_out: dict[str, Any]) -> None:
    board, text, killed = bench_out["budget"], bench_out["budget_text"], bench_out["killed"]
    assert len(board["missing"]) == 18 - len(killed)  # no new run was launched
    assert f"missing {18 - len(killed)} of 18 runs" in text
    rows = [row for g in board["groups"] for row in g["models"].values()]
    assert sum(row["folds_done"] for row in rows) == len(killed)
    assert any(not row["complete"] for row in rows)
    assert all(row["complete"] == (row["folds_done"] == 3) for row in rows)
    assert board["not_started"] == [{"task": "static", "set": "mel", "split": "kfold"}]
    assert (
        "(incomplete)" in bench_out["budget_md"]
        and "## missing (not run within --max-minutes)" in bench_out["budget_md"]
    )


def test_leaderboard_numbers_are_the_fold_runs_own(bench_out: dict[str, Any]) -> None:
    out = bench_out["out"]
    board = _board(out)
    assert {(g["task"], g["set"], g["split"]) for g in board["groups"]} == {("window", "mel", "kfold"),
                                                                          ("static", "mel", "kfold")}  # fmt: skip
    for group in board["groups"]:
        task = get_task(group["task"])
        assert set(group["models"]) == {"mean", "ridge", "cnn_small"}
        values: dict[str, list[float]] = {}
        for model, row in group["models"].items():
            runs = sorted((out / RUNS_DIR).glob(f"{group['task']}--mel--{model}--kfold--seed0-fold*/*/metrics.json"))
            metrics = [json.loads(p.read_text())["test"] for p in runs]
            for name, path in task.columns:
                found = [v for m in metrics if (v := lookup(m, path)) is not None]
                if not found:  # a figure the task names but these runs do not report
                    assert row["figures"][name]["mean"] is None
                    continue
                assert row["figures"][name]["mean"] == pytest.approx(float(np.mean(found)))
                assert row["figures"][name]["std"] == pytest.approx(float(np.std(found)))
            values[model] = [lookup(m, task.rank_by[0]) for m in metrics]
            assert row["folds"] == ["seed0-fold1", "seed0-fold2", "seed0-fold3"]
            assert row["rank_values"] == pytest.approx(values[model])
            songs = [scored_songs(p.parent) for p in runs]
            for rows, value in zip(songs, values[model], strict=True):  # each song row set pools to its run's figure
                assert pooled(rows) == pytest.approx(value, rel=1e-5)
            assert row["pooled"]["value"] == pytest.approx(pooled(pd.concat(songs)))
            assert row["pooled"]["low"] <= row["pooled"]["value"] <= row["pooled"]["high"]
            assert row["complete"]
        for model, row in group["models"].items():
            if model == "mean":
                assert row["vs_mean"] is None
                continue
            t = corrected_t_test(values[model], values["mean"], group["n_train"], group["n_test"])
            assert row["vs_mean"]["mean_diff"] == pytest.approx(t.mean_diff)
            assert row["vs_mean"]["p_value"] == pytest.approx(t.p_value)
            assert row["vs_mean"]["tie"] == (row["vs_mean"]["low"] <= 0 <= row["vs_mean"]["high"])
        assert group["models"][group["best"]]["vs_best"] is None and group["models"][group["best"]]["rank"] == 1
        folds = [songs for key, songs in board["fold_test_songs"].items() if key.startswith(f"{group['task']}:")]
        assert len(group["best_predictions"]) == sum(len(songs) for songs in folds)
        assert len(folds) == 3 and len({s for songs in folds for s in songs}) == sum(len(songs) for songs in folds)
    page = (out / "leaderboard.html").read_text()
    assert page.count('data-model="cnn_small"') == 2 and page.count("<svg") == 6
    assert "| cnn_small |" in (out / "leaderboard.md").read_text()


def test_report_of_a_bench_run(
    bench_out: dict[str, Any], tmp_path: Path, cli: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = next((bench_out["out"] / RUNS_DIR).glob("window--mel--cnn_small--*fold1of3/*"))
    page = report(run, tmp_path / "report.html").read_text()
    assert "the 10 worst songs" in page and page.count("<svg") == 3  # VA plane, errors, curves
    assert "baseline_mse" in page and "vs_baseline" in page
    with pytest.raises(InputError, match="neither a finished run"):
        report(tmp_path)
    assert cli(["report", run, "--out", tmp_path / "cli.html"]) == 0 and (tmp_path / "cli.html").exists()
    assert cli(["report", tmp_path / "nope"]) == 2
    assert capsys.readouterr().err.strip().endswith("no such run or cv folder")


# --- the page in a browser ---------------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium absent: `make test` installs it (apt-get install -y chromium)"
)
# every host name resolves nowhere and every proxied request goes to a closed port: nothing can leave
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def _chromium(*args: str) -> str:
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", *OFFLINE, *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_page_references_nothing_outside_itself(bench_out: dict[str, Any]) -> None:
    page = (bench_out["out"] / "leaderboard.html").read_text()
    links = re.findall(r"""(?:src|href|xlink:href|action)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert all(link.startswith(("#", "data:")) for link in links), links
    assert not re.search(r"url\(|@import|<script|<link|<img|<iframe", page, flags=re.I)


@needs_chromium
def test_page_in_headless_chromium_has_a_row_per_model_with_its_figures(bench_out: dict[str, Any]) -> None:
    page = bench_out["out"] / "leaderboard.html"
    dom = _chromium("--dump-dom", page.as_uri())
    for group in _board(bench_out["out"])["groups"]:
        for model, row in group["models"].items():
            figure = row["figures"]["test_mse"]
            assert re.search(rf'<tr data-model="{model}"[^>]*>(?:(?!</tr>).)*{figure["mean"]:.4f} ± '
                             rf'{figure["std"]:.4f}', dom), model  # fmt: skip
    assert dom.count("<tr data-model=") == 2 * 3 and dom.count("<svg") == 6


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])  # a phone's width and a laptop's
def test_page_screenshot_is_not_blank(bench_out: dict[str, Any], tmp_path: Path, width: int) -> None:
    from PIL import Image

    shot = tmp_path / "page.png"
    _chromium(f"--screenshot={shot}", f"--window-size={width},1600", (bench_out["out"] / "leaderboard.html").as_uri())
    with Image.open(shot) as image:
        assert image.size == (width, 1600)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables and plots, not one flat colour
