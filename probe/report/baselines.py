"""Baselines in the report: runs on low-level feature caches (``logmel-128``, ``egemaps``) are not backbones.

They are taken out of the backbone tables (:func:`split_baselines`) and come back as labelled extra columns of the
corpus × backbone table (:func:`add_baseline_columns`), one column per (cache, probe): "Trained from scratch"
(AST, CNN, and any probe on log-mel frames) and "Hand-crafted" (eGeMAPS with the Linear probe or the
scikit-learn references). With ``--compare paper`` the paper's AST numbers appear in parentheses in our ``AST``
column, as every other published value does; when we have no full-size AST run, they keep their own column.
"""

from __future__ import annotations

import pandas as pd

from probe.report.naming import probe_label
from probe.report.render import Cell, Grid
from probe.report.tables import Comparison, Table

BASELINE_FAMILIES: dict[str, str] = {"spectrogram": "Trained from scratch", "hand-crafted": "Hand-crafted"}
"""Cache families of the baselines (the ``family`` a record copies from its cache) → their column group."""

NAMES: dict[tuple[str, str], str] = {
    ("logmel-128", "ast"): "AST",
    ("logmel-128", "ast-small"): "AST-small",
    ("logmel-128", "cnn"): "CNN (AlexNet-style)",
    ("egemaps", "linear"): "eGeMAPS + Linear",
    ("egemaps", "logreg"): "eGeMAPS + LogReg",
    ("egemaps", "svm"): "eGeMAPS + SVM",
}
PAPER_AST = ("logmel-128", "ast")
"""The column that corresponds to the paper's AST baseline (full size, trained from scratch on each corpus)."""


def baseline_name(model: str, probe: str) -> str:
    """Column label of a baseline: ``AST``, ``eGeMAPS + Linear``, or ``<cache> + <probe>`` for other pairs."""
    return NAMES.get((model, probe), f"{model} + {probe_label(probe)}")


def split_baselines(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(backbone runs, baseline runs)``; when every run is a baseline, all of them stay backbones (nothing to
    compare them with, so they are shown the ordinary way)."""
    is_baseline = frame["family"].isin(list(BASELINE_FAMILIES)) if "family" in frame else pd.Series(False, frame.index)
    if is_baseline.all() or not is_baseline.any():
        return frame, frame.iloc[0:0]
    return frame[~is_baseline].reset_index(drop=True), frame[is_baseline].reset_index(drop=True)


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def baseline_means(baselines: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1) of test macro-F1 over the runs of each (corpus, model, probe) baseline, with its
    column label and group."""
    out = baselines.groupby(["corpus", "model", "probe"], sort=True).agg(
        family=("family", "first"), macro_f1_mean=("macro_f1", "mean"), macro_f1_std=("macro_f1", _std),
        n_runs=("macro_f1", "size"),
    ).reset_index()
    out["column"] = [baseline_name(m, p) for m, p in zip(out["model"], out["probe"])]
    out["group"] = out["family"].map(BASELINE_FAMILIES)
    return out


def add_baseline_columns(table: Table, baselines: pd.DataFrame, comp: Comparison | None = None) -> Table:
    """The corpus × backbone table with one column per baseline, grouped "Trained from scratch" / "Hand-crafted",
    placed before the paper's AST column (which is folded into our ``AST`` column when we have one)."""
    if baselines.empty:
        return table
    means = baseline_means(baselines)
    grid = table.grid
    order = {g: i for i, g in enumerate(BASELINE_FAMILIES.values())}
    keys = sorted({(g, c) for g, c in zip(means["group"], means["column"])}, key=lambda k: (order[k[0]], k[1]))
    cells = {(r.corpus, r.column): r for r in means.itertuples()}
    reference = comp.reference if comp is not None and comp.shared_corpora else None
    paper_column = f"{reference.baseline_name} (paper)" if reference is not None else None
    fold_paper = reference is not None and baseline_name(*PAPER_AST) in {c for _, c in keys}
    has_paper = paper_column is not None and bool(grid.columns) and grid.columns[-1] == paper_column
    at = len(grid.columns) - 1 if has_paper else len(grid.columns)
    for labels, row in zip(grid.row_labels, grid.cells):
        corpus = labels[0]
        new = []
        for _, column in keys:
            r = cells.get((corpus, column))
            paper = reference.baseline.get(corpus) if fold_paper and column == baseline_name(*PAPER_AST) else None
            new.append(Cell(None) if r is None else Cell(r.macro_f1_mean, r.macro_f1_std,
                                                        paper=None if paper is None else float(paper)))
        row[at:at] = new
        if has_paper and fold_paper:
            row.pop()
    grid.columns[at:at] = [c for _, c in keys]
    groups = [(g, sum(1 for k in keys if k[0] == g)) for g in dict.fromkeys(k[0] for k in keys)]
    if has_paper:
        grid.column_groups = grid.column_groups[:-1] + groups + ([] if fold_paper else grid.column_groups[-1:])
        if fold_paper:
            grid.columns.pop()
    else:
        grid.column_groups = grid.column_groups + groups
    grid.caption += (
        " Baselines (extra columns, mean ± standard deviation over runs): models trained from scratch on 128-bin "
        "log-mel frames (AST: Audio Spectrogram Transformer; AST-small: a CPU-sized AST, 2 blocks × 64; CNN: "
        "AlexNet-style) and hand-crafted eGeMAPSv02 functionals (opensmile) with a Linear probe or scikit-learn "
        "classifiers. They are not in the bold comparison of backbones."
    )
    if fold_paper:
        grid.caption += f" In parentheses in the AST column: the paper's AST baseline ({reference.short})."
    return Table(table.name, table.data, grid, table.notes)  # the data stay the backbones' (see baseline_table)


def baseline_table(baselines: pd.DataFrame) -> Table | None:
    """The baselines alone, corpora × baselines (``tables/baselines.*``): its CSV is their tidy data (the
    corpus × backbone CSV keeps only backbones); ``None`` without baseline runs."""
    if baselines.empty:
        return None
    means = baseline_means(baselines)
    corpora = sorted(means["corpus"].unique())
    columns = list(dict.fromkeys(means.sort_values(["group", "column"])["column"]))
    cells = {(r.corpus, r.column): r for r in means.itertuples()}
    rows = [[Cell(None) if (c, col) not in cells else Cell(cells[c, col].macro_f1_mean, cells[c, col].macro_f1_std)
             for col in columns] for c in corpora]
    grid = Grid(
        title="Table: baselines",
        caption="Test macro-F1 (%) of the baselines per corpus, mean ± standard deviation over runs (ddof=1): "
                "models trained from scratch on log-mel frames and hand-crafted eGeMAPS features.",
        label="tab:baselines", row_header=["Corpus"], row_labels=[[c] for c in corpora], columns=columns,
        cells=rows,
    )
    return Table("baselines", means.rename(columns={"column": "baseline"}), grid, [])
