"""Folds: the ``--split`` of fold I of a family, and k folds of whole groups (artists, albums, ...).

``cv`` and ``bench`` take a split *family* (``kfold``, ``group:artist``) and train fold ``I``
of ``K`` with ``FAMILY:I/K`` (`fold_family`, `fold_split`). `group_folds` is the pure
assignment behind a ``group`` split (:func:`mer_zoo.splits.group_split`):

- a song's group is its value with case and spacing ignored (``"The  Band"`` = ``"the band"``);
  a song with no value is a group of its own, so it cannot pull others along;
- the groups are shuffled with the seed, then placed largest first, each into the fold with
  the fewest songs so far, so folds hold about the same number of songs;
- validation is whole groups of the other folds, taken in a seeded order while each brings
  the count closer to ``val_ratio`` of their songs (at least one group).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mer_zoo.errors import InputError, MerZooError

__all__ = ["DEFAULT_FOLDS", "GroupFolds", "fold_family", "fold_split", "group_folds", "group_of", "inner_family"]

DEFAULT_FOLDS = 5
Group = tuple[str, str]


def fold_split(family: str, fold: int, folds: int) -> str:
    """The ``--split`` spec of fold ``fold`` of ``folds`` in a split family: ``kfold`` -> ``kfold:2/5``."""
    return f"{family.strip()}:{fold}/{folds}"


def inner_family(split: str) -> str:
    """The family of folds inside a split's training songs: ``group:COLUMN`` for a group split, else ``kfold``.

    A study tuned on a split by artist cross-validates by artist too, so no artist sits on both
    sides of an inner fold either.
    """
    kind, _, rest = split.strip().partition(":")
    return f"group:{rest.partition(':')[0]}" if kind == "group" else "kfold"


def fold_family(spec: str, folds: int | None = None) -> tuple[str, int]:
    """A ``cv``/``bench`` ``--split`` as (family, folds): ``kfold`` -> (kfold, folds or 5), ``group:artist:3`` -> (group:artist, 3).

    Raises:
        InputError: the spec names one fold (``kfold:2/5``), or its K is not a number or differs from ``folds``.
    """
    family = spec.strip()
    kind, _, arg = family.partition(":")
    if "/" in family:
        raise InputError(f"--split {spec}: give a family (kfold, group:COLUMN or group:COLUMN:K); every fold runs")
    column, _, k_text = arg.partition(":")
    if kind == "group" and k_text:
        if not k_text.isdigit():
            raise InputError(f"--split {spec}: K in group:COLUMN:K is a number of folds")
        if folds is not None and folds != int(k_text):
            raise InputError(f"--split {spec} makes {k_text} folds but --folds is {folds}: give one of them")
        return f"group:{column}", int(k_text)
    return family, DEFAULT_FOLDS if folds is None else folds


@dataclass(frozen=True)
class GroupFolds:
    """The songs of each part, and ``counts``: how many groups there are and how many songs had no value."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    counts: dict[str, int]


def group_of(value: str, song_id: int) -> Group:
    """A song's group: its value with case and spacing ignored, or the song alone when it has none."""
    text = " ".join(value.split()).casefold()
    return ("value", text) if text else ("song", str(song_id))


def group_folds(
    song_ids: Sequence[int], groups: Mapping[int, str], fold: int, k: int, seed: int, val_ratio: float, column: str
) -> GroupFolds:
    """Fold ``fold`` of ``k`` folds of whole groups as the test part, validation groups from the rest.

    Raises:
        MerZooError: fewer groups than folds (naming ``column``).
    """
    members: dict[Group, list[int]] = {}
    for song in song_ids:
        members.setdefault(group_of(groups.get(song, ""), song), []).append(int(song))
    if k > len(members):
        raise MerZooError(f"cannot make {k} folds from {len(members)} groups of column {column!r}")
    names = sorted(members)
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    sizes = [0] * k
    test: list[Group] = []
    pool: list[Group] = []
    for group in sorted(shuffled, key=lambda g: -len(members[g])):  # stable: the shuffle breaks ties
        at = sizes.index(min(sizes))
        sizes[at] += len(members[group])
        (test if at == fold - 1 else pool).append(group)
    val = _carve(sorted(pool), members, val_ratio, np.random.default_rng([seed, fold]))
    train = [g for g in pool if g not in val]
    alone = sum(1 for kind, _ in members if kind == "song")
    train_songs, val_songs, test_songs = (tuple(s for g in part for s in members[g]) for part in (train, val, test))
    return GroupFolds(train_songs, val_songs, test_songs, {"groups": len(members), "songs_without_value": alone})


def _carve(
    pool: list[Group], members: Mapping[Group, list[int]], ratio: float, rng: np.random.Generator
) -> list[Group]:
    """The groups of ``pool`` that, taken in a seeded order while they help, come closest to ``ratio`` of its songs."""
    target = round(ratio * sum(len(members[g]) for g in pool))
    chosen: list[Group] = []
    count = 0
    for i in rng.permutation(len(pool)):
        size = len(members[pool[i]])
        if abs(count + size - target) < abs(count - target):
            chosen.append(pool[i])
            count += size
    if not chosen and len(pool) > 1:
        chosen.append(min(pool, key=lambda g: len(members[g])))
    return chosen
