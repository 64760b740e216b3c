"""Song metadata (artist, album, genre, ...) from a corpus's CSV files, for group splits.

Metadata files are read liberally, as users' copies of the releases come: UTF-8 (with or
without a BOM) or, failing that, Windows-1252; comma-, semicolon- or tab-separated (guessed
from the header); quoted fields with commas; cells padded with spaces, tabs or non-breaking
spaces; rows longer than the header (DEAM's 2014 and 2015 files trail extra tags) or shorter;
a quote left open spoils only its own line.
Columns are found by name, ignoring case, spaces and punctuation, and stored under a plain
name (`metadata_key`: ``"Song title"`` -> ``song_title``). A cell that is empty or a usual
placeholder (``n/a``, ``unknown``, ...) counts as no value.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mer_zoo.datasets.base import STATIC_COLUMNS
from mer_zoo.datasets.tables import Table, column_key, parse_number
from mer_zoo.errors import InputError

__all__ = [
    "MISSING",
    "RESERVED",
    "SongMetadata",
    "metadata_key",
    "metadata_value",
    "read_loose_table",
    "read_metadata",
    "read_optional_metadata",
]

MISSING = frozenset({"", "n/a", "na", "nan", "none", "null", "unknown", "-", "?"})  # compared lower-cased
# Names the store's songs table uses itself: a metadata column of that name is left out.
RESERVED = frozenset({"song_id", "path", "duration_s", "first_segment", "n_segments", *STATIC_COLUMNS, "backend"})
_ENCODINGS = ("utf-8-sig", "cp1252")
_SPACE = re.compile(r"\s+")
_CLOCK = re.compile(r"^\d{1,3}:\d{2}(:\d{2})?(\.\d+)?$")


def metadata_key(name: str) -> str:
    """A metadata column's stored name: lower case, runs of other characters as ``_``: ``" Song title"`` -> ``song_title``."""
    return re.sub(r"[^0-9a-z]+", "_", _SPACE.sub(" ", name).strip().lower()).strip("_")


def metadata_value(cell: str) -> str:
    """A cell as stored: quotes and padding stripped, inner spaces collapsed; ``""`` for a placeholder."""
    value = _SPACE.sub(" ", cell.replace("\u00a0", " ")).strip().strip('"').strip()
    return "" if value.lower() in MISSING else value


@dataclass(frozen=True)
class SongMetadata:
    """Metadata columns (stored names, in order) and each song's non-empty values by column."""

    columns: tuple[str, ...]
    songs: Mapping[int, Mapping[str, str]]
    notes: tuple[str, ...] = ()


def read_loose_table(path: Path) -> tuple[Table, list[str]]:
    """A CSV read liberally (encoding, delimiter, padding; see the module), and notes on what was guessed."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"{path}: unreadable ({err.strerror})") from None
    text: str | None = None
    used = "latin-1"
    for encoding in _ENCODINGS:
        try:
            text, used = raw.decode(encoding), encoding
            break
        except UnicodeDecodeError:
            continue
    text = raw.decode(used) if text is None else text
    notes = [] if used == _ENCODINGS[0] else [f"{path}: not UTF-8, read as {used}"]
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    # A quote after padding opens a quoted field too (DEAM 2013 pads its cells with tabs).
    pad = " " if delimiter == "\t" else " \t"
    text = re.sub(rf'(^|{re.escape(delimiter)})[{pad}]+"', r'\1"', text, flags=re.MULTILINE)
    rows: list[tuple[int, list[str]]] = []
    # One line at a time: metadata cells never span lines, so an unclosed quote spoils only its own row.
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        try:
            row = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])
        except csv.Error as err:
            raise InputError(f"{path}: line {number}: unreadable CSV ({err})") from None
        cells = [cell.replace("\u00a0", " ").strip() for cell in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append((number, cells))
    if not rows:
        raise InputError(f"{path}: empty file (no header row)")
    (_, header), *data = rows
    return Table(path=Path(path), header=header, rows=data), notes


def _is_texty(values: Sequence[str]) -> bool:
    """Whether a column holds words somewhere, not only numbers and clock times (durations, offsets)."""
    return any(v and parse_number(v) is None and not _CLOCK.match(v) for v in values)


def _from_table(table: Table, id_names: Sequence[str], aliases: Mapping[str, str] | None) -> SongMetadata:
    """Each song's values in the text columns of ``table`` (not its id, file names, ``RESERVED`` names,
    or columns of only numbers and clock times), ``aliases`` renaming stored names (``{"track": "title"}``).

    Raises:
        InputError: the file has no song id column (``id_names``, matched by `column_key`), naming its header.
    """
    id_col = table.find(*id_names)
    if id_col is None:
        raise InputError(
            f"{table.path}: no song id column ({', '.join(id_names)}); the header has: {', '.join(table.header)}"
        )
    wanted: dict[str, int] = {}
    for index, cell in enumerate(table.header):
        name = (aliases or {}).get(metadata_key(cell), metadata_key(cell))
        if index != id_col and name and name not in RESERVED and column_key(cell) != "filename":
            wanted.setdefault(name, index)
    songs: dict[int, dict[str, str]] = {}
    bad_ids = 0
    for _, cells in table.rows:
        song_id = parse_number(metadata_value(cells[id_col])) if id_col < len(cells) else None
        if song_id is None or not song_id.is_integer():
            bad_ids += 1
            continue
        values = {name: metadata_value(cells[i]) for name, i in wanted.items() if i < len(cells)}
        songs.setdefault(int(song_id), {name: value for name, value in values.items() if value})
    kept = tuple(n for n in wanted if _is_texty([s.get(n, "") for s in songs.values()]))
    notes = [f"{table.path}: {bad_ids} row(s) without a song id skipped"] if bad_ids else []
    return SongMetadata(kept, {i: {n: v for n, v in s.items() if n in kept} for i, s in songs.items()}, tuple(notes))


def read_metadata(path: Path, id_names: Sequence[str], *, aliases: Mapping[str, str] | None = None) -> SongMetadata:
    """The text columns of one metadata file, read liberally (see `read_loose_table`)."""
    table, notes = read_loose_table(path)
    found = _from_table(table, id_names, aliases)
    return SongMetadata(found.columns, found.songs, (*notes, *found.notes))


def _merge(parts: Sequence[SongMetadata]) -> SongMetadata:
    """Several files' metadata as one: the union of their columns (in order of appearance), first file wins per song."""
    columns: dict[str, None] = {}
    songs: dict[int, Mapping[str, str]] = {}
    for part in parts:
        columns.update(dict.fromkeys(part.columns))
        for song_id, values in part.songs.items():
            songs.setdefault(song_id, values)
    return SongMetadata(tuple(columns), songs, tuple(note for part in parts for note in part.notes))


def read_optional_metadata(
    paths: Sequence[Path], id_names: Sequence[str], notes: list[str], aliases: Mapping[str, str] | None = None
) -> SongMetadata:
    """The merged metadata of optional files: one that cannot be read is left out with a note, not an error."""
    parts = []
    for path in paths:
        try:
            parts.append(read_metadata(path, id_names, aliases=aliases))
        except InputError as err:
            notes.append(f"metadata left out: {err}")
    found = _merge(parts)
    notes.extend(found.notes)
    return found
