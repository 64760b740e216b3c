"""`mer-zoo export` and predicting from an export: the same rows as the run, without torch, checked on the way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from mer_zoo import Predictor
from mer_zoo.errors import InputError
from mer_zoo.predict import predict

Cli = Callable[[list[Any]], int]
VALUES = ["arousal", "valence"]


@pytest.fixture(scope="module")
def runs(cli: Cli, cnn_run: Path, demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """cnn_small (the session's run), crnn (1 epoch) and ridge runs on the demo store, window task."""
    found = {"cnn_small": cnn_run}
    for model in ("crnn", "ridge"):
        out = tmp_path_factory.mktemp(model)
        args = ["train", "--model", model, "--features", demo_store, "--out", out, "--epochs", "1", "--seed", "3"]
        assert cli([*args, "--batch-size", "16", "--device", "cpu"]) == 0
        (found[model],) = out.iterdir()
    return found


@pytest.fixture(scope="module")
def exports(cli: Cli, runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each run exported to ONNX through the CLI."""
    folder = tmp_path_factory.mktemp("exports")
    found = {}
    for model, run in runs.items():
        found[model] = folder / f"{model}.onnx"
        assert cli(["export", run, "--format", "onnx", "--out", found[model]]) == 0
    return found


@pytest.fixture(scope="module")
def songs(demo_root: Path) -> list[Path]:
    return sorted(demo_root.rglob("*.mp3"))[:2]


def _same_rows(got: pd.DataFrame, expected: pd.DataFrame, atol: float = 1e-4) -> None:
    assert list(got.columns) == list(expected.columns)
    keys = [c for c in expected.columns if c not in VALUES]
    pd.testing.assert_frame_equal(got[keys], expected[keys])
    np.testing.assert_allclose(got[VALUES].to_numpy(), expected[VALUES].to_numpy(), rtol=0, atol=atol)


@pytest.mark.parametrize("model", ["cnn_small", "crnn", "ridge"])
def test_an_export_predicts_the_runs_own_rows(
    model: str, runs: dict[str, Path], exports: dict[str, Path], songs: list[Path]
) -> None:
    expected = predict(runs[model], songs, device="cpu")
    got = predict(exports[model], songs)
    assert got.task == expected.task == "window" and got.scale == expected.scale == "[-1, 1]"
    assert len(got.table) >= 16 and not got.failures
    _same_rows(got.table, expected.table)


def test_the_sidecar_holds_what_prediction_needs_and_the_runs_figures(
    runs: dict[str, Path], exports: dict[str, Path]
) -> None:
    import onnx

    sidecar = json.loads(Path(f"{exports['ridge']}.json").read_text())
    config = json.loads((runs["ridge"] / "config.json").read_text())
    metrics = json.loads((runs["ridge"] / "metrics.json").read_text())
    settings = sidecar["prediction"]
    assert (
        settings["windows"] == config["store"]["feature_config"] and settings["feature_set"] == config["store"]["set"]
    )
    assert settings["normalizer"] == config["normalizer"] and settings["as_vector"] is True
    assert (settings["task"], settings["scale"], settings["model"]) == (
        "window",
        "[-1, 1]",
        {"name": "ridge", "options": {}},
    )
    assert sidecar["input"]["shape"] == ["batch", 256] and sidecar["output"]["shape"] == ["batch", 2]
    assert sidecar["test"]["mse"] == metrics["test"]["mse"] and sidecar["test"]["scale"] == "[-1, 1]"
    assert sidecar["mer_zoo_version"] and sidecar["runtime"] == "onnx"
    assert (
        0 <= sidecar["parity"]["max_abs_diff"] <= 1e-4 and sidecar["parity"]["windows"] == metrics["test"]["n_windows"]
    )
    frames = json.loads(Path(f"{exports['crnn']}.json").read_text())
    assert frames["input"]["shape"] == ["batch", 1, 128, "frames"] and frames["parity"]["frames"] == [431, 323]
    meta = {p.key: p.value for p in onnx.load(str(exports["crnn"])).metadata_props}
    assert meta == {"mer_zoo.model": "crnn", "mer_zoo.task": "window", "mer_zoo.scale": "[-1, 1]"}


def test_a_torchscript_export_reports_its_parity_and_predicts_the_runs_rows(
    cli: Cli, runs: dict[str, Path], songs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cnn.pt"
    assert cli(["export", runs["cnn_small"], "--format", "torchscript", "--out", out]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "max abs difference" in lines[1] and float(lines[1].split("difference ")[1].split()[0]) <= 1e-4
    assert json.loads(Path(f"{out}.json").read_text())["runtime"] == "torchscript"
    _same_rows(predict(out, songs).table, predict(runs["cnn_small"], songs, device="cpu").table)


def test_the_python_api_reads_a_run_or_an_export(
    runs: dict[str, Path], exports: dict[str, Path], songs: list[Path]
) -> None:
    from_run, from_export = Predictor(runs["crnn"], device="cpu"), Predictor(exports["crnn"])
    assert (from_export.task, from_export.scale) == (from_run.task, from_run.scale) == ("window", "[-1, 1]")
    rows = from_export.predict(songs[0])
    _same_rows(rows, from_run.predict(str(songs[0])))
    stereo, rate = sf.read(songs[0], dtype="float32")  # (n, 2) at the file's own rate: the same samples
    assert stereo.ndim == 2
    _same_rows(from_export.predict(stereo, sr=rate, name=str(songs[0])), rows)
    quiet = from_export.predict(0.1 * np.sin(np.arange(22050 * 12) / 9.0)[None, :].repeat(2, 0), sr=22050)
    assert list(quiet.columns) == list(rows.columns) and len(quiet) == 2 and (quiet["file"] == "array").all()
    with pytest.raises(InputError, match="sample rate"):
        from_export.predict(stereo)


def test_a_static_export_predicts_on_the_static_scale(cli: Cli, tmp_path: Path) -> None:
    """hist_gbt: the TorchScript-based exporter sums its trees wrongly, so the parity check sends it to dynamo."""
    from task_stores import write_tiny_store

    store = write_tiny_store(tmp_path / "tiny.h5", n_songs=8)
    args = ["train", "--model", "hist_gbt", "--task", "static", "--features", store, "--out", tmp_path / "runs"]
    assert cli([*args, "--device", "cpu"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    out = tmp_path / "gbt.onnx"
    assert cli(["export", run, "--out", out]) == 0
    assert "dynamo" in json.loads(Path(f"{out}.json").read_text())["exporter"]
    tone = tmp_path / "tone.wav"
    sf.write(tone, 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000 * 12) / 8000), 8000)
    p = Predictor(out)
    rows = p.predict(tone)
    assert (p.task, p.scale, list(rows.columns)) == (
        "static",
        "[1, 9]",
        ["file", "n_windows", "arousal", "valence", "silent"],
    )
    _same_rows(rows, Predictor(run, device="cpu").predict(tone))
    assert ((rows[VALUES] >= 1) & (rows[VALUES] <= 9)).all().all()


# --- the ONNX path runs without torch -----------------------------------------------------------

_BLOCKER = """
import os, sys, traceback

class _Blocked:
    # the packages named in $MER_ZOO_TEST_BLOCK cannot be imported; each try is logged with its stack
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in os.environ["MER_ZOO_TEST_BLOCK"].split(","):
            with open(os.environ["MER_ZOO_TEST_BLOCK_LOG"], "a") as log:
                log.write(f"process {os.getpid()} imported {name}:\\n{''.join(traceback.format_stack())}\\n")
            raise ImportError(f"No module named {name!r} (blocked in this test)", name=name)
        return None

sys.meta_path.insert(0, _Blocked())
"""


def _blocking(tmp_path: Path, packages: str) -> tuple[dict[str, str], Path]:
    """An environment where ``packages`` cannot be imported by a child process nor by its own children; the log of tries."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER)
    log = tmp_path / "blocked.log"
    env = {"PYTHONPATH": str(site), "MER_ZOO_TEST_BLOCK": packages, "MER_ZOO_TEST_BLOCK_LOG": str(log)}
    return {**os.environ, **env}, log


_DRIVER = """
import json, sys

if __name__ == "__main__":
    from mer_zoo import Predictor
    from mer_zoo.cli import main

    model, csv, music, song = sys.argv[1:]
    codes = []
    for _ in range(2):  # the second run finds every good file done
        try:
            main(["predict", model, music, "--out", csv, "--workers", "2", "--no-progress"])
        except SystemExit as done:
            codes.append(done.code)
    rows = Predictor(model).predict(song)
    print(json.dumps({"codes": codes, "rows": len(rows), "torch": sorted(m for m in sys.modules if m.split(".")[0] == "torch")}))
"""


def test_predicting_from_onnx_never_imports_torch(
    exports: dict[str, Path], runs: dict[str, Path], demo_root: Path, tmp_path: Path
) -> None:
    """Torch is blocked in the process and every process it starts (Dask's workers); streaming, resume and a bad file."""
    env, log = _blocking(tmp_path, "torch")
    (tmp_path / "driver.py").write_text(textwrap.dedent(_DRIVER))
    music = tmp_path / "music"
    music.mkdir()
    good = sorted((demo_root / "DEAM_audio/MEMD_audio").glob("*.mp3"))[:3]
    for song in good:
        shutil.copy(song, music / song.name)
    (music / "broken.mp3").write_bytes(b"not an mp3" * 100)
    csv = tmp_path / "p.csv"
    done = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(exports["cnn_small"]), str(csv), str(music), str(good[0])],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert not log.exists(), log.read_text()[:3000]
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["torch"] == [] and report["codes"] == [1, 1] and report["rows"] >= 8
    errors = [line for line in done.stderr.splitlines() if line.startswith("mer-zoo")]
    assert len(errors) == 2 and all("broken.mp3" in line for line in errors)  # one line per run
    already = re.search(r"(\d+) files were already predicted", done.stdout)
    assert already and int(already.group(1)) >= len(good) - 1  # the last file written may be redone
    table = pd.read_csv(csv)
    assert sorted(set(table["file"])) == sorted(str(music / s.name) for s in good)
    expected = predict(runs["cnn_small"], [music / s.name for s in good], device="cpu").table
    # the CSV holds 4 decimals: within 1e-4 of the run's rows, plus half a unit of its rounding
    _same_rows(table.sort_values(["file", "window"]).reset_index(drop=True), expected.round(4), atol=1.5e-4)


def test_without_the_onnx_extra_one_line_names_it(
    exports: dict[str, Path], runs: dict[str, Path], songs: list[Path], tmp_path: Path
) -> None:
    env, _ = _blocking(tmp_path, "onnx,onnxruntime")
    mer_zoo = str(Path(sys.executable).with_name("mer-zoo"))
    for args, needs in (
        (["predict", exports["ridge"], songs[0], "--out", tmp_path / "p.csv"], "onnxruntime"),
        (["export", runs["ridge"], "--out", tmp_path / "m.onnx"], "onnx"),
    ):
        done = subprocess.run([mer_zoo, *map(str, args)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert f'needs {needs}: pip install "mer-zoo[onnx]"' in done.stderr
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "m.onnx").exists()


# --- bad exports: one line each ----------------------------------------------------------------


@pytest.fixture()
def copy(exports: dict[str, Path], tmp_path: Path) -> Path:
    """A copy of the cnn_small export and its sidecar to damage."""
    out = tmp_path / "model.onnx"
    shutil.copy(exports["cnn_small"], out)
    shutil.copy(f"{exports['cnn_small']}.json", f"{out}.json")
    return out


def _rewrite(path: Path, **changes: Any) -> None:
    sidecar = Path(f"{path}.json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **changes}))


def _foreign(path: Path) -> None:
    """A valid ONNX model that is not a mer-zoo export (an identity), its hash written into the copied sidecar."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "foreign", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncated", "its bytes differ from those its sidecar model.onnx.json records"),
        ("corrupt", "not a readable ONNX model"),
        ("foreign", "not a mer-zoo export: it takes x"),
        ("no sidecar", "its sidecar model.onnx.json is missing"),
        ("other version", "export format version 2 (written by mer-zoo 9.0), this mer-zoo reads version 1"),
        ("not a sidecar", "not a mer-zoo export sidecar"),
    ],
)
def test_a_bad_export_is_one_line_and_exit_2(
    damage: str, message: str, copy: Path, songs: list[Path], cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    from mer_zoo.export.sidecar import file_sha256

    if damage == "truncated":
        copy.write_bytes(copy.read_bytes()[:500])
    elif damage == "corrupt":
        copy.write_bytes(b"garbage" * 100)
        _rewrite(copy, model_sha256=file_sha256(copy))
    elif damage == "foreign":
        _foreign(copy)
        _rewrite(copy, model_sha256=file_sha256(copy))
    elif damage == "no sidecar":
        Path(f"{copy}.json").unlink()
    elif damage == "other version":
        _rewrite(copy, format_version=2, mer_zoo_version="9.0")
    else:
        Path(f"{copy}.json").write_text('{"hello": "world"}')
    out = copy.with_suffix(".csv")
    assert cli(["predict", copy, songs[0], "--out", out, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mer-zoo: error:") and message in err[0], err
    assert "model.onnx" in err[0] and not out.exists()


def test_export_refuses_bad_arguments_before_any_work(
    cli: Cli, runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["export", runs["ridge"], "--format", "onnx", "--out", tmp_path / "m.pt"]) == 2
    assert cli(["export", runs["ridge"], "--format", "keras", "--out", tmp_path / "m.keras"]) == 2
    assert cli(["export", runs["ridge"], "--out", tmp_path / "m.onnx", "--features", tmp_path / "gone.h5"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        "named *.onnx" in err[0] and "use onnx or torchscript" in err[1] and "gone.h5: no such feature store" in err[2]
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow  # both ONNX exporters try and fail (about 17 s)
def test_a_model_onnx_cannot_express_is_refused_naming_the_model_and_operator(
    cli: Cli, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """crnn on the dynamic task pools its GRU frames to 10 per window: adaptive pooling ONNX lacks."""
    from task_stores import write_tiny_store

    store = write_tiny_store(tmp_path / "tiny.h5", n_songs=8)
    args = ["train", "--model", "crnn", "--task", "dynamic", "--features", store, "--out", tmp_path / "runs"]
    assert cli([*args, "--epochs", "1", "--batch-size", "8", "--device", "cpu"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    capsys.readouterr()
    assert cli(["export", run, "--out", tmp_path / "crnn.onnx"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mer-zoo: error: crnn: cannot be exported to ONNX")
    assert "operator adaptive_avg_pool1d" in err[0] and "--format torchscript" in err[0]
    assert not (tmp_path / "crnn.onnx").exists() and not (tmp_path / "crnn.onnx.partial").exists()
