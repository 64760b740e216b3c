"""Pretrained encoders as feature sets: a tiny HuBERT from a local folder and a tiny HEAR module, end to end.

The store's frames are held to the libraries' own numbers: transformers' ``hidden_states[K]``
and the HEAR module's ``get_timestamp_embeddings`` on the same window, resampled with soxr
(HQ) and averaged into 0.5-s bins by the frames' centres.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
from encoders import FIELD, HOP, bin_means, write_hear_module, write_tiny_hubert

from mer_zoo.audio import load_audio
from mer_zoo.store.reader import FeatureStore

pytest.importorskip("transformers")

SETS = ["h1=hf:path={hubert},layer=1", "havg=hf:path={hubert},layer=mean", "th=hear:module=tiny_hear,weights={w}"]


@pytest.fixture(scope="module")
def hubert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer HuBERT of width 32, saved with save_pretrained."""
    return write_tiny_hubert(tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def hear_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A tiny HEAR module importable here and in the Dask workers (on PYTHONPATH)."""
    folder = tmp_path_factory.mktemp("hear")
    name, weights = write_hear_module(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        patch.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
        yield name, weights


@pytest.fixture(scope="module")
def embedding_store(
    demo_root: Path, hubert: Path, hear_module: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The demo corpus built through `mer-zoo build-features` with the three encoder sets (2 workers)."""
    from conftest import run_cli

    out = tmp_path_factory.mktemp("emb") / "features.h5"
    sets = [spec.format(hubert=hubert, w=hear_module[1]) for spec in SETS]
    args = ["build-features", "--root", demo_root, "--out", out, "--no-progress", "--workers", "2"]
    assert run_cli([*args, *[a for spec in sets for a in ("--set", spec)]]) == 0
    return out


def first_window(store: Path) -> tuple[np.ndarray, int, int]:
    """Song 0's first window decoded at the store's rate, that rate, and its row in the store."""
    with FeatureStore(store) as features:
        songs, segments = features.songs, features.segments
        root, rate, clip = Path(str(features.attrs["source_root"])), features.config.sample_rate, features.config.clip_s
    song = songs.iloc[0]
    row = int(song.first_segment)
    y, _ = load_audio(root / str(song.path), rate)
    start = int(round(float(segments.start_s[row]) * rate))
    return y[start : start + int(round(clip * rate))], rate, row


def stored(store: Path, name: str, row: int) -> np.ndarray:
    with h5py.File(store, "r") as f:
        return np.asarray(f[f"features/{name}/data"][row])


def test_hf_frames_are_transformers_hidden_states_binned_at_2_hz(embedding_store: Path, hubert: Path) -> None:
    import soxr
    import torch
    from transformers import AutoFeatureExtractor, AutoModel

    window, rate, row = first_window(embedding_store)
    clip = soxr.resample(window, rate, 16000, quality="HQ").astype(np.float32)
    features = AutoFeatureExtractor.from_pretrained(hubert, local_files_only=True)
    model = AutoModel.from_pretrained(hubert, local_files_only=True).eval()
    with torch.inference_mode():
        states = model(**features([clip], sampling_rate=16000, return_tensors="pt"), output_hidden_states=True)
    states = [s[0].numpy() for s in states.hidden_states]
    times = (np.arange(len(states[1])) * HOP + FIELD / 2) / 16000  # each frame's receptive-field centre
    for name, frames in (("h1", states[1]), ("havg", np.mean(states, axis=0))):
        got = stored(embedding_store, name, row)
        assert got.shape == (32, 10)
        np.testing.assert_allclose(got, bin_means(frames, times, 2.0, 10), atol=2e-5, rtol=1e-4)
    assert not np.allclose(stored(embedding_store, "h1", row), stored(embedding_store, "havg", row))


def test_hear_frames_are_the_modules_timestamp_embeddings_binned_at_2_hz(
    embedding_store: Path, hear_module: tuple[str, Path]
) -> None:
    import importlib

    import soxr
    import torch

    api = importlib.import_module(hear_module[0])
    window, rate, row = first_window(embedding_store)
    clip = soxr.resample(window, rate, 8000, quality="HQ").astype(np.float32)
    embeddings, stamps = api.get_timestamp_embeddings(torch.from_numpy(clip[None]), api.load_model(str(hear_module[1])))
    expected = bin_means(embeddings[0].numpy(), stamps[0].numpy() / 1000, 2.0, 10)
    np.testing.assert_allclose(stored(embedding_store, "th", row), expected, atol=1e-5)


def test_the_store_records_what_made_each_encoder_set(embedding_store: Path, hubert: Path) -> None:
    import hashlib

    import torch
    import transformers

    with h5py.File(embedding_store, "r") as f:
        attrs = {name: dict(f[f"features/{name}/data"].attrs) for name in ("h1", "havg", "th")}
    config, about = json.loads(attrs["h1"]["config"]), json.loads(attrs["h1"]["about"])
    digest = hashlib.sha256(b"model.safetensors\0" + (hubert / "model.safetensors").read_bytes()).hexdigest()
    assert config == {"path": str(hubert.resolve()), "layer": 1, "rate": 2.0, "trust_remote_code": False,
                      "sha256": digest}  # fmt: skip
    assert (attrs["h1"]["extractor"], attrs["h1"]["kind"], attrs["h1"]["frame_rate_hz"]) == ("hf", "sequence", 2.0)
    assert about["model_class"] == "HubertModel" and about["model_type"] == "hubert"
    assert (about["transformers"], about["torch"]) == (transformers.__version__, torch.__version__)
    assert json.loads(attrs["havg"]["config"])["layer"] == "mean"
    hear_config = json.loads(attrs["th"]["config"])
    assert hear_config["module"] == "tiny_hear" and len(hear_config["sha256"]) == 64
    assert json.loads(attrs["th"]["about"])["sample_rate"] == 8000


def test_native_rate_keeps_the_models_frames(hubert: Path) -> None:
    from mer_zoo.config import FeatureConfig
    from mer_zoo.features import get_extractor

    windows = FeatureConfig()
    native, binned = (get_extractor("hf", path=str(hubert), rate=r) for r in ("native", 2))
    assert native.shape(windows) == (32, 249) and binned.shape(windows) == (32, 10)
    assert native.frame_rate_hz(windows) == pytest.approx(249 / 5)
    y = np.random.default_rng(0).standard_normal(windows.clip_samples).astype(np.float32) * 0.1
    frames = native.compute(y, [0], windows)[0]
    times = (np.arange(249) * HOP + FIELD / 2) / 16000
    np.testing.assert_allclose(binned.compute(y, [0], windows)[0], bin_means(frames.T, times, 2.0, 10), atol=1e-5)


@pytest.mark.slow
def test_ridge_and_probes_train_on_an_embedding_set_and_predict_new_files(
    embedding_store: Path, demo_root: Path, tmp_path: Path, cli: Callable[[list[Any]], int]
) -> None:
    runs = tmp_path / "runs"
    common = ["--features", embedding_store, "--set", "h1", "--out", runs, "--device", "cpu"]
    assert cli(["train", "--model", "ridge", *common]) == 0
    assert cli(["train", "--model", "mlp_probe", "--epochs", "2", *common]) == 0
    assert cli(["train", "--model", "temporal_probe", "--task", "dynamic", "--epochs", "2", *common]) == 0
    from mer_zoo.predict import predict

    audio = sorted((demo_root / "DEAM_audio" / "MEMD_audio").glob("*.mp3"))[:2]
    for run in sorted(runs.iterdir()):
        config = json.loads((run / "config.json").read_text())
        assert config["store"]["set"]["extractor"] == "hf" and (run / "metrics.json").is_file()
        if config["task"]["name"] == "dynamic":  # through the CLI and its Dask workers: one row every 0.5 s
            out = tmp_path / "dynamic.csv"
            args = ["predict", run, *audio, "--out", out, "--no-progress", "--workers", "1", "--device", "cpu"]
            assert cli(args) == 0
            table = pd.read_csv(out)
            assert np.allclose(np.diff(table[table.file == str(audio[0])].time_s), 0.5)
        else:
            table = predict(run, audio, device="cpu").table
            assert len(table) == 2 * 9  # 45-s files: nine 5-s windows each
        assert sorted(set(table.file)) == sorted(map(str, audio))
        assert np.isfinite(table[["arousal", "valence"]].to_numpy()).all()


@pytest.mark.slow
def test_add_features_adds_an_embedding_set_with_the_builds_values(
    demo_store: Path, embedding_store: Path, hubert: Path, tmp_path: Path, cli: Callable[[list[Any]], int]
) -> None:
    store = Path(shutil.copy(demo_store, tmp_path / "features.h5"))
    spec = f"h1=hf:path={hubert},layer=1"
    assert cli(["add-features", store, "--set", spec, "--no-progress", "--workers", "1"]) == 0
    with FeatureStore(store) as added, FeatureStore(embedding_store) as built:
        assert set(added.sets) == {"mel", "h1"}
        assert added.set_spec("h1").settings() == built.set_spec("h1").settings()
        np.testing.assert_allclose(added.data("h1")[:], built.data("h1")[:], atol=1e-6)
        assert np.array_equal(added.segments.start_s, built.segments.start_s)


@pytest.mark.slow
def test_a_running_dask_scheduler_builds_the_same_encoder_set(
    dask_cluster: str,
    demo_root: Path,
    embedding_store: Path,
    hubert: Path,
    tmp_path: Path,
) -> None:
    from mer_zoo.pipeline.build import build_features

    out = tmp_path / "features.h5"
    options = {"h1": {"path": str(hubert), "layer": 1}}
    summary = build_features(
        demo_root, out, sets=["h1=hf"], set_options=options, scheduler=dask_cluster, progress=False
    )
    assert summary.exit_code == 0
    with FeatureStore(out) as remote, FeatureStore(embedding_store) as local:
        np.testing.assert_allclose(remote.data("h1")[:], local.data("h1")[:], atol=1e-5)


# --- bad inputs: one line, exit 2, before any work ------------------------------------------


def _bad_folders(root: Path, hubert: Path) -> dict[str, tuple[str, str]]:
    """name -> (--set spec, what the message must say)."""
    no_config = root / "no_config"
    no_config.mkdir()
    shutil.copy(hubert / "model.safetensors", no_config)
    corrupt = root / "corrupt"
    shutil.copytree(hubert, corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00not a safetensors file" * 10)
    remote = root / "remote"
    shutil.copytree(hubert, remote)
    config = json.loads((remote / "config.json").read_text())
    config.update(model_type="mert_model", auto_map={"AutoModel": "modeling_MERT.MERTModel"})
    (remote / "config.json").write_text(json.dumps(config))
    return {
        "missing": (f"hf:path={root / 'nowhere'}", "no such model folder"),
        "no config": (f"hf:path={no_config}", "no config.json"),
        "corrupt": (f"hf:path={corrupt}", "weights do not load"),
        "remote code": (f"hf:path={remote}", "trust_remote_code=true"),
        "layer": (f"hf:path={hubert},layer=7", "hidden states 0..2"),
        "hear missing": ("hear:module=no_such_package.hear_model", "cannot be imported"),
        "hear not api": ("hear:module=json", "lacks load_model(), get_timestamp_embeddings()"),
    }


def test_bad_encoder_inputs_are_one_line_and_exit_2_before_any_work(
    demo_root: Path, hubert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli: Callable[[list[Any]], int]
) -> None:
    for name, (spec, cause) in _bad_folders(tmp_path, hubert).items():
        out = tmp_path / f"{name.replace(' ', '_')}.h5"
        code = cli(["build-features", "--root", demo_root, "--out", out, "--set", spec, "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert code == 2, (name, err)
        assert len(err.splitlines()) == 1 and cause in err, (name, err)
        if name in ("no config", "corrupt", "remote code"):
            assert f"{tmp_path / name.split()[0].replace('no', 'no_config')}:" in err, err
        assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_the_remote_code_refusal_says_what_would_run(hubert: Path, tmp_path: Path) -> None:
    from mer_zoo.errors import InputError
    from mer_zoo.features import get_extractor

    spec, _ = _bad_folders(tmp_path, hubert)["remote code"]
    with pytest.raises(InputError, match=r"modeling_MERT\.MERTModel.*imported and run"):
        get_extractor("hf", path=spec.partition("=")[2])


def test_a_worker_without_the_folder_or_with_other_weights_says_so_in_one_line(hubert: Path, tmp_path: Path) -> None:
    from mer_zoo.errors import InputError
    from mer_zoo.features import get_extractor

    folder = shutil.copytree(hubert, tmp_path / "model")
    extractor = get_extractor("hf", path=str(folder))  # as the client makes it; a worker calls load() once
    shutil.rmtree(folder)
    with pytest.raises(InputError, match=r"model: no such model folder on \S+ \(pid \d+\)$"):
        extractor.load()
    shutil.copytree(hubert, folder)
    (folder / "model.safetensors").write_bytes(b"other weights")
    with pytest.raises(InputError, match="differ from the set's"):
        extractor.load()


def test_set_name_aliases_name_the_set_and_keep_the_extractor() -> None:
    from mer_zoo.config import FeatureConfig
    from mer_zoo.errors import InputError
    from mer_zoo.pipeline.build import make_extractors
    from mer_zoo.store import SetSpec

    (mfcc13,) = make_extractors(["mfcc13=mfcc"], {"mfcc13": {"n_mfcc": 13}}, FeatureConfig())
    spec = SetSpec.of(mfcc13, FeatureConfig())
    assert (spec.name, spec.extractor, spec.shape[0]) == ("mfcc13", "mfcc", 39)
    with pytest.raises(InputError, match="another extractor"):
        make_extractors(["chroma=mfcc"], {}, FeatureConfig())


def test_a_missing_optional_package_is_one_line_naming_its_extra(hubert: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mer_zoo.errors import InputError
    from mer_zoo.features import get_extractor, vibenet_hear

    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now fails
    with pytest.raises(InputError, match=r'needs transformers: pip install "mer-zoo\[hf\]"$'):
        get_extractor("hf", path=str(hubert))
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "mer-zoo\[embeddings\]"'):
        vibenet_hear.load_model()
