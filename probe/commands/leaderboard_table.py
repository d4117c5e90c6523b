"""The leaderboard as a rich table for the terminal (``probe run``, ``probe leaderboard``, ``probe demo``); the
columns that do not fit are left out by :func:`probe.commands.terminal_tables.print_fitted`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from probe.train.presets import preset_label


def _ci_text(low: Any, high: Any) -> str:
    """``[low, high]``, or ``–`` when the CSV cell is empty or NaN."""
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        return "–"
    return "–" if np.isnan(low) or np.isnan(high) else f"[{low:.1f}, {high:.1f}]"


def _tested_text(tested: Any, total: Any) -> str:
    """``3/10``: speakers tested of the corpus's (``–`` when unknown, e.g. a CSV of older records)."""
    if tested in ("", None) or pd.isna(tested):
        return "–"
    return f"{int(tested)}/{int(total)}" if total not in ("", None) and not pd.isna(total) else str(int(tested))


def leaderboard_table(frame: pd.DataFrame, title: str = "Leaderboard (test, percent, mean ± std)") -> Table:
    """A rich table of the main columns."""
    table = Table(title=title, header_style="bold")
    for name, justify in (("corpus", "left"), ("model", "left"), ("probe", "left"), ("protocol", "left"),
                          ("classes", "left"), ("preset", "left"), ("config", "left"), ("runs", "right"),
                          ("splits", "right"), ("speakers tested", "right"), ("macro-F1", "right"), ("95% CI", "right"), ("UAR", "right"),
                          ("accuracy", "right"), ("train/val/test", "right")):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.corpus), str(row.model), str(row.probe), str(row.protocol), str(row.classes),
            preset_label(str(row.preset), str(row.overrides)), str(row.config_id), str(row.n_runs),
            str(row.n_splits) if row.n_splits >= row.seeds else f"[yellow]{row.n_splits}[/]",
            _tested_text(row.speakers_tested, row.speakers_total),
            f"{row.macro_f1_mean:.2f} ± {row.macro_f1_std:.2f}", _ci_text(row.macro_f1_ci_low, row.macro_f1_ci_high),
            f"{row.uar_mean:.2f} ± {row.uar_std:.2f}",
            f"{row.accuracy_mean:.2f} ± {row.accuracy_std:.2f}", f"{row.n_train}/{row.n_val}/{row.n_test}",
        )
    return table
