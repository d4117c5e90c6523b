"""Tables that fit the terminal: columns of less interest are left out (and named) rather than cut or squeezed.

A leaderboard has fourteen columns; at 80 or even 160 characters rich would shorten every cell to ``…``. Instead
:func:`fit_table` removes whole columns, least useful first, until the table fits, and says which went and where
to see them (``--wide``, ``--csv`` or the CSV file).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

LEADERBOARD_DROP: tuple[str, ...] = ("config", "splits", "train/val/test", "accuracy", "classes", "protocol", "runs",
                                     "UAR", "preset", "95% CI")
"""Leaderboard columns in the order they are left out on a narrow terminal (corpus, model, probe and macro-F1
always stay)."""


def fit_table(table: Table, width: int, drop: Sequence[str]) -> list[str]:
    """Remove columns of ``table`` named in ``drop``, in that order, until it fits in ``width`` characters; the
    names of those removed (empty when it fitted as it was)."""
    measure = Console(width=10_000)
    removed: list[str] = []
    for name in drop:
        if measure.measure(table).maximum <= width:
            break
        column = next((c for c in table.columns if str(c.header) == name), None)
        if column is not None:
            table.columns.remove(column)
            removed.append(name)
    return removed


def print_fitted(console: Console, table: Table, drop: Sequence[str], where: str, wide: bool = False) -> None:
    """Print ``table`` on ``console``: whole, when ``wide`` (the console is widened to it) or when it fits;
    otherwise without the columns of ``drop`` it needs to lose, followed by a line naming them and ``where`` to
    see every column."""
    if wide:
        Console(width=max(console.width, Console(width=10_000).measure(table).maximum), file=console.file,
                force_terminal=console.is_terminal).print(table)
        return
    removed = fit_table(table, console.width, drop)
    console.print(table)
    if removed:
        console.print(f"({len(removed)} column(s) left out to fit {console.width} characters: {', '.join(removed)}; "
                      f"{where})", highlight=False, soft_wrap=True)
