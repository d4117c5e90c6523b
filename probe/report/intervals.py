"""Uncertainty in the report: speaker-clustered CIs in the table cells, significance-aware bold, and the
"which differences are real" section of REPORT.md (:mod:`probe.uncertainty` does the bootstrap).

* Table 3 (corpus × backbone): each cell's CI pools the seeds of its (corpus, backbone, probe); per corpus the
  best backbone is compared with every other one (paired, on the same test speakers).
* Table 2 (probe × backbone, averaged over corpora): each cell's CI resamples speakers within each corpus
  independently; per probe the best backbone is compared with every other one on the corpora both have.

All comparisons of one table share one Holm correction. A best cell is bold only when it is significantly better
than the runner-up after correction; otherwise it and every cell not distinguishable from it are marked †. Per
corpus, the smallest resolvable difference is the median half-width of the paired CIs of that corpus.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probe.report.interval_figures import write_interval_figures
from probe.report.load import Run
from probe.report.naming import probe_label
from probe.report.tables import Table
from probe.uncertainty import (
    LEVEL,
    N_RESAMPLES,
    UncertaintyError,
    compare_over_corpora,
    compare_records,
    holm,
    interval_of_records,
    interval_over_corpora,
)

NOT_DISTINGUISHABLE = "not distinguishable on this data"
TIED = "†"
ALPHA = 0.05


@dataclass
class TableTests:
    """CIs and best-vs-other tests of one table: ``group`` is the corpus (Table 3) or the probe (Table 2)."""

    intervals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(group, backbone) → interval."""
    tests: list[dict[str, Any]] = field(default_factory=list)
    """One per (group, best, other): the paired result plus ``group``, ``best``, ``other``, ``p_holm``."""
    best: dict[str, str] = field(default_factory=dict)
    winner: dict[str, str | None] = field(default_factory=dict)
    """group → the best backbone when significantly better than the runner-up, else ``None``."""
    tied: dict[str, list[str]] = field(default_factory=dict)
    """group → backbones not distinguishable from the best (the best included), when there is no winner."""

    def correct(self) -> None:
        """Holm-correct every test of the table, then decide winners and ties per group."""
        adjusted = holm([t["p_value"] for t in self.tests])
        for test, p in zip(self.tests, adjusted):
            test["p_holm"] = float(p)
        for group, best in self.best.items():
            mine = sorted((t for t in self.tests if t["group"] == group), key=lambda t: t["difference"])
            if not mine:
                self.winner[group], self.tied[group] = None, []
                continue
            runner_up = mine[0]
            significant = runner_up["p_holm"] < ALPHA and runner_up["difference"] > 0
            self.winner[group] = best if significant else None
            self.tied[group] = [] if significant else [best] + [t["other"] for t in mine
                                                                  if not t["p_holm"] < ALPHA]


def _records(runs: Sequence[Run]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        found.setdefault((run.corpus, run.model, run.probe), []).append(run.data)
    return found


def _safe(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    try:
        return call(*args, **kwargs)
    except UncertaintyError:
        return None


def corpus_tests(runs: Sequence[Run], data: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0,
                 level: float = LEVEL) -> TableTests:
    """Table 3: per (corpus, backbone) the CI of its probe's runs; per corpus the best vs every other."""
    records, out = _records(runs), TableTests()
    options = dict(n_resamples=n_resamples, seed=seed, level=level)
    for corpus, rows in data.groupby("corpus", sort=False):
        cells = {r.model: records.get((corpus, r.model, r.probe), []) for r in rows.itertuples()}
        for model, recs in cells.items():
            found = _safe(interval_of_records, recs, **options) if recs else None
            if found is not None:
                out.intervals[(corpus, model)] = found
        ranked = rows.sort_values("macro_f1_mean", ascending=False, kind="stable")["model"].tolist()
        ranked = [m for m in ranked if (corpus, m) in out.intervals]
        if not ranked:
            continue
        out.best[corpus] = ranked[0]
        for other in ranked[1:]:
            result = _safe(compare_records, cells[ranked[0]], cells[other], **options)
            if result is not None:
                out.tests.append(dict(result, group=corpus, best=ranked[0], other=other))
    out.correct()
    return out


def probe_tests(runs: Sequence[Run], data: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0,
                level: float = LEVEL) -> TableTests:
    """Table 2: per (probe, backbone) the CI of the mean over corpora; per probe the best vs every other."""
    records, out = _records(runs), TableTests()
    options = dict(n_resamples=n_resamples, seed=seed, level=level)
    for probe, rows in data.groupby("probe", sort=False):
        groups = {m: {c: recs for (c, mm, p), recs in records.items() if mm == m and p == probe}
                  for m in rows["model"]}
        for model, by_corpus in groups.items():
            found = _safe(interval_over_corpora, by_corpus, **options) if by_corpus else None
            if found is not None:
                out.intervals[(probe, model)] = found
        ranked = rows.sort_values("macro_f1_mean", ascending=False, kind="stable")["model"].tolist()
        ranked = [m for m in ranked if (probe, m) in out.intervals]
        if not ranked:
            continue
        out.best[probe] = ranked[0]
        for other in ranked[1:]:
            result = _safe(compare_over_corpora, groups[ranked[0]], groups[other], **options)
            if result is not None:
                out.tests.append(dict(result, group=probe, best=ranked[0], other=other))
    out.correct()
    return out


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
    note = (f"Brackets: 95% confidence interval from a speaker-clustered bootstrap of the test predictions "
            f"({what}; the standard deviations are in the CSV). Bold: the best backbone {_of(group_column)}, only "
            f"when significantly better than the runner-up (paired bootstrap on the same test speakers, Holm "
            f"correction over this table's {n} comparisons, α = {ALPHA}); {TIED}: not distinguishable from the best.")
    caption = table.grid.caption
    table.grid.caption = caption.replace(old_bold, note) if old_bold in caption else f"{caption} {note}"


def _of(group_column: str) -> str:
    return "of the corpus" if group_column == "corpus" else "for each probe"


@dataclass
class Uncertainty:
    """The tests behind the report's tables, and the REPORT.md section that states which differences are real."""

    table2: TableTests
    table3: TableTests
    n_resamples: int
    seed: int
    notes: list[str] = field(default_factory=list)
    """Cells whose records' stated macro-F1 disagrees with their predictions."""
    files: list[Path] = field(default_factory=list)
    layers: pd.DataFrame | None = None

    def write_figures(self, runs: Sequence[Run], corpus_table: Table, out: Path, formats: Sequence[str]) -> list[Path]:
        """Bands on the layer-wise curves, per-corpus bars with error bars, the layer-weight spread heatmap."""
        self.files, self.layers = write_interval_figures(runs, corpus_table.data, out, formats, self.n_resamples,
                                                         self.seed)
        return self.files

    def resolution(self) -> pd.DataFrame:
        """Per corpus: test speakers and clips, and the smallest resolvable macro-F1 difference (median half-width
        of its paired CIs)."""
        rows = []
        for corpus in dict.fromkeys(g for g, _ in self.table3.intervals):
            cis = [v for (g, _), v in self.table3.intervals.items() if g == corpus]
            widths = [t["half_width"] for t in self.table3.tests if t["group"] == corpus
                      and not np.isnan(t["half_width"])]
            rows.append({"corpus": corpus, "n_test_speakers": max(c["n_test_speakers"] or 0 for c in cis),
                         "n_test_clips": max(c["n_test_clips"] for c in cis), "cluster": cis[0]["cluster"],
                         "resolvable": float(np.median(widths)) if widths else float("nan")})
        return pd.DataFrame(rows, columns=["corpus", "n_test_speakers", "n_test_clips", "cluster", "resolvable"])

    def markdown(self, out: Path | None = None) -> str:
        """The "Which differences are real" section (figures linked relative to ``out``)."""
        lines = ["## Which differences are real", "",
                 f"Intervals and tests come from a speaker-clustered bootstrap of the test predictions "
                 f"({self.n_resamples} resamples, seed {self.seed}): test speakers are drawn with replacement, each "
                 "seed's run is scored on its clips of the drawn speakers, and the seeds are averaged; comparisons "
                 "use the same draws for both sides. p-values are Holm-corrected over the comparisons of each "
                 "table. A winner is named only when it is significantly better than the runner-up "
                 f"(α = {ALPHA}); otherwise the cells are {NOT_DISTINGUISHABLE}.", "",
                 "| corpus | test speakers | test clips | smallest resolvable macro-F1 difference | best backbone "
                 "(corpus × backbone table) |", "|:---|---:|---:|---:|:---|"]
        for row in self.resolution().itertuples():
            speakers = row.n_test_speakers if row.cluster == "speaker" else "– (no speaker ids: clips resampled)"
            width = "–" if np.isnan(row.resolvable) else f"± {row.resolvable:.1f} points"
            lines.append(f"| {row.corpus} | {speakers} | {row.n_test_clips} | {width} | "
                         f"{_verdict(self.table3, row.corpus)} |")
        lines += ["", "The smallest resolvable difference is the median half-width of the corpus's paired 95% "
                      "intervals: differences between backbones smaller than it cannot be told apart on this test "
                      "part.", ""]
        if self.notes:
            lines += [f"Caution: in {len(self.notes)} cells the records' stated macro-F1 differs by more than 0.5 "
                      f"points from what their test predictions give (first: {self.notes[0]}).", ""]
        verdicts = [f"{probe_label(p)}: {_verdict(self.table2, p)}" for p in self.table2.best]
        if verdicts:
            lines += ["Averaged over corpora (probe × backbone table), best backbone per probe: "
                      + "; ".join(verdicts) + ".", ""]
        return "\n".join(lines + self._figures(out))

    def _figures(self, out: Path | None) -> list[str]:
        lines: list[str] = []
        link = (lambda f: Path(os.path.relpath(f, out)).as_posix()) if out is not None else (lambda f: f.as_posix())
        captions = {
            "corpus_bars": "Per corpus, each backbone with its probe; error bars: 95% CI.",
            "layerwise_intervals": "Layer-wise Linear probe with 95% bootstrap bands (pooled over seeds); filled "
                                   "markers: layers whose macro-F1 differs significantly from the final layer's "
                                   "(paired, Holm).",
            "layer_weight_spread": "Seed-to-seed standard deviation of the Multi-Layer weights (companion of the "
                                   "mean heatmap): large values mean the learned weighting is not stable.",
        }
        for stem, caption in captions.items():
            png = [f for f in self.files if f.stem == stem and f.suffix == ".png"]
            rest = [f for f in self.files if f.stem == stem]
            if rest:
                lines += [f"**{stem.replace('_', ' ').capitalize()}.** {caption}", ""]
                lines += [f"![{stem}]({link(png[0])})", ""] if png else []
                lines += ["Files: " + ", ".join(f"[{f.suffix[1:].upper()}]({link(f)})" for f in rest), ""]
        if self.layers is not None and not self.layers.empty and self.layers["p_vs_final"].isna().all():
            lines += ["The layer-wise records carry no per-layer test predictions (`layerwise.test_pred`, written by "
                      "newer `probe run`), so their bands are ± std over seeds and no layer is tested against the "
                      "final one.", ""]
        elif self.layers is not None and not self.layers.empty:
            better = self.layers[(self.layers["p_holm"] < ALPHA) & (self.layers["diff_vs_final"] > 0)]
            cells = self.layers.groupby(["model", "corpus"]).ngroups
            found = better.groupby(["model", "corpus"]).ngroups
            lines += [f"A layer beats the final layer significantly (paired bootstrap, Holm over "
                      f"{int(self.layers['p_vs_final'].notna().sum())} layer comparisons) in {found} of {cells} "
                      "(backbone, corpus) curves" + (": " + "; ".join(
                          f"{m} on {c}: layer {int(g.loc[g['diff_vs_final'].idxmax(), 'layer'])} "
                          f"(+{g['diff_vs_final'].max():.1f})" for (m, c), g in better.groupby(["model", "corpus"]))
                          if found else "") + ".", ""]
        return lines


def _verdict(tests: TableTests, group: str) -> str:
    best = tests.best.get(group)
    if best is None:
        return "–"
    mine = sorted((t for t in tests.tests if t["group"] == group), key=lambda t: t["difference"])
    if not mine:
        return f"{best} (the only backbone)"
    runner = mine[0]
    detail = (f"{runner['difference']:+.1f} [{runner['ci_low']:.1f}, {runner['ci_high']:.1f}] vs {runner['other']}, "
              f"Holm p = {runner['p_holm']:.3f}")
    if tests.winner.get(group) == best:
        return f"**{best}** ({detail})"
    return f"{', '.join(tests.tied.get(group, [best]))}: {NOT_DISTINGUISHABLE} ({detail})"


def _winners_sentence(tests: TableTests, what: str, label: Any = str) -> str:
    """``Best backbone per <what> (significant …): …; not distinguishable on this data: …`` for the paragraph."""
    won = [f"{label(g)}: {w}" for g, w in tests.winner.items() if w]
    open_ = [f"{label(g)} ({', '.join(tests.tied.get(g) or [tests.best[g]])})" for g, w in tests.winner.items()
             if not w]
    parts = []
    if won:
        parts.append(f"Best backbone per {what}, significantly better than the runner-up: " + "; ".join(won) + ".")
    if open_:
        parts.append(f"No significant winner, {NOT_DISTINGUISHABLE}, for " + "; ".join(open_) + ".")
    return " ".join(parts)


def _overall(runs: Sequence[Run], data: pd.DataFrame, tests: TableTests, n_resamples: int, seed: int) -> str:
    """Compare the best (backbone, probe) of Table 2 with the runner-up combination; the sentence for REPORT.md."""
    ranked = data.sort_values("macro_f1_mean", ascending=False, kind="stable")
    if len(ranked) < 2:
        return ""
    records = _records(runs)
    (top, second) = [(r.model, r.probe, r.macro_f1_mean) for r in ranked.head(2).itertuples()]
    groups = [{c: recs for (c, m, p), recs in records.items() if (m, p) == x[:2]} for x in (top, second)]
    result = _safe(compare_over_corpora, *groups, n_resamples=n_resamples, seed=seed)
    if result is None:
        return ""
    p = float(holm([result["p_value"]] + [t["p_value"] for t in tests.tests])[0])
    name = lambda x: f"**{x[0]}** with the **{probe_label(x[1])}** probe ({x[2]:.1f}% macro-F1)"  # noqa: E731
    detail = (f"difference {result['difference']:+.1f} [{result['ci_low']:.1f}, {result['ci_high']:.1f}], Holm "
              f"p = {p:.3f}")
    if p < ALPHA and result["difference"] > 0:
        return (f"Averaged over corpora, the best combination is {name(top)}, significantly better than the "
                f"runner-up {name(second).replace('**', '')} ({detail}).")
    return (f"Averaged over corpora, the highest mean is {name(top)}, {NOT_DISTINGUISHABLE} from the runner-up "
            f"{name(second).replace('**', '')} ({detail}).")


def apply_intervals(runs: Sequence[Run], probe_table: Table, corpus_table: Table, n_resamples: int = N_RESAMPLES,
                    seed: int = 0) -> Uncertainty:
    """Compute every CI and test of the two tables and write them into the tables (data and cells)."""
    table3 = corpus_tests(runs, corpus_table.data, n_resamples, seed)
    table2 = probe_tests(runs, probe_table.data, n_resamples, seed)
    _annotate(corpus_table, table3, "corpus", "Bold: best backbone of the corpus.",
              "its seeds pooled, test speakers resampled")
    _annotate(probe_table, table2, "probe", "Bold: best backbone for each probe.",
              "the mean over corpora, speakers resampled within each corpus")
    notes = [f"{corpus}/{model}: the test predictions give macro-F1 {ci['mean']:.1f}, the records state "
             f"{stated:.1f}; intervals and tests use the predictions"
             for (corpus, model), ci in table3.intervals.items()
             for stated in corpus_table.data.loc[(corpus_table.data["corpus"] == corpus)
                                                 & (corpus_table.data["model"] == model), "macro_f1_mean"]
             if abs(ci["mean"] - stated) > 0.5]
    corpus_table.data.attrs["winners_sentence"] = _winners_sentence(table3, "corpus")
    probe_table.data.attrs["winners_sentence"] = _winners_sentence(table2, "probe", probe_label)
    probe_table.data.attrs["best_sentence"] = _overall(runs, probe_table.data, table2, n_resamples, seed)
    return Uncertainty(table2, table3, n_resamples, seed, notes)
