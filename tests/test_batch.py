"""FeatureDataset.__getitems__: whole batches read into one tensor, equal bit for bit to the per-item path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from test_data import write_random_store
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler, default_collate

from mer_zoo.augment import Augment
from mer_zoo.batch import WindowBatch, collate_batch
from mer_zoo.data import FeatureDataset, Normalizer
from mer_zoo.runs import load_checkpoint
from mer_zoo.training import TrainConfig, train
from mer_zoo.training.batches import ShuffledBatches


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_store(tmp_path_factory.mktemp("batch") / "features.h5")


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_store(tmp_path_factory.mktemp("batch") / "gzip.h5", compression="gzip")


def _items(ds: FeatureDataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Today's path: one ``ds[i]`` per window, stacked by torch's default collate."""
    return default_collate([ds[i] for i in indices])


AUGMENTS = {
    "plain": None,
    "masks": Augment(time_mask=8, freq_mask=4),
    "crop and masks": Augment(time_mask=5, freq_mask=3, crop_frames=21),
    "crop": Augment(crop_frames=20),
}


@pytest.mark.parametrize("augment", AUGMENTS.values(), ids=AUGMENTS.keys())
@pytest.mark.parametrize("which", ["store", "packed"])
def test_a_batch_equals_its_items_read_one_by_one(augment: Augment | None, which: str, request: Any) -> None:
    path = request.getfixturevalue(which)
    ds = FeatureDataset(path, "all", augment=augment, normalizer=Normalizer.fit(FeatureDataset(path)))
    indices = [7, 0, len(ds) - 1, 7, -2, 3]
    torch.manual_seed(4)
    batch = ds.__getitems__(indices)
    torch.manual_seed(4)
    want_x, want_y = _items(ds, indices)
    x, y = collate_batch(batch)
    assert x.shape == want_x.shape and x.is_contiguous()
    assert torch.equal(x, want_x) and torch.equal(y, want_y)
    assert batch.indices.tolist() == [k % len(ds) for k in indices]


def test_vectors_and_plain_collate_see_the_same_items(store: Path) -> None:
    ds = FeatureDataset(store, as_vector=True, normalizer=Normalizer.fit(FeatureDataset(store, as_vector=True)))
    x, y = collate_batch(ds.__getitems__([3, 1, 2]))
    want_x, want_y = _items(ds, [3, 1, 2])
    assert x.shape == (3, 32) and torch.equal(x, want_x) and torch.equal(y, want_y)
    # torch's own collate walks a WindowBatch item by item: a plain DataLoader still works.
    plain = FeatureDataset(store)
    (got_x, got_y), *_ = DataLoader(plain, batch_size=5)
    want_x, want_y = _items(plain, list(range(5)))
    assert torch.equal(got_x, want_x) and torch.equal(got_y, want_y)


def test_collate_passes_the_batch_tensor_through_and_swaps_in_task_targets(store: Path) -> None:
    ds = FeatureDataset(store)
    batch = ds.__getitems__([4, 2])
    assert isinstance(batch, WindowBatch) and len(batch) == 2 and torch.equal(batch[1][0], ds[2][0])
    targets = np.arange(2 * len(ds), dtype=np.float32).reshape(-1, 2)
    x, y = collate_batch(batch, targets)
    assert x is batch.features
    assert y.tolist() == [[8.0, 9.0], [4.0, 5.0]]
    with pytest.raises(TypeError):
        collate_batch([ds[0]], targets)


def test_items_out_of_range_are_refused(store: Path) -> None:
    ds = FeatureDataset(store)
    with pytest.raises(IndexError):
        ds.__getitems__([0, len(ds)])


class _Items(Dataset):
    """A FeatureDataset seen item by item (no ``__getitems__``): DataLoader reads each window and collates."""

    def __init__(self, ds: FeatureDataset, targets: np.ndarray | None) -> None:
        self.ds, self.targets = ds, targets

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.ds[i]
        return x, y if self.targets is None else torch.from_numpy(np.ascontiguousarray(self.targets[i]))


def _per_item_loader(
    dataset: FeatureDataset, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None,
    num_workers: int = 0, pin_memory: bool = False, targets: np.ndarray | None = None,
) -> DataLoader:  # fmt: skip
    """``make_loader`` as it was: the same batches, each window read by ``ds[i]`` and stacked by collate."""
    order = ShuffledBatches(len(dataset), batch_size, generator) if shuffle else None
    batches = order or BatchSampler(SequentialSampler(range(len(dataset))), batch_size, False)
    targets = None if targets is None else np.asarray(targets, dtype=np.float32)
    return DataLoader(_Items(dataset, targets), batch_sampler=batches, generator=torch.Generator())


def _train(demo_store: Path, out: Path) -> Path:
    config = TrainConfig(
        model="cnn_small", features=demo_store, out=out, epochs=2, batch_size=16, seed=5, device="cpu", augment=True
    )
    return train(config, progress=False)


def test_training_and_scoring_are_bit_identical_to_the_per_item_path(
    demo_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from mer_zoo.evaluate import evaluate

    batched = _train(demo_store, tmp_path / "batched")
    scored = evaluate(batched)
    monkeypatch.setattr("mer_zoo.training.loop.make_loader", _per_item_loader)
    monkeypatch.setattr("mer_zoo.training.make_loader", _per_item_loader)
    per_item = _train(demo_store, tmp_path / "per_item")
    for name in ("best.pt", "last.pt"):
        a, b = load_checkpoint(batched / name)["state_dict"], load_checkpoint(per_item / name)["state_dict"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (batched, per_item)]
    assert metrics[0]["val"] == metrics[1]["val"] and metrics[0]["test"] == metrics[1]["test"]
    history = [(run / "history.csv").read_text().splitlines() for run in (batched, per_item)]
    assert [row.split(",")[:4] for row in history[0]] == [row.split(",")[:4] for row in history[1]]
    again = evaluate(per_item)
    assert scored["val"] == again["val"] and scored["test"] == again["test"]


def test_batch_memory_is_used_again_only_once_nothing_holds_it(store: Path) -> None:
    ds = FeatureDataset(store)
    first = ds.__getitems__([0, 1]).features
    kept, where = first.clone(), first.data_ptr()
    window = first[1]  # a view keeps the whole batch's memory in use
    del first
    second = ds.__getitems__([2, 3]).features
    third = ds.__getitems__([4, 5]).features  # both kept buffers lent: a fresh one
    assert len({where, second.data_ptr(), third.data_ptr()}) == 3
    assert torch.equal(window, kept[1])
    del window
    assert ds.__getitems__([6, 7]).features.data_ptr() == where
    assert torch.equal(second, ds.read([2, 3])[0]) and torch.equal(third, ds.read([4, 5])[0])
