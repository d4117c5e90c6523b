"""Uncertainty in the report: speaker-clustered CIs in the table cells, significance-aware bold, and the
"which differences are real" section of REPORT.md (:mod:`probe.results.uncertainty` does the statistics).

* Table 3 (corpus × backbone): each cell's CI pools the seeds of its (corpus, backbone, probe); per corpus the
  best backbone is compared with every other one (paired, on the same test speakers).
* Table 2 (probe × backbone, averaged over corpora): each cell's CI resamples speakers within each corpus
  independently; per probe the best backbone is compared with every other one on the corpora both have.

All comparisons of one table share one Holm correction. A best cell is bold only when it is significantly better
than the runner-up after correction; otherwise it and every cell not distinguishable from it are marked †. Per
corpus, the smallest resolvable difference is the median half-width of the paired CIs of that corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from probe.report.load import Run
from probe.report.naming import probe_label
from probe.report.table_tests import ALPHA, NOT_DISTINGUISHABLE, TIED, TableTests, corpus_tests, probe_tests
from probe.report.tables import Table
from probe.report.verdicts import Uncertainty, overall_sentence, winners_sentence
from probe.results.uncertainty import N_RESAMPLES

__all__ = ["ALPHA", "NOT_DISTINGUISHABLE", "TIED", "TableTests", "Uncertainty", "apply_intervals", "corpus_tests",
           "probe_tests"]


def _annotate(table: Table, tests: TableTests, group_column: str, old_bold: str, what: str) -> None:
    """Add CI and test columns to the table's data and CIs, bold and ties to its cells; rewrite the bold note."""
    data = table.data
    by_pair = {(t["group"], t["other"]): t for t in tests.tests}
    columns: dict[str, list[Any]] = {k: [] for k in ("macro_f1_ci_low", "macro_f1_ci_high", "n_test_speakers",
                                                     "n_test_clips", "p_vs_best", "p_vs_best_holm",
                                                     "significant_best", "tied")}
    for row in data.itertuples():
        group, model = getattr(row, group_column), row.model
        ci = tests.intervals.get((group, model), {})
        test = by_pair.get((group, model), {})
        columns["macro_f1_ci_low"].append(ci.get("ci_low", np.nan))
        columns["macro_f1_ci_high"].append(ci.get("ci_high", np.nan))
        columns["n_test_speakers"].append(ci.get("n_test_speakers"))
        columns["n_test_clips"].append(ci.get("n_test_clips"))
        columns["p_vs_best"].append(test.get("p_value", np.nan))
        columns["p_vs_best_holm"].append(test.get("p_holm", np.nan))
        columns["significant_best"].append(tests.winner.get(group) == model)
        columns["tied"].append(model in tests.tied.get(group, []))
    for name, values in columns.items():
        data[name] = values
    labels = {probe_label(p): p for p in data["probe"].unique()}
    for labels_row, cells in zip(table.grid.row_labels, table.grid.cells):
        for column, cell in zip(table.grid.columns, cells):
            if group_column == "corpus":
                group, model = labels_row[0], column
            else:
                group, model = labels.get(column, column), labels_row[0]
            ci = tests.intervals.get((group, model))
            if ci is None:
                continue
            cell.ci = (ci["ci_low"], ci["ci_high"])
            cell.bold = tests.winner.get(group) == model
            cell.tied = model in tests.tied.get(group, [])
    n = len(tests.tests)
    note = (f"Brackets: 95% speaker-clustered confidence interval of the test predictions (jackknife over "
            f"speakers and runs, t quantile; {what}; the standard deviations are in the CSV). Bold: the "
            f"best backbone {_of(group_column)}, only when significantly better than the runner-up (paired "
            f"test over the same test speakers, Holm "
            f"correction over this table's {n} comparison{'s' if n != 1 else ''}, α = {ALPHA}); {TIED}: not "
            "distinguishable from the best.")
    caption = table.grid.caption
    table.grid.caption = caption.replace(old_bold, note) if old_bold in caption else f"{caption} {note}"


def _of(group_column: str) -> str:
    return "of the corpus" if group_column == "corpus" else "for each probe"


def apply_intervals(runs: Sequence[Run], probe_table: Table, corpus_table: Table, n_resamples: int = N_RESAMPLES,
                    seed: int = 0) -> Uncertainty:
    """Compute every CI and test of the two tables and write them into the tables (data and cells)."""
    table3 = corpus_tests(runs, corpus_table.data, n_resamples, seed)
    table2 = probe_tests(runs, probe_table.data, n_resamples, seed)
    _annotate(corpus_table, table3, "corpus", "Bold: best backbone of the corpus.",
              "its seeds pooled over its test speakers")
    _annotate(probe_table, table2, "probe", "Bold: best backbone for each probe.",
              "the mean over corpora, speakers within each corpus")
    notes = [f"{corpus}/{model}: the test predictions give macro-F1 {ci['mean']:.1f}, the records state "
             f"{stated:.1f}; intervals and tests use the predictions"
             for (corpus, model), ci in table3.intervals.items()
             for stated in corpus_table.data.loc[(corpus_table.data["corpus"] == corpus)
                                                 & (corpus_table.data["model"] == model), "macro_f1_mean"]
             if abs(ci["mean"] - stated) > 0.5]
    corpus_table.data.attrs["winners_sentence"] = winners_sentence(table3, "corpus")
    probe_table.data.attrs["winners_sentence"] = winners_sentence(table2, "probe", probe_label)
    probe_table.data.attrs["best_sentence"] = overall_sentence(runs, probe_table.data, table2, n_resamples, seed)
    found = Uncertainty(table2, table3, n_resamples, seed, notes)
    found.probes = probe_tests(runs, probe_table.data, n_resamples, seed, by="model")
    return found
