"""The one table printer: aligned text for the terminal and CSV for machines, from the same
column list, so every command's table looks alike.

A :class:`Column` reads one key of each row (a mapping). Its ``header`` carries the unit
(``time (us)``); ``scale`` converts the row's SI value into that unit for the text, while the
CSV keeps the row's own value under the key (``time_s``), so CSV files stay in SI units and
machine-readable. Names are never cut: a column is as wide as its longest cell.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    fmt: str = ""          # format spec of numbers, e.g. ",.0f" or ".1f"
    scale: float = 1.0     # text shows value * scale (e.g. 1e6 for seconds -> us)

    def cell(self, row: Mapping) -> str:
        value = row.get(self.key)
        if value is None or value == "":
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int | float):
            number = value * self.scale if self.scale != 1.0 else value
            if isinstance(number, float) and not math.isfinite(number):
                return str(number)
            return format(number, self.fmt) if self.fmt else _number(number)
        if isinstance(value, tuple | list):
            return "x".join(str(v) for v in value)
        return str(value)


def _number(value: int | float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if value == 0:
        return "0"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.3e}"
    return f"{value:.4g}"


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?\s?%?$")


def _is_numeric(cells: Sequence[str]) -> bool:
    """Numbers (also pre-formatted ones: ``1,024``, ``12.5%``) are right-aligned."""
    values = [c for c in cells if c != "-"]
    return bool(values) and all(_NUMBER.match(c) for c in values)


def render(columns: Sequence[Column], rows: Sequence[Mapping], *, title: str | None = None,
           footer: Sequence[str] = ()) -> str:
    """Aligned text: header, rule, one line per row (numbers right-aligned), then ``footer``
    lines after a rule."""
    cells = [[c.cell(r) for c in columns] for r in rows]
    headers = [c.header for c in columns]
    widths = [max([len(h), *(len(line[i]) for line in cells)]) for i, h in enumerate(headers)]
    right = [_is_numeric([line[i] for line in cells]) for i in range(len(columns))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w)
                         for v, w, r in zip(values, widths, right)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = ([title] if title else []) + [line(headers), rule] + [line(c) for c in cells]
    if footer:
        out += [rule, *footer]
    return "\n".join(out)


def csv_text(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """CSV of ``rows``: the given keys, or every key any row has (first-seen order); a key a
    row lacks is an empty cell. Lists and dicts are not table cells and are left out."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k, v in r.items()
                                     if not isinstance(v, list | dict)))
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
    return buf.getvalue()


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value
