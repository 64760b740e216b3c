"""FeatureDataset, Normalizer and Augment over small stores of random spectrograms."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from mer_zoo.augment import Augment
from mer_zoo.config import FeatureConfig
from mer_zoo.data import FeatureDataset, Normalizer
from mer_zoo.errors import InputError, MerZooError
from mer_zoo.splits import SongSplit, parse_split
from mer_zoo.store.reader import FeatureStore
from mer_zoo.store.writer import SongFeatures, StoreWriter

CONFIG = FeatureConfig(sample_rate=8000, n_mels=16, n_fft=256, hop_length=256, fmax=4000.0, clip_s=1.0, hop_s=1.0)
SHAPE = (CONFIG.n_mels, CONFIG.frames)  # (16, 32)


def _song(song_id: int, rng: np.random.Generator) -> SongFeatures:
    n = int(rng.integers(2, 6))
    starts = 15.0 + np.arange(n, dtype=np.float64)
    # Per-bin offsets make the per-bin statistics differ, as they do in real log-mels.
    mel = (rng.normal(size=(n, *SHAPE)) * 5 - 40 - np.arange(CONFIG.n_mels)[:, None]).astype(np.float32)
    return SongFeatures(
        song_id=song_id,
        path=f"{song_id}.mp3",
        duration_s=45.0,
        features={"mel": mel},
        start_s=starts,
        end_s=starts + 1.0,
        arousal=rng.uniform(-1, 1, n).astype(np.float32),
        valence=rng.uniform(-1, 1, n).astype(np.float32),
        static={},
    )


def write_random_store(path: Path, *, n_songs: int = 20, compression: str | None = None, complete: bool = True) -> Path:
    """A store of random windows; the same songs for every call (seed 0)."""
    rng = np.random.default_rng(0)
    writer = StoreWriter.create(path, CONFIG, dataset="random", source_root="nowhere", compression=compression)
    for song_id in range(10, 10 + 7 * n_songs, 7):
        writer.append_song(_song(song_id, rng))
    writer.close(complete=complete)
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_store(tmp_path_factory.mktemp("data") / "features.h5")


@pytest.fixture(scope="module")
def compressed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_store(tmp_path_factory.mktemp("data") / "gzip.h5", compression="gzip")


@pytest.fixture(scope="module")
def raw(store: Path) -> dict[str, np.ndarray]:
    with h5py.File(store, "r") as f:
        return {"mel": f["mel"][:], **{k: f[f"segments/{k}"][:] for k in ("song_id", "arousal", "valence")}}


@pytest.fixture(scope="module")
def split(raw: dict[str, np.ndarray]) -> SongSplit:
    return parse_split("random", raw["song_id"], seed=1)


def _all_items(ds: FeatureDataset) -> tuple[torch.Tensor, torch.Tensor]:
    mels, targets = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(mels), torch.stack(targets)


def test_items_are_the_stores_rows_exactly(store: Path, raw: dict[str, np.ndarray]) -> None:
    ds = FeatureDataset(store)
    assert ds.memory_mappable and len(ds) == len(raw["mel"])
    mel, target = ds[3]
    assert mel.shape == (1, *SHAPE) and mel.dtype == torch.float32
    assert target.shape == (2,) and target.dtype == torch.float32
    mels, targets = _all_items(ds)
    np.testing.assert_array_equal(mels[:, 0].numpy(), raw["mel"])
    np.testing.assert_array_equal(targets.numpy(), np.stack([raw["arousal"], raw["valence"]], axis=1))
    assert [ds.song_id(i) for i in range(len(ds))] == raw["song_id"].tolist()
    np.testing.assert_array_equal(ds[-1][0], ds[len(ds) - 1][0])
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_split_parts_serve_only_their_songs(store: Path, raw: dict[str, np.ndarray], split: SongSplit) -> None:
    rows = []
    for part in ("train", "val", "test"):
        ds = FeatureDataset(store, part, songs=split)
        assert set(ds.song_ids) == set(split.part(part))
        np.testing.assert_array_equal(_all_items(ds)[0][:, 0].numpy(), raw["mel"][ds.rows])
        rows += ds.rows.tolist()
    assert sorted(rows) == list(range(len(raw["mel"])))
    assert len(FeatureDataset(store, "all", songs=split)) == len(raw["mel"])


def test_batch_read_matches_items(store: Path, split: SongSplit) -> None:
    ds = FeatureDataset(store, "train", songs=split)
    ds.normalizer = Normalizer.fit(ds)
    idx = [5, 0, 3, 3]
    mel, target = ds.read(idx)
    assert mel.shape == (4, 1, *SHAPE)
    np.testing.assert_array_equal(mel.numpy(), torch.stack([ds[i][0] for i in idx]).numpy())
    np.testing.assert_array_equal(target.numpy(), ds.targets[idx])


def test_normalizer_is_fitted_on_train_only_and_applied_to_every_part(
    store: Path, raw: dict[str, np.ndarray], split: SongSplit
) -> None:
    train = FeatureDataset(store, "train", songs=split)
    norm = Normalizer.fit(train)
    x = raw["mel"][train.rows].astype(np.float64)
    np.testing.assert_allclose(norm.mean, x.mean(axis=(0, 2)), rtol=1e-6)
    np.testing.assert_allclose(norm.std, x.std(axis=(0, 2)), rtol=1e-5)
    assert not np.allclose(norm.mean, raw["mel"].mean(axis=(0, 2)), rtol=1e-4)  # val/test not used
    for part in ("train", "val", "test"):
        ds = FeatureDataset(store, part, songs=split, normalizer=norm)
        expected = (raw["mel"][ds.rows] - norm.mean[:, None]) / norm.std[:, None]
        np.testing.assert_allclose(_all_items(ds)[0][:, 0].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert abs(float(_all_items(FeatureDataset(store, "train", songs=split, normalizer=norm))[0].mean())) < 1e-4


def test_normalizer_round_trip_and_types(store: Path) -> None:
    norm = Normalizer.fit(FeatureDataset(store))
    again = Normalizer.from_dict(pickle.loads(pickle.dumps(norm.to_dict())))
    np.testing.assert_array_equal(again.mean, norm.mean)
    np.testing.assert_array_equal(again.std, norm.std)
    mel = np.random.default_rng(0).normal(size=(3, 1, *SHAPE)).astype(np.float32)
    np.testing.assert_allclose(norm(torch.from_numpy(mel)).numpy(), norm(mel), rtol=1e-6)
    with pytest.raises(MerZooError, match="malformed"):
        Normalizer.from_dict({"mean": [0.0]})
    with pytest.raises(MerZooError, match="normalizer has 3 features, set .mel. serves 16"):
        FeatureDataset(store, normalizer=Normalizer([0, 0, 0], [1, 1, 1]))


def test_pickle_round_trip_after_reading(store: Path, split: SongSplit) -> None:
    ds = FeatureDataset(store, "val", songs=split, normalizer=Normalizer.fit(FeatureDataset(store)))
    first = ds[0][0]  # the parent has an open file now; it must not travel
    again = pickle.loads(pickle.dumps(ds))
    assert again._src is None
    np.testing.assert_array_equal(again[0][0], first)
    assert again.song_id(0) == ds.song_id(0)


@pytest.mark.parametrize(
    ("context", "which"), [("fork", "store"), ("spawn", "store"), ("fork", "compressed_store")]
)  # h5py handles are what must not cross fork (pytorch#11929)
def test_dataloader_with_two_workers(context: str, which: str, request: pytest.FixtureRequest) -> None:
    ds = FeatureDataset(request.getfixturevalue(which))
    expected_mel, expected_target = _all_items(ds)  # opened in the parent before the workers start
    loader = DataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context=context)
    mels, targets = zip(*loader)
    np.testing.assert_array_equal(torch.cat(mels).numpy(), expected_mel.numpy())
    np.testing.assert_array_equal(torch.cat(targets).numpy(), expected_target.numpy())


class _WhoReads(torch.utils.data.Dataset):
    """Reports, per item, the reading process and the process that opened the store file."""

    def __init__(self, ds: FeatureDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> torch.Tensor:
        self.ds[i]
        return torch.tensor([os.getpid(), self.ds._src.pid])


@pytest.mark.parametrize("which", ["store", "compressed_store"])
def test_forked_workers_open_their_own_file(which: str, request: pytest.FixtureRequest) -> None:
    ds = FeatureDataset(request.getfixturevalue(which))
    ds[0]  # the parent opens the file before forking
    pids = torch.cat(list(DataLoader(_WhoReads(ds), batch_size=4, num_workers=2, multiprocessing_context="fork")))
    assert set(pids[:, 0].tolist()).isdisjoint({os.getpid()})
    assert torch.equal(pids[:, 0], pids[:, 1])


def test_compressed_store_falls_back_to_h5py_with_identical_items(
    store: Path, compressed_store: Path, split: SongSplit
) -> None:
    with h5py.File(compressed_store, "r") as f:
        assert f["mel"].compression == "gzip"
    norm = Normalizer.fit(FeatureDataset(store, "train", songs=split))
    plain = FeatureDataset(store, "test", songs=split, normalizer=norm)
    packed = FeatureDataset(compressed_store, "test", songs=split, normalizer=norm)
    assert plain.memory_mappable and not packed.memory_mappable
    for a, b in zip(_all_items(plain), _all_items(packed)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(plain.read([2, 0])[0].numpy(), packed.read([2, 0])[0].numpy())


def test_unfinished_store_is_a_clear_error(tmp_path: Path) -> None:
    partial = write_random_store(tmp_path / "partial.h5", n_songs=2, complete=False)
    with pytest.raises(MerZooError, match="still being built") as err:
        FeatureDataset(partial)
    assert "\n" not in str(err.value) and "partial.h5" in str(err.value)
    writer = StoreWriter.create(tmp_path / "open.h5", CONFIG, dataset="random", source_root="nowhere")
    writer.append_song(_song(1, np.random.default_rng(0)))
    try:
        with pytest.raises(MerZooError, match="still being built"):
            FeatureDataset(tmp_path / "open.h5")
    finally:
        writer.close()


def test_wrong_format_version_is_a_clear_error(tmp_path: Path) -> None:
    path = write_random_store(tmp_path / "old.h5", n_songs=2)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(MerZooError, match="format version 99") as err:
        FeatureDataset(path)
    assert "\n" not in str(err.value)


def test_a_store_replaced_after_opening_is_detected(tmp_path: Path) -> None:
    path = write_random_store(tmp_path / "features.h5", n_songs=3)
    ds = FeatureDataset(path)
    write_random_store(tmp_path / "features.h5", n_songs=4)
    with pytest.raises(MerZooError, match="changed since the dataset was opened"):
        ds[0]


def test_bad_arguments(store: Path, split: SongSplit) -> None:
    with pytest.raises(InputError, match="unknown split part"):
        FeatureDataset(store, "dev", songs=split)
    with pytest.raises(MerZooError, match="no such feature store"):
        FeatureDataset(store.with_name("missing.h5"))


def test_a_part_without_songs_is_a_part_of_the_default_split_train_uses(store: Path) -> None:
    from mer_zoo.splits import parse_split

    with FeatureStore(store) as opened:
        song_ids = sorted(set(opened.segments.song_id))
    for seed in (0, 3):
        expected = parse_split("random", song_ids, seed=seed)  # what `mer-zoo train --seed SEED` uses
        for part in ("train", "val", "test"):
            ds = FeatureDataset(store, part, seed=seed)
            assert set(ds.song_ids) == set(expected.part(part)) and ds.songs == expected
    assert set(FeatureDataset(store, "train").song_ids).isdisjoint(FeatureDataset(store, "test").song_ids)


def test_a_part_with_no_windows_in_the_store_is_an_error(store: Path) -> None:
    elsewhere = SongSplit("random", {"seed": 0}, (1,), (2,), (3,))
    with pytest.raises(MerZooError, match=r"no windows in the train part of split random\(seed=0\)"):
        FeatureDataset(store, "train", songs=elsewhere)


def test_augmentation_is_off_by_default_and_changes_training_items(store: Path, split: SongSplit) -> None:
    plain = FeatureDataset(store, "train", songs=split)
    assert plain.augment is None
    np.testing.assert_array_equal(plain[0][0], plain[0][0])
    torch.manual_seed(0)
    masked = FeatureDataset(store, "train", songs=split, augment=Augment(time_mask=8, freq_mask=4))
    items = [masked[0][0] for _ in range(10)]
    assert any(not torch.equal(item, plain[0][0]) for item in items)
    assert any(not torch.equal(a, b) for a, b in zip(items, items[1:]))  # fresh masks per draw
    for item in items:
        changed = item != plain[0][0]
        fill = plain[0][0].mean()
        assert torch.allclose(item[changed], fill.expand_as(item[changed]))
    np.testing.assert_array_equal(masked[0][1], plain[0][1])


def test_random_crop_keeps_a_window_of_the_original(store: Path, split: SongSplit) -> None:
    plain = FeatureDataset(store, "train", songs=split)
    cropped = FeatureDataset(store, "train", songs=split, augment=Augment(crop_frames=20))
    mel = cropped[1][0]
    assert mel.shape == (1, CONFIG.n_mels, 20)
    full = plain[1][0]
    assert any(torch.equal(mel, full[..., s : s + 20]) for s in range(CONFIG.frames - 20 + 1))


def test_augment_is_reproducible_with_torch_seed() -> None:
    mel = torch.randn(1, 16, 32)
    aug = Augment(time_mask=10, freq_mask=6, crop_frames=24)
    torch.manual_seed(3)
    a = aug(mel)
    torch.manual_seed(3)
    assert torch.equal(a, aug(mel))
    assert torch.equal(Augment()(mel), mel)


def test_augment_settings_are_checked(store: Path, split: SongSplit) -> None:
    with pytest.raises(InputError, match="training items only"):
        FeatureDataset(store, "val", songs=split, augment=Augment(time_mask=2))
    with pytest.raises(InputError, match="crop_frames 40 exceeds the store's 32 frames"):
        FeatureDataset(store, "train", songs=split, augment=Augment(crop_frames=40))
    with pytest.raises(InputError, match="exceed the window"):
        FeatureDataset(store, "train", songs=split, augment=Augment(freq_mask=17))
    with pytest.raises(InputError):
        Augment(time_mask=-1)


def test_demo_store_built_from_audio(demo_store: Path) -> None:
    with h5py.File(demo_store, "r") as f:
        mel, song_ids = f["mel"][:], f["segments/song_id"][:]
    split = parse_split("random", song_ids, seed=0)
    train = FeatureDataset(demo_store, "train", songs=split)
    norm = Normalizer.fit(train)
    test = FeatureDataset(demo_store, "test", songs=split, normalizer=norm)
    assert train.memory_mappable
    assert test[0][0].shape == (1, train.config.n_mels, train.config.frames)
    np.testing.assert_allclose(test[0][0][0].numpy(), norm(mel[test.rows[0]]), rtol=1e-5, atol=1e-5)
    assert not set(train.song_ids) & set(test.song_ids)
