"""Query results as tables for people: one line per row, as wide as the terminal, long cells cut with an
ellipsis, numbers right-aligned. Machines get `--format csv|json|ndjson|parquet` instead."""

import json
import math
import os
import re
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

# Control characters (and lone surrogates, escaped as \udcXX by the store) would break a row's one line or
# the terminal: shown as escapes.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_CELL = 400  # characters kept of one cell before rich cuts it to the column's width


def _escaped(character: re.Match[str]) -> str:
    return {"\n": "⏎", "\t": "⇥"}.get(character.group(), f"\\x{ord(character.group()):02x}")


def cell_text(value: Any) -> str:
    """One line of text for a value of any column type."""
    if value is None:
        return "∅"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:,.4g}" if abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, int) or (isinstance(value, Decimal) and value == value.to_integral_value()):
        return f"{int(value):,}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = str(value)[:_MAX_CELL]
    return _UNPRINTABLE.sub(_escaped, text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _cells(frame: pl.DataFrame) -> list[list[str]]:
    return [[cell_text(value) for value in row] for row in frame.iter_rows()]


def _natural_widths(names: list[str], cells: list[list[str]]) -> list[int]:
    """Each column's width with nothing cut: its header or its widest cell."""
    return [max([cell_len(name), *(cell_len(row[index]) for row in cells)]) for index, name in enumerate(names)]


def column_widths(natural: list[int], available: int, floor: int = 10) -> list[int]:
    """Widths that fit `available` cells: every column its natural width if they fit, else each cut to one common
    cap (the widest columns give way first), none below min(natural, floor)."""
    if sum(natural) <= available:
        return natural
    low, high = 0, max(natural)
    while low < high:  # the largest cap whose widths still fit
        cap = (low + high + 1) // 2
        if sum(max(min(width, cap), min(width, floor)) for width in natural) <= available:
            low = cap
        else:
            high = cap - 1
    return [max(min(width, low), min(width, floor)) for width in natural]


def frame_table(frame: pl.DataFrame, *, width: int, title: str | None = None, max_rows: int = 50) -> Table:
    """A rich table of `frame`'s first `max_rows` rows, at most `width` cells wide."""
    cells = _cells(frame.head(max_rows))
    natural = _natural_widths(frame.columns, cells)
    borders = 3 * len(natural) + 1  # "│ " before each cell, " " after it, and the closing "│"
    widths = column_widths(natural, max(width - borders, len(natural)))
    table = Table(title=title, header_style="bold")
    for (name, dtype), column_width in zip(frame.schema.items(), widths, strict=True):
        justify = "right" if dtype.is_numeric() else "left"
        table.add_column(Text(name), justify=justify, no_wrap=True, overflow="ellipsis", width=column_width)
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    return table


def expanded_table(frame: pl.DataFrame, *, width: int, title: str | None = None) -> Table:
    """A few wide rows as `column | value` pairs, one block per row: readable where the columns cannot fit."""
    table = Table(title=title, header_style="bold", show_header=False)
    table.add_column("column", style="bold", no_wrap=True)
    value_width = max(width - max(cell_len(name) for name in frame.columns) - 7, 10)
    table.add_column("value", no_wrap=True, overflow="ellipsis", max_width=value_width)
    for index, row in enumerate(frame.iter_rows()):
        if index:
            table.add_section()
        for name, value in zip(frame.columns, row, strict=True):
            table.add_row(Text(name), Text(cell_text(value)))
    return table


def _fits(frame: pl.DataFrame, width: int) -> bool:
    natural = _natural_widths(frame.columns, _cells(frame))
    return sum(natural) + 3 * len(natural) + 1 <= width


EXPANDED_ROWS = 3  # at most this many rows that do not fit the terminal are shown as column | value pairs


def row_count(frame: pl.DataFrame, max_rows: int) -> str:
    """`6 rows`, or `60 rows, 55 not shown (--max-rows)`."""
    hidden = frame.height - min(frame.height, max_rows)
    rows = f"{frame.height:,} row{'s' if frame.height != 1 else ''}"
    return f"{rows}, {hidden:,} not shown (--max-rows)" if hidden else rows


# Output that goes to a file or a pipe has no terminal width to fit: wide enough for a URL and an error.
PIPED_WIDTH = 160


def print_frame(frame: pl.DataFrame, *, title: str | None = None, max_rows: int = 50) -> None:
    """Print `frame` as a table on stdout fitted to the terminal (`$COLUMNS`, else 160 columns when stdout is
    no terminal), then how many rows it has."""
    # (rich's own is_terminal says yes under FORCE_COLOR, which some tools set, and then fits 80 columns)
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(soft_wrap=False, highlight=False, width=PIPED_WIDTH if piped else None)
    if 0 < frame.height <= min(EXPANDED_ROWS, max_rows) and not _fits(frame, console.width):
        console.print(expanded_table(frame, width=console.width, title=title))
    else:
        console.print(frame_table(frame, width=console.width, title=title, max_rows=max_rows))
    console.print(Text(row_count(frame, max_rows)), style="dim")
