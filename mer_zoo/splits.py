"""Song-level splits: every window of a song lands in exactly one of train, val and test.

Three kinds, all deterministic for a given seed and recorded with a run as a JSON dict:

- ``random``: a seeded shuffle of the songs cut by ratios (default 70/15/15);
- ``kfold``: fold ``i`` of ``k`` (1-based) is the test part; validation is a seeded
  ``val_ratio`` share of the other folds' songs;
- ``mediaeval2015``: the MediaEval 2015 protocol; train and validation come from songs with
  ids up to 2000, the test part is songs 2001..2058 (ids above 2058 are left out);
- ``file``: the song ids of each part read from a file (``file:split.json`` with
  ``{"train": [...], "val": [...], "test": [...]}``) or from three text files of one id per
  line (``file:train.txt,val.txt,test.txt``, the form Music2Emo publishes). Ids the store
  lacks are left out and listed in the split's ``missing`` parameter;
- ``group``: k-fold by whole groups of a metadata column (``group:artist:I/K``; see
  `group_split`), so no artist, album, ... is in two parts. ``group:COLUMN[:K]`` is fold 1
  of K (default 5); ``cv`` and ``bench`` run every fold of ``--split group:COLUMN[:K]``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mer_zoo.errors import InputError, MerZooError
from mer_zoo.folds import DEFAULT_FOLDS, group_folds

__all__ = [
    "PARTS",
    "SPLIT_KINDS",
    "SongSplit",
    "check_disjoint",
    "file_split",
    "group_split",
    "kfold_split",
    "make_split",
    "mediaeval2015_split",
    "parse_split",
    "random_split",
]

PARTS = ("train", "val", "test")
SPLIT_KINDS = ("random", "kfold", "mediaeval2015", "file", "group")
DEFAULT_RATIOS = (0.7, 0.15, 0.15)
DEFAULT_VAL_RATIO = 0.15
MEDIAEVAL_DEV_MAX = 2000
MEDIAEVAL_TEST = (2001, 2058)
_SPEC_HELP = (
    "use random, random:TRAIN,VAL,TEST, kfold:I/K, mediaeval2015, file:SPLIT.json, file:TRAIN,VAL,TEST "
    "or group:COLUMN[:K] / group:COLUMN:I/K"
)
Metadata = Mapping[str, Mapping[int, str]]  # column -> {song_id: value}, "" for none (FeatureStore.metadata)


@dataclass(frozen=True)
class SongSplit:
    """Song ids per part; construction checks that parts are non-empty and disjoint."""

    kind: str
    params: dict[str, Any]
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in PARTS:
            object.__setattr__(self, name, tuple(sorted(int(s) for s in getattr(self, name))))
        for name in PARTS:
            if not getattr(self, name):
                raise MerZooError(f"split {self.label()}: the {name} part is empty; {self.sizes_text()}")
        check_disjoint(self)

    def part(self, name: str) -> tuple[int, ...]:
        """Song ids of ``train``, ``val`` or ``test``; ``all`` gives the three together, sorted."""
        if name == "all":
            return tuple(sorted(self.train + self.val + self.test))
        if name not in PARTS:
            raise InputError(f"unknown split part {name!r}: use all, train, val or test")
        return getattr(self, name)

    def label(self) -> str:
        """A short description such as ``kfold(fold=2, k=5, seed=0, val_ratio=0.15)``."""
        inner = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.kind}({inner})"

    def sizes_text(self) -> str:
        """Songs per part, e.g. ``train 42, val 9, test 9 songs``."""
        return ", ".join(f"{name} {len(getattr(self, name))}" for name in PARTS) + " songs"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that ``from_dict`` turns back into the same split."""
        return {"kind": self.kind, "params": dict(self.params), **{name: list(getattr(self, name)) for name in PARTS}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SongSplit:
        """Rebuild a split saved with ``to_dict`` (a malformed dict is a MerZooError)."""
        missing = [key for key in ("kind", "params", *PARTS) if key not in d]
        if missing:
            raise MerZooError(f"saved split lacks {', '.join(missing)}")
        return cls(d["kind"], dict(d["params"]), *(tuple(d[name]) for name in PARTS))


def check_disjoint(split: SongSplit) -> None:
    """Raise MerZooError naming the songs that fall in more than one part."""
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            both = sorted(set(getattr(split, a)) & set(getattr(split, b)))
            if both:
                shown = ", ".join(map(str, both[:5])) + (" ..." if len(both) > 5 else "")
                raise MerZooError(f"split {split.label()}: songs {shown} are in both {a} and {b}")


def _unique_ids(song_ids: Sequence[int]) -> np.ndarray:
    ids = np.unique(np.asarray(song_ids, dtype=np.int64))
    if ids.size == 0:
        raise MerZooError("cannot split: no songs")
    return ids


def _carve(pool: np.ndarray, val_ratio: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Split ``pool`` into (train, val) with ``round(val_ratio * len(pool))`` validation songs."""
    shuffled = rng.permutation(pool)
    n_val = int(round(val_ratio * len(pool)))
    return shuffled[n_val:], shuffled[:n_val]


def _check_ratio(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise InputError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def random_split(song_ids: Sequence[int], ratios: Sequence[float] = DEFAULT_RATIOS, seed: int = 0) -> SongSplit:
    """Shuffle the songs with ``seed`` and cut them by (train, val, test) ``ratios``."""
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) <= 0 or not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise InputError(f"split ratios must be three positive numbers summing to 1, got {list(ratios)}")
    ids = np.random.default_rng(seed).permutation(_unique_ids(song_ids))
    cuts = np.round(np.cumsum(ratios)[:2] * len(ids)).astype(int)
    train, val, test = np.split(ids, cuts)
    return SongSplit("random", {"seed": seed, "ratios": list(ratios)}, tuple(train), tuple(val), tuple(test))


def kfold_split(
    song_ids: Sequence[int], fold: int, k: int, seed: int = 0, val_ratio: float = DEFAULT_VAL_RATIO
) -> SongSplit:
    """Fold ``fold`` (1..k) of a seeded k-fold partition is the test part; val is carved from the rest."""
    if k < 2 or not 1 <= fold <= k:
        raise InputError(f"k-fold needs k >= 2 and fold in 1..k, got fold {fold} of {k}")
    _check_ratio("val_ratio", val_ratio)
    ids = _unique_ids(song_ids)
    if k > len(ids):
        raise MerZooError(f"cannot make {k} folds from {len(ids)} songs")
    folds = np.array_split(np.random.default_rng(seed).permutation(ids), k)
    pool = np.concatenate([f for i, f in enumerate(folds) if i != fold - 1])
    train, val = _carve(pool, val_ratio, np.random.default_rng([seed, fold]))
    params = {"fold": fold, "k": k, "seed": seed, "val_ratio": val_ratio}
    return SongSplit("kfold", params, tuple(train), tuple(val), tuple(folds[fold - 1]))


def mediaeval2015_split(song_ids: Sequence[int], seed: int = 0, val_ratio: float = DEFAULT_VAL_RATIO) -> SongSplit:
    """MediaEval 2015: train/val from ids <= 2000 (val a seeded share), test on ids 2001..2058."""
    _check_ratio("val_ratio", val_ratio)
    ids = _unique_ids(song_ids)
    test = ids[(ids >= MEDIAEVAL_TEST[0]) & (ids <= MEDIAEVAL_TEST[1])]
    train, val = _carve(ids[ids <= MEDIAEVAL_DEV_MAX], val_ratio, np.random.default_rng(seed))
    return SongSplit("mediaeval2015", {"seed": seed, "val_ratio": val_ratio}, tuple(train), tuple(val), tuple(test))


def group_split(
    song_ids: Sequence[int],
    groups: Mapping[int, str],
    fold: int,
    k: int,
    seed: int = 0,
    val_ratio: float = DEFAULT_VAL_RATIO,
    column: str = "group",
) -> SongSplit:
    """Fold ``fold`` (1..k) of ``k`` folds of whole groups is the test part; validation is whole groups of the rest.

    ``groups`` maps songs to their value in ``column`` (an artist, album, ...): case and spacing
    do not matter, and a song with no value is a group of its own (`mer_zoo.folds.group_folds`).
    """
    if k < 2 or not 1 <= fold <= k:
        raise InputError(f"group k-fold needs k >= 2 and fold in 1..k, got fold {fold} of {k}")
    _check_ratio("val_ratio", val_ratio)
    parts = group_folds(_unique_ids(song_ids).tolist(), groups, fold, k, seed, val_ratio, column)
    params = {"column": column, "fold": fold, "k": k, "seed": seed, "val_ratio": val_ratio, **parts.counts}
    return SongSplit("group", params, parts.train, parts.val, parts.test)


def _group_from_spec(spec: str, arg: str, song_ids: Sequence[int], seed: int, metadata: Metadata | None) -> SongSplit:
    """``group:COLUMN``, ``group:COLUMN:K`` (fold 1 of K) or ``group:COLUMN:I/K`` over the store's ``metadata``."""
    from mer_zoo.datasets.metadata import metadata_key

    name, _, folds = arg.partition(":")
    column = metadata_key(name)
    try:
        fold, k = (int(v) for v in folds.split("/")) if "/" in folds else (1, int(folds or DEFAULT_FOLDS))
    except ValueError:
        raise InputError(f"bad split {spec!r}: {_SPEC_HELP}") from None
    known = dict(metadata or {})
    if column not in known:
        have = (
            ", ".join(known) or "none (a corpus without metadata, or a store older than them: see README, group splits)"
        )
        raise InputError(
            f"--split group:{name.strip()}: the store has no metadata column {name.strip()!r}; its columns: {have}"
        )
    return group_split(song_ids, known[column], fold, k, seed=seed, column=column)


_ID = re.compile(r"^(?:.*[/\\])?(\d+)(?:\.\w+)?$")


def _as_id(value: Any) -> int | None:
    """A song id from ``12``, ``"12"``, ``"12.mp3"`` or ``"audio/12.mp3"``; None when it is none."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _ID.match(value.strip()) if isinstance(value, str) else None
    return int(match.group(1)) if match else None


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise InputError(f"{path}: no such split file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: unreadable split file ({err})") from None


def _read_ids(path: Path, part: str) -> list[int]:
    """Song ids of one text file (one per line, ``#`` comments and blank lines skipped)."""
    ids = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if text:
            song = _as_id(text)
            if song is None:
                raise InputError(f"{path}:{number}: {text!r} is not a song id (the {part} part; one id per line)")
            ids.append(song)
    return ids


def _read_json_ids(path: Path) -> dict[str, list[int]]:
    try:
        data = json.loads(_read_text(path))
    except ValueError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or any(not isinstance(data.get(part), list) for part in PARTS):
        raise InputError(f'{path}: expected a JSON object with lists "train", "val" and "test" of song ids')
    out = {}
    for part in PARTS:
        ids = [_as_id(v) for v in data[part]]
        if None in ids:
            raise InputError(f"{path}: the {part} list holds {data[part][ids.index(None)]!r}, not a song id")
        out[part] = [int(i) for i in ids if i is not None]
    return out


def file_split(paths: Sequence[str | os.PathLike[str]], song_ids: Sequence[int]) -> SongSplit:
    """The split a file gives: one JSON file, or three text files (train, val, test).

    Ids in a file but not in ``song_ids`` are left out and recorded in ``params["missing"]``
    (per part); an id in two parts is an error.
    """
    files = [Path(p) for p in paths]
    if len(files) == 1:
        wanted = _read_json_ids(files[0])
    elif len(files) == 3:
        wanted = {part: _read_ids(path, part) for part, path in zip(PARTS, files)}
    else:
        raise InputError(f"file split needs one JSON file or three text files (train, val, test), got {len(files)}")
    known = {int(s) for s in song_ids}
    parts = {part: sorted(set(ids) & known) for part, ids in wanted.items()}
    missing = {part: sorted(set(ids) - known) for part, ids in wanted.items()}
    params = {"files": [str(f.resolve()) for f in files], "missing": {p: v for p, v in missing.items() if v}}
    return SongSplit("file", params, *(tuple(parts[part]) for part in PARTS))


def make_split(kind: str, song_ids: Sequence[int], *, seed: int = 0, **params: Any) -> SongSplit:
    """Build a split of ``kind`` (see ``SPLIT_KINDS``) over ``song_ids``.

    Args:
        kind: ``random`` (``ratios``), ``kfold`` (``fold``, ``k``, ``val_ratio``) or
            ``mediaeval2015`` (``val_ratio``) or ``file`` (``paths``: one JSON or three text files).
        song_ids: the songs to split (duplicates are ignored).
        seed: the seed of every shuffle; the same seed gives the same split.
        **params: the options of that kind.

    Returns:
        The split; a part left empty is a MerZooError.
    """
    makers = {"random": random_split, "kfold": kfold_split, "mediaeval2015": mediaeval2015_split}
    if kind == "file":
        return file_split(params.get("paths", ()), song_ids)
    if kind not in makers:
        raise InputError(f"unknown split kind {kind!r}: use {', '.join(SPLIT_KINDS)}")
    try:
        maker: Any = makers[kind]
        return maker(song_ids, seed=seed, **params)
    except TypeError as err:
        raise InputError(f"bad options for the {kind} split: {err}") from None


def parse_split(spec: str, song_ids: Sequence[int], seed: int = 0, metadata: Metadata | None = None) -> SongSplit:
    """A split from a CLI string: ``random``, ``random:0.8,0.1,0.1``, ``kfold:2/5``, ``mediaeval2015``, ``file:...``
    or ``group:COLUMN[:K]`` / ``group:COLUMN:I/K`` by the column of ``metadata`` (InputError naming its columns if absent).
    """
    kind, _, arg = spec.strip().partition(":")
    if kind == "file" and arg:
        return file_split([p.strip() for p in arg.split(",")], song_ids)
    if kind == "group" and arg:
        return _group_from_spec(spec.strip(), arg, song_ids, seed, metadata)
    try:
        if kind == "random":
            ratios = [float(r) for r in arg.split(",")] if arg else DEFAULT_RATIOS
            return random_split(song_ids, ratios, seed=seed)
        if kind == "kfold" and arg:
            fold, k = (int(v) for v in arg.split("/"))
            return kfold_split(song_ids, fold, k, seed=seed)
        if kind == "mediaeval2015" and not arg:
            return mediaeval2015_split(song_ids, seed=seed)
    except ValueError:
        pass
    raise InputError(f"bad split {spec!r}: {_SPEC_HELP}")
