"""`mer-zoo train` at its defaults is a plain Adam loop: the same order, initialisation and losses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from mer_zoo.data import FeatureDataset
from mer_zoo.models import get_model
from mer_zoo.runs import open_run
from mer_zoo.training import TrainConfig, make_loader, train
from mer_zoo.training.batches import ShuffledBatches


def test_shuffled_batches_are_one_permutation_per_epoch() -> None:
    batches = ShuffledBatches(10, 4, torch.Generator().manual_seed(5))
    reference = torch.Generator().manual_seed(5)
    for _ in range(3):
        order = torch.randperm(10, generator=reference).tolist()
        assert list(batches) == [order[0:4], order[4:8], order[8:10]]
    assert len(batches) == 3


def test_a_last_batch_of_one_window_is_dropped_unless_batches_are_single() -> None:
    assert [len(b) for b in ShuffledBatches(9, 4, torch.Generator())] == [4, 4]
    assert len(ShuffledBatches(9, 4)) == 2
    assert [len(b) for b in ShuffledBatches(3, 1, torch.Generator())] == [1, 1, 1]


def test_starting_a_loader_leaves_torch_global_generator_alone(demo_store: Path) -> None:
    ds = FeatureDataset(demo_store, "val")
    before = torch.get_rng_state()
    for shuffle in (False, True):
        for _ in make_loader(ds, 64, shuffle=shuffle, generator=torch.Generator().manual_seed(1)):
            pass
    assert torch.equal(torch.get_rng_state(), before)


def _plain_val_losses(run: Path, epochs: int, seed: int, batch: int) -> list[float]:
    """Adam 1e-3 and MSE over the run's own split and normaliser, order from randperm: no mer-zoo training code."""
    record = open_run(run)
    store, split, normalizer = record.store_path, record.split(), record.normalizer()
    train_ds = FeatureDataset(store, "train", songs=split, normalizer=normalizer)
    val_ds = FeatureDataset(store, "val", songs=split, normalizer=normalizer)
    x_train, y_train = train_ds.read(range(len(train_ds)))
    x_val, y_val = val_ds.read(range(len(val_ds)))
    torch.manual_seed(seed)
    model = get_model("cnn_small", n_mels=x_train.shape[2])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(perm), batch):
            idx = perm[i : i + batch]
            if len(idx) < 2:  # BatchNorm cannot train on one window
                continue
            loss = torch.nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            losses.append(float(torch.nn.functional.mse_loss(model(x_val), y_val)))
    return losses


def test_training_at_the_defaults_matches_a_plain_adam_loop(demo_store: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        model="cnn_small", features=demo_store, out=tmp_path, epochs=3, batch_size=16, seed=4, device="cpu"
    )
    run = train(config, progress=False)
    history = pd.read_csv(run / "history.csv")
    plain = _plain_val_losses(run, epochs=3, seed=4, batch=16)
    assert history["val_loss"].tolist() == pytest.approx(plain, rel=1e-4)
