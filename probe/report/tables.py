"""The paper's two tables from run records: probe × backbone (its Table 2) and corpus × backbone (its Table 3).

Both start from :func:`corpus_means`: for each (corpus, model, probe) the runs (seeds, or folds × seeds) are
averaged first. Standard deviations use ddof=1 and are 0 for a single value.

* :func:`probe_by_backbone`: the mean over corpora of those per-corpus means; its ``±`` is the standard
  deviation **across corpora** of the per-corpus means (how much a backbone's score moves from corpus to
  corpus); ``seed_std`` is the mean over corpora of the within-corpus run-to-run standard deviation.
* :func:`corpus_by_backbone`: per corpus and backbone, the probe with the highest mean test macro-F1, shown as
  mean ± standard deviation over its runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from probe.report.naming import group_label, order_models, order_probes, probe_code, probe_label
from probe.report.reference import Reference
from probe.report.render import Cell, Grid, to_latex, to_markdown
from probe.train.presets import paper_departures_sentence

BEST_PROBE = ("corpus", "backbone")
"""How :func:`corpus_by_backbone` picks the probe: per (corpus, backbone) cell, or once per backbone."""


def _std(values: pd.Series) -> float:
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0


def corpus_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1) of test macro-F1 over the runs of each (corpus, model, probe)."""
    grouped = frame.groupby(["corpus", "model", "probe"], sort=True)
    out = grouped.agg(
        language=("language", "first"),
        languages=("languages", "first"),
        family=("family", "first"),
        macro_f1_mean=("macro_f1", "mean"),
        macro_f1_std=("macro_f1", _std),
        n_runs=("macro_f1", "size"),
    )
    return out.reset_index()


def probe_by_backbone(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 2 data, one row per (model, probe): mean over corpora of the per-corpus means.

    Columns: model, languages, family, probe, macro_f1_mean, macro_f1_std (across corpora), seed_std (mean
    within-corpus std over runs), n_corpora, n_runs, corpora (``;``-joined).
    """
    per_corpus = corpus_means(frame)
    grouped = per_corpus.groupby(["model", "probe"], sort=True)
    out = grouped.agg(
        languages=("languages", "first"),
        family=("family", "first"),
        macro_f1_mean=("macro_f1_mean", "mean"),
        macro_f1_std=("macro_f1_mean", _std),
        seed_std=("macro_f1_std", "mean"),
        n_corpora=("corpus", "size"),
        n_runs=("n_runs", "sum"),
        corpora=("corpus", lambda s: ";".join(sorted(s))),
    ).reset_index()
    return _ordered(out, ["model", "probe"])


def corpus_by_backbone(frame: pd.DataFrame, best_probe: str = "backbone") -> pd.DataFrame:
    """Table 3 data, one row per (corpus, model) with its best probe.

    ``best_probe="corpus"`` picks, in every (corpus, model) cell, the probe with the highest mean test macro-F1;
    ``"backbone"`` picks one probe per backbone, the best of :func:`probe_by_backbone`, as the paper did.
    Ties go to the probe listed first in :data:`~probe.report.naming.PROBES`. Columns: corpus, language, model,
    languages, family, probe, macro_f1_mean, macro_f1_std (over runs), n_runs, n_probes (probes compared),
    best (the best backbone of the corpus).
    """
    if best_probe not in BEST_PROBE:
        raise ValueError(f"best_probe must be one of {BEST_PROBE}, got {best_probe!r}")
    per_corpus = _ordered(corpus_means(frame), ["corpus", "model", "probe"])
    n_probes = per_corpus.groupby(["corpus", "model"])["probe"].transform("size")
    per_corpus = per_corpus.assign(n_probes=n_probes)
    if best_probe == "corpus":
        winners = per_corpus.loc[per_corpus.groupby(["corpus", "model"], sort=False)["macro_f1_mean"].idxmax()]
    else:
        table2 = probe_by_backbone(frame)
        chosen = table2.loc[table2.groupby("model", sort=False)["macro_f1_mean"].idxmax(), ["model", "probe"]]
        winners = per_corpus.merge(chosen, on=["model", "probe"])
    winners = winners.reset_index(drop=True)
    top = winners.groupby("corpus")["macro_f1_mean"].transform("max")
    winners["best"] = np.isclose(winners["macro_f1_mean"], top)
    return _ordered(winners, ["corpus", "model"])


def _ordered(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by corpus name, model (grouped, paper order) and probe (:data:`PROBES` order)."""
    models = order_models(dict(zip(frame["model"], frame["languages"])))
    rank = {
        "corpus": {c: i for i, c in enumerate(sorted(frame["corpus"].unique()))} if "corpus" in frame else {},
        "model": {m: i for i, m in enumerate(models)},
        "probe": {p: i for i, p in enumerate(order_probes(frame["probe"]))},
    }
    order = frame.sort_values(keys, key=lambda col: col.map(rank[col.name])).index
    return frame.loc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """Which published values can be shown beside ours, and why not when they cannot."""

    reference: Reference
    corpora: list[str]
    models: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def shared_corpora(self) -> list[str]:
        return [c for c in self.corpora if c in self.reference.corpora]

    @property
    def shared_models(self) -> list[str]:
        return [m for m in self.models if m in self.reference.models]


def comparison(reference: Reference, corpora: list[str], models: list[str]) -> Comparison:
    """Match our corpora and models against the reference and explain what cannot be compared."""
    comp = Comparison(reference, corpora, models)
    if not comp.shared_corpora:
        comp.notes.append(
            f"Comparison with {reference.short}: none of the corpora reported here ({', '.join(corpora)}) is one "
            f"of the paper's ({', '.join(reference.corpora)}), so no published values are shown (numbers on other "
            "data, e.g. the synthetic demo corpus, are not comparable)."
        )
    elif not comp.shared_models:
        comp.notes.append(
            f"Comparison with {reference.short}: none of the backbones reported here ({', '.join(models)}) is in "
            f"the paper ({', '.join(reference.models)}), so no published values are shown."
        )
    return comp


def _paper_by_probe(row: pd.Series, comp: Comparison | None) -> float | None:
    if comp is None or not comp.shared_corpora:
        return None
    return comp.reference.probe_value(row["model"], row["probe"])


def _paper_by_corpus(row: pd.Series, comp: Comparison | None) -> float | None:
    return None if comp is None else comp.reference.corpus_value(row["corpus"], row["model"])


# --------------------------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A report table: its tidy data (written as CSV) and its display layout (Markdown, LaTeX)."""

    name: str
    data: pd.DataFrame
    grid: Grid
    notes: list[str] = field(default_factory=list)

    def write(self, folder: Path) -> list[Path]:
        """Write ``<name>.csv``, ``<name>.md`` and ``<name>.tex`` under ``folder``; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / f"{self.name}.{ext}" for ext in ("csv", "md", "tex")]
        self.data.to_csv(paths[0], index=False, float_format="%.4f")
        paths[1].write_text(to_markdown(self.grid), encoding="utf-8")
        paths[2].write_text(to_latex(self.grid), encoding="utf-8")
        return paths


def _scope(frame: pd.DataFrame) -> str:
    protocols = ", ".join(sorted(frame["protocol"].unique()))
    classes = ", ".join(sorted(frame["classes"].unique()))
    presets = ", ".join(sorted(frame["preset"].unique())) if "preset" in frame else "–"
    return f"protocol {protocols}, classes {classes}, training preset {presets}"


def probe_by_backbone_table(frame: pd.DataFrame, comp: Comparison | None = None) -> Table:
    """Table 2: mean test macro-F1 over corpora, backbones (rows, grouped by languages) × probes (columns)."""
    data = probe_by_backbone(frame)
    corpora = sorted(frame["corpus"].unique())
    if comp is not None:
        data["paper_macro_f1"] = [_paper_by_probe(r, comp) for _, r in data.iterrows()]
    models = list(dict.fromkeys(data["model"]))
    probes = order_probes(data["probe"])
    cells = {(r.model, r.probe): r for r in data.itertuples()}
    best = data.groupby("probe")["macro_f1_mean"].max()
    single = len(corpora) == 1  # no spread across corpora: show the run-to-run spread instead
    rows, labels, starts, groups = [], [], [], []
    for i, model in enumerate(models):
        languages = data.loc[data["model"] == model, "languages"].iloc[0]
        if groups and groups[-1] != languages:
            starts.append(i)
        groups.append(languages)
        labels.append([model, group_label(languages)])
        row = []
        for probe in probes:
            r = cells.get((model, probe))
            if r is None:
                row.append(Cell(None))
                continue
            paper = getattr(r, "paper_macro_f1", None)
            row.append(Cell(
                r.macro_f1_mean, r.seed_std if single else r.macro_f1_std,
                paper=None if paper is None or pd.isna(paper) else float(paper),
                mark="" if r.n_corpora == len(corpora) else f"{r.n_corpora}/{len(corpora)}",
                bold=bool(np.isclose(r.macro_f1_mean, best[probe])),
            ))
        rows.append(row)
    if single:
        caption = (
            f"Test macro-F1 (%) on one corpus ({corpora[0]}; {_scope(frame)}): mean ± standard deviation over runs "
            "(seeds, or folds × seeds; ddof=1). With more corpora, a cell is the mean over corpora of the "
            "per-corpus means. Bold: best backbone for each probe."
        )
    else:
        caption = (
            f"Test macro-F1 (%) averaged over {len(corpora)} corpora ({', '.join(corpora)}; {_scope(frame)}). For "
            "each corpus the runs (seeds, or folds × seeds) are averaged first; a cell is the mean of these "
            "per-corpus means ± their standard deviation across corpora (ddof=1), which shows how much the score "
            "varies from corpus to corpus, not seed noise (the mean within-corpus standard deviation over runs is "
            "the CSV column seed_std). Bold: best backbone for each probe."
        )
    if any(c.mark for row in rows for c in row):
        caption += " A superscript k/n marks a cell averaged over only k of the n corpora."
    notes = list(comp.notes) if comp is not None else []
    if comp is not None and comp.shared_corpora:
        caption += (
            f" In parentheses: the published value ({comp.reference.short}, Table 2), an average over its nine "
            f"corpora; ours covers {len(comp.shared_corpora)} of them"
            + (f" plus {len(corpora) - len(comp.shared_corpora)} others" if len(comp.shared_corpora) < len(corpora)
               else "")
            + "."
        )
        caveats = [comp.reference.caveat(c) for c in comp.shared_corpora if comp.reference.caveat(c)]
        caption += (" Not like-for-like: " + "; ".join(caveats) + "." if caveats else "")
        caption += f" {paper_departures_sentence()}"
    grid = Grid(
        title="Table: probe × backbone",
        caption=caption,
        label="tab:probe-by-backbone",
        row_header=["Backbone", "Languages"],
        row_labels=labels,
        columns=[probe_label(p) for p in probes],
        cells=rows,
        row_group_starts=starts,
    )
    return Table("probe_by_backbone", data, grid, notes)


def corpus_by_backbone_table(
    frame: pd.DataFrame, comp: Comparison | None = None, best_probe: str = "backbone"
) -> Table:
    """Table 3: corpora (rows) × backbones (columns, grouped English-only / multilingual) with the best probe."""
    data = corpus_by_backbone(frame, best_probe)
    if comp is not None:
        data["paper_macro_f1"] = [_paper_by_corpus(r, comp) for _, r in data.iterrows()]
        data["paper_like_for_like"] = [not comp.reference.caveat(c) for c in data["corpus"]]
    corpora = list(dict.fromkeys(data["corpus"]))
    models = list(dict.fromkeys(data["model"]))
    languages = dict(zip(data["model"], data["languages"]))
    models = order_models({m: languages[m] for m in models})
    cells = {(r.corpus, r.model): r for r in data.itertuples()}
    reference = comp.reference if comp is not None and comp.shared_corpora else None
    rows, labels = [], []
    for corpus in corpora:
        language = data.loc[data["corpus"] == corpus, "language"].iloc[0]
        labels.append([corpus, language])
        row = []
        for model in models:
            r = cells.get((corpus, model))
            if r is None:
                row.append(Cell(None))
                continue
            paper = getattr(r, "paper_macro_f1", None)
            row.append(Cell(
                r.macro_f1_mean, r.macro_f1_std,
                paper=None if paper is None or pd.isna(paper) else float(paper),
                mark=probe_code(r.probe), bold=bool(r.best),
            ))
        if reference is not None:
            value = reference.baseline.get(corpus)
            row.append(Cell(None if value is None else float(value), digits=2))
        rows.append(row)
    groups: list[tuple[str, int]] = []
    for model in models:
        name = group_label(languages[model])
        if groups and groups[-1][0] == name:
            groups[-1] = (name, groups[-1][1] + 1)
        else:
            groups.append((name, 1))
    columns = list(models)
    if reference is not None:
        columns.append(f"{reference.baseline_name} (paper)")
        groups.append(("Baseline", 1))
    used = order_probes(data["probe"])
    legend = ", ".join(f"{probe_code(p)} {probe_label(p)}" for p in used)
    how = (
        "chosen in each (corpus, backbone) cell as the one with the highest mean test macro-F1 (selected on test: "
        "optimistic, an upper bound rather than an estimate)"
        if best_probe == "corpus"
        else "chosen once per backbone, as the one with the best Table 2 average over corpora (as the paper did: "
        "Multi-Layer for Wav2Vec 2.0, Linear for Whisper)"
    )
    caption = (
        f"Test macro-F1 (%) per corpus for each backbone with one probe ({_scope(frame)}): mean ± standard "
        f"deviation over runs (seeds, or folds × seeds; ddof=1). The probe is {how}; the superscript marks it "
        f"({legend}). Bold: best backbone of the corpus. Columns are grouped by the languages of pre-training."
    )
    if reference is not None:
        caption += (
            f" In parentheses: the published value ({reference.short}, Table 3; Multi-Layer for the "
            "Wav2Vec 2.0 family, Linear for Whisper), where the paper has the corpus and backbone; last column: its "
            "AST baseline trained from scratch."
        )
        caveats = [reference.caveat(c) for c in corpora if reference.caveat(c) and c in reference.corpora]
        if caveats:
            caption += " Not like-for-like (other files or classes than the paper's): " + "; ".join(caveats) + "."
        caption += f" {paper_departures_sentence()}"
    grid = Grid(
        title="Table: corpus × backbone",
        caption=caption,
        label="tab:corpus-by-backbone",
        row_header=["Corpus", "Language"],
        row_labels=labels,
        columns=columns,
        cells=rows,
        column_groups=groups,
    )
    notes = list(comp.notes) if comp is not None else []
    if comp is not None and comp.shared_corpora and not data["paper_macro_f1"].notna().any():
        notes.append(
            f"Comparison with {comp.reference.short}: no (corpus, backbone) pair of Table 3 is in the paper; only "
            "its AST baseline is shown."
        )
    return Table("corpus_by_backbone", data, grid, notes)
