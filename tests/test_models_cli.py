"""`mer-zoo models`: the table of built-ins and plugins."""

from __future__ import annotations

from pathlib import Path

import pytest

from mer_zoo.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_models_lists_builtins_and_the_example_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    assert set(rows) >= {"mean", "cnn_small", "vgg_bn", "crnn", "short_chunk_resnet", "mel_transformer", "example_mlp"}
    assert rows["cnn_small"][1:3] == ["built-in", "4,866"]
    assert rows["example_mlp"][1] == "mer-zoo-example"
    assert "(B, 1, n_mels, T)" in out and "Won et al. 2020" in out


def test_models_filters_by_pattern_and_explains_an_empty_match(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "*RNN*")
    assert code == 0 and "crnn" in out and "cnn_small" not in out
    code, out, err = run(capsys, "models", "lstm*")
    assert code == 1 and out == ""
    assert err.startswith("mer-zoo: error: no model matches 'lstm*'; known models: cnn_small") and err.count("\n") == 1


def test_the_example_plugin_trains_through_the_cli(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mer_zoo.data", reason="training needs the dataset module")
    demo_store: Path = request.getfixturevalue("demo_store")
    args = ["--features", str(demo_store), "--out", str(tmp_path), "--epochs", "1", "--opt", "hidden=8"]
    code, _, err = run(capsys, "train", "--model", "example_mlp", *args)
    assert code == 0, err
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("example_mlp-") and (run_dir / "best.pt").is_file()
