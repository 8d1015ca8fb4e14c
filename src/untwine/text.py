"""Plain text for people: a value as a table cell, and rows as an aligned text table.

One formatter for every table untwine prints or renders (a study's results, the HTML
report's tables, the likelihood estimates), so that a number reads the same everywhere.
No torch here: a results table is read without the training stack.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from typing import Any


def format_cell(value: Any, missing: str = "-") -> str:
    """``value`` as a table cell shows it: floats to 4 significant digits, dicts and lists as
    JSON with sorted keys, ``None`` as ``missing``, anything else as ``str``."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def text_table(rows: Sequence[Sequence[str]], right: Container[int] = ()) -> str:
    """``rows`` of cells (the header first) as aligned text: each column as wide as its widest
    cell, two spaces between columns, left-aligned except the columns whose index is in
    ``right``; one line per row, trailing spaces stripped, each ending in a newline."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return "".join(
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        + "\n"
        for row in rows
    )
