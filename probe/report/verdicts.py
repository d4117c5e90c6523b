"""REPORT.md's "Which differences are real" section and the significance-aware sentences of its paragraphs."""

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
from probe.report.table_tests import ALPHA, NOT_DISTINGUISHABLE, TableTests, records_by_cell, safe
from probe.report.tables import Table
from probe.results.uncertainty import compare_over_corpora, holm


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
    probes: TableTests = field(default_factory=TableTests)
    """Per backbone, the best probe against every other (averaged over corpora)."""

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
            p_min = [t["p_min"] for t in self.table3.tests if t["group"] == corpus and "p_min" in t]
            rows.append({"corpus": corpus, "n_test_speakers": max(c["n_test_speakers"] or 0 for c in cis),
                         "n_test_clips": max(c["n_test_clips"] for c in cis), "cluster": cis[0]["cluster"],
                         "resolvable": float(np.median(widths)) if widths else float("nan"),
                         "p_min": min(p_min) if p_min else float("nan")})
        return pd.DataFrame(rows, columns=["corpus", "n_test_speakers", "n_test_clips", "cluster", "resolvable",
                                           "p_min"])

    def markdown(self, out: Path | None = None) -> str:
        """The "Which differences are real" section (figures linked relative to ``out``)."""
        lines = ["## Which differences are real", "",
                 "Intervals and tests treat the test **speaker** as the unit, and the run (a seed's trained probe, "
                 "whose luck its test speakers share) as a second one: 95% intervals are a jackknife clustered by "
                 "speaker and by run with a Student-t quantile; paired p-values come from a sign-flip permutation "
                 "test that swaps the two sides' predictions speaker by speaker (exact up to 14 speakers) when every "
                 "run tests one speaker, else from the two-way clustered t test; runs are paired by seed and fold "
                 "and must have been tested on the same clips. "
                 "With n test speakers no p-value can be below 2/2^n (0.25 for 3 speakers). p-values are "
                 "Holm-corrected over the comparisons of each table. A winner is named only when it is "
                 f"significantly better than the runner-up (α = {ALPHA}); otherwise the cells are "
                 f"{NOT_DISTINGUISHABLE}.", "",
                 "| corpus | test speakers | test clips | smallest possible p | smallest resolvable macro-F1 "
                 "difference | best backbone (corpus × backbone table) |", "|:---|---:|---:|---:|---:|:---|"]
        for row in self.resolution().itertuples():
            speakers = row.n_test_speakers if row.cluster == "speaker" else "– (no speaker ids: clips resampled)"
            width = "–" if np.isnan(row.resolvable) else f"± {row.resolvable:.1f} points"
            p_min = "–" if np.isnan(row.p_min) or row.p_min <= 0 else f"{row.p_min:.3g}"  # 0: the t test has no floor
            lines.append(f"| {row.corpus} | {speakers} | {row.n_test_clips} | {p_min} | {width} | "
                         f"{_verdict(self.table3, row.corpus)} |")
        lines += ["", "The smallest resolvable difference is the median half-width of the corpus's paired 95% "
                      "intervals: differences between backbones smaller than it cannot be told apart on this test "
                      "part.", ""]
        refused = self.table3.refused + self.table2.refused
        if refused:
            lines += [f"Not compared ({len(refused)}; the two sides were not tested on the same clips, so no paired "
                      "test is valid): " + "; ".join(refused) + ".", ""]
        few = [r.corpus for r in self.resolution().itertuples() if r.p_min >= ALPHA]
        if few:
            lines += [f"On {', '.join(few)} too few speakers were tested for any difference to be significant at "
                      f"α = {ALPHA}. For corpora of at most 12 speakers, `probe run --protocol kfold` (or `auto`) "
                      "tests every speaker once (leave-one-speaker-out); the paper's holdout tests one speaker per "
                      "seed.", ""]
        if self.notes:
            lines += [f"Caution: in {len(self.notes)} cells the records' stated macro-F1 differs by more than 0.5 "
                      f"points from what their test predictions give (first: {self.notes[0]}).", ""]
        verdicts = [f"{probe_label(p)}: {_verdict(self.table2, p)}" for p in self.table2.best]
        if verdicts:
            lines += ["Averaged over corpora (probe × backbone table), best backbone per probe: "
                      + "; ".join(verdicts) + ".", ""]
        choices = [f"{m}: {_verdict(self.probes, m, probe_label)}" for m in self.probes.best]
        if choices:
            lines += [f"Best probe per backbone, averaged over corpora (Holm over {len(self.probes.tests)} probe "
                      "comparisons): " + "; ".join(choices) + ".", ""]
        return "\n".join(lines + self._figures(out))

    def _figures(self, out: Path | None) -> list[str]:
        lines: list[str] = []
        link = (lambda f: Path(os.path.relpath(f, out)).as_posix()) if out is not None else (lambda f: f.as_posix())
        captions = {
            "corpus_bars": "Per corpus, each backbone with its probe; error bars: 95% CI.",
            "layerwise_intervals": "Layer-wise Linear probe with 95% speaker-clustered bands (pooled over seeds; ± std over "
                                   "seeds for records without per-layer predictions); filled markers: layers whose "
                                   "macro-F1 differs significantly from the final layer's (paired, Holm).",
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
            lines += [f"A layer beats the final layer significantly (paired sign-flip test over speakers, Holm over the "
                      f"layers of each "
                      f"curve; {int(self.layers['p_vs_final'].notna().sum())} layer comparisons) in {found} of {cells} "
                      "(backbone, corpus) curves" + (": " + "; ".join(
                          f"{m} on {c}: layer {int(g.loc[g['diff_vs_final'].idxmax(), 'layer'])} "
                          f"(+{g['diff_vs_final'].max():.1f})" for (m, c), g in better.groupby(["model", "corpus"]))
                          if found else "") + ".", ""]
        return lines


def _verdict(tests: TableTests, group: str, name: Any = str) -> str:
    best = tests.best.get(group)
    if best is None:
        return "–"
    mine = sorted((t for t in tests.tests if t["group"] == group), key=lambda t: t["difference"])
    if not mine:
        return f"{best} (the only backbone)"
    runner = mine[0]
    detail = (f"{runner['difference']:+.1f} [{runner['ci_low']:.1f}, {runner['ci_high']:.1f}] vs "
              f"{name(runner['other'])}, Holm p = {runner['p_holm']:.3f}")
    if tests.winner.get(group) == best:
        return f"**{name(best)}** ({detail})"
    return f"{', '.join(map(name, tests.tied.get(group, [best])))}: {NOT_DISTINGUISHABLE} ({detail})"


def winners_sentence(tests: TableTests, what: str, label: Any = str) -> str:
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


def overall_sentence(runs: Sequence[Run], data: pd.DataFrame, tests: TableTests, n_resamples: int, seed: int) -> str:
    """Compare the best (backbone, probe) of Table 2 with the runner-up combination; the sentence for REPORT.md."""
    ranked = data.sort_values("macro_f1_mean", ascending=False, kind="stable")
    if len(ranked) < 2:
        return ""
    records = records_by_cell(runs)
    (top, second) = [(r.model, r.probe, r.macro_f1_mean) for r in ranked.head(2).itertuples()]
    groups = [{c: recs for (c, m, p), recs in records.items() if (m, p) == x[:2]} for x in (top, second)]
    result = safe(compare_over_corpora, *groups, n_resamples=n_resamples, seed=seed)
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
