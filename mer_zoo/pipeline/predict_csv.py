"""predict's CSV: each file's rows leave in one write, and a rerun keeps only whole files.

A file's rows are formatted first and appended with one ``write()`` on a descriptor opened for
appending, so they never interleave with another file's and are never flushed in pieces. A
kill can still cut that write short (or the machine can stop), so a rerun checks what it finds
before trusting it: a last line without its newline is cut; a row that does not parse (wrong
number of fields, a number that is not one) is dropped; a file whose row count is not the one
its windows give (``n_windows`` on every row says how many there were) is dropped whole and
predicted again. Lines end in ``\\n`` only (files from older runs with ``\\r\\n`` are rewritten).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mer_zoo.errors import InputError

__all__ = ["CsvRepair", "PredictionCsv"]

_INTEGERS = ("window", "n_windows")
_BOOLEANS = ("silent",)


@dataclass
class CsvRepair:
    """What a rerun found wrong in the CSV it continues: rows that did not parse, files cut short."""

    bad_rows: int = 0
    cut_files: list[str] = field(default_factory=list)

    def note(self, out: Path) -> str:
        """One line for the user, or "" when the CSV was whole."""
        parts = []
        if self.bad_rows:
            parts.append(f"{self.bad_rows} rows that did not parse")
        if self.cut_files:
            parts.append(f"the rows of {len(self.cut_files)} files cut short (predicted again)")
        return f"{out}: dropped {' and '.join(parts)}" if parts else ""


def _parses(record: Sequence[str], columns: Sequence[str]) -> bool:
    """Whether a record has a value of the right kind in every column."""
    if len(record) != len(columns) or not record[0]:
        return False
    for name, value in zip(columns[1:], record[1:]):
        try:
            if name in _BOOLEANS:
                if value not in ("True", "False"):
                    return False
            elif name in _INTEGERS:
                int(value)
            else:
                float(value)
        except ValueError:
            return False
    return True


class PredictionCsv:
    """The CSV ``out``, its whole files kept (``done``), open for appending one file's rows at a time.

    Args:
        out: the CSV; created with a header, or continued.
        columns: the columns the run's task writes (``file`` first, ``n_windows`` among them).
        expected_rows: how many rows a file of ``n`` windows has.

    Raises:
        InputError: ``out`` holds other columns (another task's CSV, or one from before ``n_windows``).
    """

    def __init__(self, out: Path, columns: Sequence[str], expected_rows: Callable[[int], int]) -> None:
        self.out, self.columns = out, list(columns)
        self.repair = CsvRepair()
        self.done: set[str] = set()
        if out.is_file() and out.stat().st_size:
            self._check(expected_rows)
        else:
            self._write_all([self.columns])
        self._fd = os.open(out, os.O_WRONLY | os.O_APPEND)

    def _check(self, expected_rows: Callable[[int], int]) -> None:
        """Read ``out``, drop what is cut or does not parse, rewrite it when anything was dropped."""
        text = self.out.read_bytes().decode("utf-8", errors="replace")
        records = list(csv.reader(io.StringIO(text, newline="")))
        if not records or [c.strip() for c in records[0]] != self.columns:
            found = ", ".join(records[0]) if records else "nothing"
            raise InputError(
                f"{self.out}: holds the columns {found}, not this run's ({', '.join(self.columns)}); "
                "use --overwrite to start it afresh, or another --out"
            )
        rows = records[1:]
        if rows and not text.endswith("\n"):  # the last write was cut in its last row
            rows.pop()
            self.repair.bad_rows += 1
        good = [r for r in rows if _parses(r, self.columns)]
        self.repair.bad_rows += len(rows) - len(good)
        by_file: dict[str, list[list[str]]] = {}
        for record in good:
            by_file.setdefault(record[0], []).append(record)
        n_at = self.columns.index("n_windows")
        kept: list[list[str]] = []
        for name, group in by_file.items():
            counts = {r[n_at] for r in group}
            if len(counts) == 1 and len(group) == expected_rows(int(counts.pop())):
                kept += group
                self.done.add(name)
            else:
                self.repair.cut_files.append(name)
        if self.repair.bad_rows or self.repair.cut_files or "\r" in text:
            self._write_all([self.columns, *kept])

    def _write_all(self, records: list[list[str]]) -> None:
        """Replace ``out`` with ``records``, atomically."""
        tmp = self.out.with_name(self.out.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(records)
        os.replace(tmp, self.out)

    def append(self, rows: Any) -> None:
        """Append one file's rows (a DataFrame of ``columns``) in one write."""
        data = rows[self.columns].to_csv(header=False, index=False, float_format="%.4f", lineterminator="\n").encode()
        view = memoryview(data)
        while view:  # one call unless the system writes less than asked (rare: a signal, a full disk)
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Close the file."""
        os.close(self._fd)

    def __enter__(self) -> PredictionCsv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
