"""Label CSVs read row by row with their file line numbers, and bad rows gathered into one error.

Headers are matched loosely (`column_key`: case, spaces, punctuation and a BOM do not matter),
so ``Arousal(mean)``, `` arousal_mean`` and ``AROUSAL MEAN`` are the same column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mer_zoo.errors import InputError
from mer_zoo.scales import Scale

__all__ = ["BadRows", "Table", "column_key", "parse_number", "read_table"]

SHOWN = 5  # bad rows named in the error before "and N more"


def column_key(name: str) -> str:
    """A header cell reduced to lowercase letters and digits: ``" Arousal(mean)"`` -> ``"arousalmean"``."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def parse_number(cell: str) -> float | None:
    """The finite number in ``cell``, or None when it is empty, not a number, NaN or infinite."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Table:
    """A CSV file: its header and data rows (cells stripped, trailing empty ones dropped) with their 1-based file line numbers."""

    path: Path
    header: list[str]
    rows: list[tuple[int, list[str]]]

    def find(self, *names: str) -> int | None:
        """The index of the first header cell matching any of ``names`` (by `column_key`), or None."""
        keys = [column_key(cell) for cell in self.header]
        for name in names:
            if column_key(name) in keys:
                return keys.index(column_key(name))
        return None

    def require(self, **columns: tuple[str, ...]) -> dict[str, int]:
        """Column indices by role (``role=(accepted names...)``); InputError naming every missing one."""
        found = {role: self.find(*names) for role, names in columns.items()}
        missing = [columns[role][0] for role, index in found.items() if index is None]
        if missing:
            raise InputError(
                f"{self.path}: missing column(s) {', '.join(missing)}; the header has: {', '.join(self.header)}"
            )
        return {role: index for role, index in found.items() if index is not None}

    def cells(self, *indices: int) -> Iterator[tuple[int, list[str]]]:
        """Each row's line number and its cells at ``indices`` ('' where a short row has none)."""
        for line, row in self.rows:
            yield line, [row[i] if i < len(row) else "" for i in indices]


def read_table(path: Path) -> Table:
    """Read a comma-separated file with a header; InputError naming the file when missing, unreadable or empty."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: missing" if not path.exists() else f"{path}: not a file")
    rows: list[tuple[int, list[str]]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            for row in reader:
                cells = _trimmed(list(map(str.strip, row)))
                if cells:
                    rows.append((reader.line_num, cells))
    except UnicodeDecodeError:
        raise InputError(f"{path}: unreadable CSV (not UTF-8 text)") from None
    except csv.Error as err:
        raise InputError(f"{path}: line {reader.line_num}: unreadable CSV ({err})") from None
    except OSError as err:
        raise InputError(f"{path}: unreadable ({err.strerror})") from None
    if not rows:
        raise InputError(f"{path}: empty file (no header row)")
    (_, header), *data = rows
    return Table(path=path, header=header, rows=data)


def _trimmed(cells: list[str]) -> list[str]:
    """``cells`` without its trailing empty cells (a wide table's short rows end in hundreds)."""
    if "" not in cells:
        return cells
    first = cells.index("")
    if not any(cells[first:]):  # one run of empty cells to the end (scanned at C speed)
        return cells[:first]
    while not cells[-1]:
        cells.pop()
    return cells


class BadRows:
    """The bad rows of one CSV, raised together as one InputError once all are known."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[tuple[int, str]] = []

    def add(self, line: int, cause: str) -> None:
        """Record that file line ``line`` is bad because of ``cause``."""
        self.problems.append((line, cause))

    def number(
        self, line: int, column: str, cell: str, scale: Scale | None = None, *, empty_ok: bool = False
    ) -> float | None:
        """The number in ``cell`` (NaN if empty and ``empty_ok``); None, recording the row, if bad or off ``scale``."""
        if not cell and empty_ok:
            return math.nan
        value = parse_number(cell)
        if value is None:
            self.add(line, f"{column} {cell!r} is not a number" if cell else f"{column} is empty")
        elif scale is not None and not scale.contains(np.asarray(value)):
            self.add(line, f"{column} {value:g} is off the scale {scale}")
            return None
        return value

    def seconds(self, line: int, column: str, cell: str) -> float | None:
        """The time in seconds in ``cell``; None, with the row recorded, when not a number or negative."""
        value = self.number(line, column, cell)
        if value is not None and value < 0:
            self.add(line, f"{column} {value:g} is negative")
            return None
        return value

    def integer(self, line: int, column: str, cell: str) -> int | None:
        """The whole number in ``cell`` (``7`` or ``7.0``); None, with the row recorded, otherwise."""
        value = parse_number(cell)
        if value is None or not value.is_integer():
            self.add(line, f"{column} {cell!r} is not an integer id" if cell else f"{column} is empty")
            return None
        return int(value)

    def raise_if_any(self) -> None:
        """InputError listing the first few bad lines and how many more, if any were recorded."""
        if not self.problems:
            return
        problems = sorted(self.problems)
        shown = "; ".join(f"line {line}: {cause}" for line, cause in problems[:SHOWN])
        more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
        raise InputError(f"{self.path}: {len(problems)} bad row(s): {shown}{more}")
