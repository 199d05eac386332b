"""Tables that never cut a value (issue 16).

Rich shortens a cell that does not fit its column with an ellipsis (`400777…` for 400777.35),
on an 80-column terminal and, worse, in piped or logged output, where its width is 80. Here:

- every column folds what does not fit onto the next line instead of cutting it, so a sentence
  (a policy's Chinese seed sentence has no spaces to wrap at) is shown whole;
- a number, an ID or any other run of ASCII characters without a space is never split: each
  column is given at least the width of its longest such run;
- when those widths together do not fit the console, the table is printed as plain rows
  instead, one `column: value` line per cell and a blank line between records.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich import table as rich_table
from rich.console import Console, ConsoleOptions, RenderResult
from rich.errors import MarkupError
from rich.text import Text

#: Per column: one space of padding each side and one rule; and the table's left edge.
_COLUMN_FRAME = 3
_EDGE = 1


def _plain(cell: Any) -> str:
    """A cell's text as the table shows it: a string cell is rich markup, as in the table."""
    if isinstance(cell, Text):
        return cell.plain
    if not isinstance(cell, str):
        return str(cell)
    try:
        return Text.from_markup(cell).plain
    except MarkupError:
        return cell


def _unbreakable(text: str) -> int:
    """The length of the longest run of ASCII characters without a space in `text`."""
    longest = run = 0
    for ch in text:
        run = run + 1 if ch.isascii() and not ch.isspace() else 0
        longest = max(longest, run)
    return longest


def _labelled(label: str, value: str) -> str:
    """`label: value`, a value of several lines indented under its first."""
    indent = "\n" + " " * (len(label) + 2)
    return f"{label}: {indent.join(value.splitlines()) if value else ''}"


class Table(rich_table.Table):
    """A rich table whose columns fold instead of cutting, and that prints as plain rows when
    its numbers and IDs cannot all be shown whole side by side."""

    def add_column(self, header: Any = "", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("overflow", "fold")
        super().add_column(header, *args, **kwargs)

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        while len(self.columns) < len(renderables):  # rich adds such columns itself
            self.add_column()
        super().add_row(*renderables, **kwargs)

    def needed_widths(self) -> list[int]:
        """Each column's width below which a number or an ID in it would be split."""
        widths = []
        for column in self.columns:
            cells = [_plain(c) for c in column._cells]
            header = [_plain(column.header)] if self.show_header else []
            widths.append(max([_unbreakable(t) for t in cells + header] or [0]))
        return widths

    def fits(self, width: int) -> bool:
        needed = self.needed_widths()
        return sum(needed) + _COLUMN_FRAME * len(needed) + _EDGE <= width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.fits(options.max_width):
            for column, needed in zip(self.columns, self.needed_widths(), strict=True):
                column.min_width = max(column.min_width or 0, needed)
            yield from super().__rich_console__(console, options)
            return
        yield from self.plain_rows()

    def plain_rows(self) -> Iterator[Text]:
        """The table as text: its title, then per record one `header: value` line per cell
        (`first: second` for a table without headers, as key and value), records apart."""
        if self.title:
            yield Text(_plain(self.title), style="bold")
        columns = self.columns
        for i in range(self.row_count):
            cells = [_plain(c._cells[i]) if i < len(c._cells) else "" for c in columns]
            if self.show_header:
                lines = [_labelled(_plain(c.header), v)
                         for c, v in zip(columns, cells, strict=True)]
                yield Text("\n".join(lines) + ("\n" if i < self.row_count - 1 else ""))
            else:
                yield Text(": ".join(v for v in cells if v != "") if len(cells) > 1
                           else cells[0])
