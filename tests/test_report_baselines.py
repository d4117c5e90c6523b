"""Baselines in the report: extra, labelled columns of the corpus × backbone table, the paper's AST numbers in
our AST column, and a table of their own."""

from __future__ import annotations

import pandas as pd

from probe.report.baselines import add_baseline_columns, baseline_table, split_baselines
from probe.report.reference import load_reference
from probe.report.render import to_markdown
from probe.report.tables import comparison, corpus_by_backbone_table

FAMILY = {"whisper-small": ("whisper", "multi"), "logmel-128": ("spectrogram", "none"),
          "egemaps": ("hand-crafted", "none")}


def _frame(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    rows = []
    for corpus, language in (("emodb", "de"), ("cafe", "fr-CA")):
        for model, probe in pairs:
            for seed in range(2):
                family, languages = FAMILY[model]
                score = {"whisper-small": 80.0, "logmel-128": 40.0, "egemaps": 55.0}[model] + seed
                rows.append({"corpus": corpus, "language": language, "model": model, "probe": probe,
                             "family": family, "languages": languages, "macro_f1": score, "seed": seed,
                             "protocol": "holdout", "classes": "all", "preset": "paper"})
    return pd.DataFrame(rows)


def _table(pairs: list[tuple[str, str]]):  # noqa: ANN202
    frame = _frame(pairs)
    backbones, baselines = split_baselines(frame)
    assert set(backbones["model"]) == {"whisper-small"}
    comp = comparison(load_reference("paper"), sorted(frame["corpus"].unique()), sorted(frame["model"].unique()))
    table = add_baseline_columns(corpus_by_backbone_table(backbones, comp, "backbone"), baselines, comp)
    return table, baselines


def test_ast_column_carries_the_papers_numbers_and_baselines_are_grouped() -> None:
    table, baselines = _table([("whisper-small", "linear"), ("logmel-128", "ast"), ("logmel-128", "cnn"),
                               ("egemaps", "linear")])
    grid = table.grid
    assert grid.columns == ["whisper-small", "AST", "CNN (AlexNet-style)", "eGeMAPS + Linear"]
    assert [g for g, _ in grid.column_groups][-2:] == ["Trained from scratch", "Hand-crafted"]
    assert sum(n for _, n in grid.column_groups) == len(grid.columns)
    row = dict(zip(grid.columns, grid.cells[[r[0] for r in grid.row_labels].index("emodb")]))
    assert row["AST"].mean == 40.5 and row["AST"].paper == 46.11  # the paper's AST baseline on EmoDB
    assert row["eGeMAPS + Linear"].mean == 55.5 and row["eGeMAPS + Linear"].paper is None
    assert "(46.11)" in to_markdown(grid) and "AST (paper)" not in grid.columns
    assert set(table.data["model"]) == {"whisper-small"}  # the backbones' CSV stays the backbones'
    own = baseline_table(baselines)
    assert own is not None and set(own.data["baseline"]) == {"AST", "CNN (AlexNet-style)", "eGeMAPS + Linear"}


def test_without_a_full_size_ast_the_papers_column_stays_separate() -> None:
    table, _ = _table([("whisper-small", "linear"), ("logmel-128", "ast-small")])
    grid = table.grid
    assert grid.columns == ["whisper-small", "AST-small", "AST (paper)"]
    assert [g for g, _ in grid.column_groups] == ["Multilingual", "Trained from scratch", "Baseline"]
    emodb = grid.cells[[r[0] for r in grid.row_labels].index("emodb")]
    assert emodb[1].paper is None and emodb[2].mean == 46.11


def test_only_baseline_runs_are_shown_the_ordinary_way() -> None:
    frame = _frame([("logmel-128", "ast-small")])
    backbones, baselines = split_baselines(frame)
    assert len(backbones) == len(frame) and baselines.empty and baseline_table(baselines) is None
