"""``REPORT.md``: every table and figure, linked, with a paragraph on what it shows derived from the numbers,
and where the numbers came from (records, corpora, models, weights)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from probe.report.figures import layerwise_summary
from probe.report.layer_weights import LayerWeights
from probe.report.load import Run
from probe.report.naming import group_label, order_models, order_probes, probe_code, probe_label
from probe.report.render import to_markdown
from probe.report.tables import Table
from probe.report.weights_text import best_layers_sentence, weights_paragraph

SYNTHETIC_CORPORA = ("synthetic",)
WEIGHT_KINDS = {
    "pretrained": "pre-trained checkpoint",
    "random": "random initialisation",
    "ct2": "pre-trained Whisper weights converted from CTranslate2",
}


@dataclass
class RunFigures:
    """The figures written for one run."""

    run: Run
    files: list[Path]


@dataclass
class ReportContent:
    """Everything REPORT.md describes; paths are absolute, links are made relative to :attr:`out`."""

    out: Path
    results: Path
    runs: list[Run]
    frame: pd.DataFrame
    probe_table: Table
    corpus_table: Table
    tables: list[Path]
    layer_weights: LayerWeights | None
    layer_weight_files: list[Path]
    layerwise: pd.DataFrame
    layerwise_files: list[Path]
    run_figures: list[RunFigures]
    reference: str | None
    """Citation of the published numbers shown beside ours (``--compare``), or ``None``."""
    leaderboard: Path | None = None
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    uncertainty: str = ""
    """The "Which differences are real" section (:mod:`probe.report.intervals`), after the tables."""
    layer_lr: str = ""
    """The Multi-Layer runs with ``--layer-lr`` beside the table's runs (heatmap and paragraph), or empty."""


def _count(n: int, one: str, many: str | None = None) -> str:
    """``1 corpus``, ``2 corpora``."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _rel(path: Path, out: Path) -> str:
    """A link target relative to the folder of REPORT.md."""
    return Path(os.path.relpath(path, out)).as_posix()


def _image(files: Sequence[Path], out: Path, alt: str) -> list[str]:
    """An embedded PNG (when written) and links to every format of one figure."""
    lines = []
    png = [f for f in files if f.suffix == ".png"]
    if png:
        lines.append(f"![{alt}]({_rel(png[0], out)})")
    lines.append("Files: " + ", ".join(f"[{f.suffix[1:].upper()}]({_rel(f, out)})" for f in files))
    return lines


def _stems(files: Sequence[Path]) -> dict[Path, list[Path]]:
    grouped: dict[Path, list[Path]] = {}
    for f in files:
        grouped.setdefault(f.with_suffix(""), []).append(f)
    return grouped


# --------------------------------------------------------------------------------------------- paragraphs


def _probe_paragraph(table: Table) -> str:
    d = table.data
    top = d.loc[d["macro_f1_mean"].idxmax()]
    parts = [
        d.attrs.get("best_sentence") or
        f"Averaged over corpora, the best combination is **{top['model']}** with the **{probe_label(top['probe'])}** "
        f"probe ({top['macro_f1_mean']:.1f}% macro-F1)."
    ]
    per_probe = []
    for probe, rows in d.groupby("probe", sort=False):
        best = rows.loc[rows["macro_f1_mean"].idxmax()]
        per_probe.append(f"{probe_label(probe)}: {best['model']} ({best['macro_f1_mean']:.1f})")
    parts.append(d.attrs.get("winners_sentence") or "Best backbone per probe: " + "; ".join(per_probe) + ".")
    best_of = d.loc[d.groupby("model", sort=False)["macro_f1_mean"].idxmax()]
    for languages, rows in best_of.groupby("languages", sort=False):
        b = rows.loc[rows["macro_f1_mean"].idxmax()]
        group = group_label(languages) if languages == "en" else group_label(languages).lower()
        parts.append(f"Best {group} backbone: {b['model']} "
                     f"({b['macro_f1_mean']:.1f} with {probe_label(b['probe'])}).")
    if {"linear", "multilayer"} <= set(d["probe"]):
        wide = d.pivot_table(index="model", columns="probe", values="macro_f1_mean")
        both = wide[["linear", "multilayer"]].dropna()
        wins = int((both["multilayer"] > both["linear"]).sum())
        parts.append(f"Multi-Layer beats Linear for {wins} of {len(both)} backbones.")
    if d["n_corpora"].max() > 1:
        parts.append(f"The ± is the spread across corpora (largest: {d['macro_f1_std'].max():.1f} points); the "
                     f"mean run-to-run standard deviation within a corpus is {d['seed_std'].mean():.1f} points.")
    else:
        parts.append(f"With a single corpus the ± is the run-to-run standard deviation (mean "
                     f"{d['seed_std'].mean():.1f} points).")
    parts += _paper_gap(d)
    return " ".join(parts)


def _paper_gap(d: pd.DataFrame) -> list[str]:
    if "paper_macro_f1" not in d or not d["paper_macro_f1"].notna().any():
        return []
    both = d.dropna(subset=["paper_macro_f1"])
    diff = both["macro_f1_mean"] - both["paper_macro_f1"].astype(float)
    direction = "above" if diff.mean() >= 0 else "below"
    return [f"Against the {len(both)} published values, ours is on average {abs(diff.mean()):.1f} points "
            f"{direction} (mean absolute difference {diff.abs().mean():.1f})."]


def _corpus_paragraph(table: Table) -> str:
    d = table.data
    winners = d[d["best"]]
    counts = winners["model"].value_counts()
    n = d["corpus"].nunique()
    lead = ", ".join(f"{m} on {c} of {n}" for m, c in counts.items())
    if len(winners) > n:
        lead += " (ties count for each)"
    probes = d["probe"].value_counts()
    probe_text = ", ".join(f"{probe_label(p)} {c}×" for p, c in probes.items())
    best = d.groupby("corpus")["macro_f1_mean"].max().sort_values()
    parts = [
        d.attrs.get("winners_sentence") or f"Best backbone per corpus: {lead}.",
        f"Winning probes over all (corpus, backbone) cells: {probe_text}.",
    ]
    if len(best) > 1:
        parts.append(f"Hardest corpus: {best.index[0]} (best {best.iloc[0]:.1f}); easiest: {best.index[-1]} "
                     f"(best {best.iloc[-1]:.1f}).")
    parts.append(f"The run-to-run standard deviation of these cells is {d['macro_f1_std'].median():.1f} points "
                 f"(median; largest {d['macro_f1_std'].max():.1f}).")
    parts += _paper_gap(d)
    return " ".join(parts)


def _layerwise_paragraph(frame: pd.DataFrame) -> str:
    summary = layerwise_summary(frame)
    per_model = summary.groupby(["model", "languages", "layer", "depth"], sort=True)["mean"].mean().reset_index()
    parts = []
    for model in order_models(dict(zip(per_model["model"], per_model["languages"]))):
        rows = per_model[per_model["model"] == model]
        best = rows.loc[rows["mean"].idxmax()]
        last = rows.loc[rows["layer"].idxmax()]
        parts.append(f"{model}: layer {int(best['layer'])} of {int(last['layer'])} (depth {best['depth']:.2f}, "
                     f"{best['mean']:.1f}) vs final state {last['mean']:.1f}")
    chosen = frame.drop_duplicates(["model", "corpus", "run"])["best_depth"]
    return (
        "Test macro-F1 of a Linear probe trained on each layer's mean-pooled states, one panel per backbone, "
        "corpora overlaid (band: ± standard deviation over seeds); the second figure overlays the backbones "
        "against relative depth l/L, averaged over corpora and seeds. Best layer by mean over corpora: "
        + "; ".join(parts)
        + f". The layer-wise probe's reported score is that of the layer chosen on validation (median choice over "
        f"runs: relative depth {chosen.median():.2f})."
    )


# --------------------------------------------------------------------------------------------- provenance


def _preset_line(frame: pd.DataFrame) -> str:
    """The presets of the shown runs, each with what it means."""
    from probe.train.presets import PRESET_DESCRIPTIONS

    names = sorted(frame["preset"].unique())
    return "; ".join(f"**{n}**" + (f" ({PRESET_DESCRIPTIONS[n.split(' + ')[0]]})"
                                   if n.split(" + ")[0] in PRESET_DESCRIPTIONS else "") for n in names)


def _distinct(values: Any) -> str:
    """The distinct non-empty values, comma-joined (``–`` for none)."""
    unique = sorted({str(v) for v in values if v not in (None, "")})
    return ", ".join(unique) if unique else "–"


def _provenance(content: ReportContent) -> list[str]:
    runs, frame = content.runs, content.frame
    lines = ["## What produced these numbers", ""]
    seeds = sorted({r.seed for r in runs})
    folds = sorted({r.fold for r in runs if r.protocol == "kfold"})
    lines.append(
        f"{len(runs)} run records under `{content.results.as_posix()}` (protocol {_distinct(frame['protocol'])}, "
        f"classes {_distinct(frame['classes'])}, training preset {_distinct(frame['preset'])}, "
        f"seeds {', '.join(map(str, seeds))}"
        + (f", folds {', '.join(map(str, folds))}" if folds else "")
        + f"), created {min(str(r.data.get('created', '')) for r in runs)} to "
        f"{max(str(r.data.get('created', '')) for r in runs)}. The report re-reads these files; it trains nothing."
    )
    if content.skipped:
        lines.append(f"{len(content.skipped)} JSON files there are not run records and were skipped.")
    lines += ["", "| corpus | language | classes | train / val / test clips (first run) | speakers train / val / test |",
              "|:---|:---|---:|:---|:---|"]
    for corpus in sorted(frame["corpus"].unique()):
        r = next(r for r in runs if r.corpus == corpus)
        s = r.data.get("split") or {}
        sizes = " / ".join(str(s.get(f"n_{p}", "–")) for p in ("train", "val", "test"))
        speakers = " / ".join(str(s.get(f"speakers_{p}", "–")) for p in ("train", "val", "test"))
        lines.append(f"| {corpus} | {r.data.get('language', '')} | {len(r.classes)} | {sizes} | {speakers} |")
    lines += ["", "| backbone | family | pre-training | languages | checkpoint | weights | states × dim | "
                  "Whisper input |", "|:---|:---|:---|:---|:---|:---|:---|:---|"]
    languages = dict(zip(frame["model"], frame["languages"]))
    for model in order_models(languages):
        rs = [r for r in runs if r.model == model]
        c = [r.cache for r in rs]
        cells = [
            _distinct(r.data.get("family") for r in rs), _distinct(r.data.get("pretraining") for r in rs),
            group_label(languages[model]), _distinct(x.get("checkpoint") for x in c),
            _distinct(x.get("weights") for x in c),
            f"{_distinct(x.get('n_layers') for x in c)} × {_distinct(x.get('dim') for x in c)}",
            _distinct(x.get("whisper_input") for x in c),
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    config = [r.data.get("config") or {} for r in runs]
    keys = ("preset", "optimizer", "lr", "weight_decay", "epochs", "batch_size", "hidden", "dropout", "standardize",
            "class_weights", "scheduler", "selection")
    settings = ", ".join(f"{k} {_distinct(c.get(k) for c in config)}" for k in keys
                         if any(k in c for c in config))
    if settings:
        lines += ["", f"Training: {settings}; the model of each run is selected on its validation split, and every "
                      "number shown is on the test split (macro-F1 in percent)."]
    versions = runs[0].data.get("versions") or {}
    if versions:
        lines.append("Library versions (first record): " + ", ".join(f"{k} {v}" for k, v in versions.items() if v)
                     + ".")
    lines += ["", *_warnings(content)]
    return lines


def _warnings(content: ReportContent) -> list[str]:
    frame = content.frame
    found = []
    synthetic = sorted(c for c in frame["corpus"].unique() if c in SYNTHETIC_CORPORA)
    if synthetic:
        found.append(f"- **Synthetic speech.** {', '.join(synthetic)} is the eSpeak NG corpus rendered by "
                     "`probe synth`: emotions are prosody profiles, not acted speech. These numbers test the "
                     "pipeline and are not comparable with published results.")
    real = sorted(c for c in frame["corpus"].unique() if c not in SYNTHETIC_CORPORA)
    if real:
        found.append(f"- Corpora of real recordings: {', '.join(real)}.")
    weights = {m: _distinct(r.cache.get("weights") for r in content.runs if r.model == m)
               for m in sorted(frame["model"].unique())}
    random = sorted(m for m, w in weights.items() if "random" in w)
    if random:
        found.append(f"- **Random weights** for {', '.join(random)}: the real architecture with randomly "
                     "initialised weights, a baseline for what pre-training adds, not a pre-trained result.")
    kinds: dict[str, list[str]] = {}
    for model, kind in weights.items():
        kinds.setdefault(kind, []).append(model)
    described = [f"{WEIGHT_KINDS.get(k, k)} ({', '.join(ms)})" for k, ms in kinds.items()]
    found.append("- Weights, from the caches' identity: " + "; ".join(described) + ".")
    return found


# --------------------------------------------------------------------------------------------- the document


def report_markdown(content: ReportContent) -> str:
    """The text of REPORT.md."""
    out = content.out
    corpora = sorted(content.frame["corpus"].unique())
    models = order_models(dict(zip(content.frame["model"], content.frame["languages"])))
    lines = [
        "# ser-probe report",
        "",
        f"Generated by `probe report` from {len(content.runs)} run records: "
        f"{_count(len(corpora), 'corpus', 'corpora')} ({', '.join(corpora)}), "
        f"{_count(len(models), 'backbone')} ({', '.join(models)}), probes "
        f"{', '.join(probe_label(p) for p in order_probes(content.frame['probe']))}. All scores are test macro-F1 "
        f"in percent, training preset {_preset_line(content.frame)}."
        + (f" Published values ({content.reference}) are in parentheses where corpus and backbone names match."
           if content.reference else "")
        + (f" Every (corpus, backbone, probe) with all metrics: [leaderboard]({_rel(content.leaderboard, out)})."
           if content.leaderboard else ""),
        "",
    ]
    if content.notes:
        lines += ["> **Notes**", ">"] + [f"> - {n}" for n in content.notes] + [""]
    lines += ["## Tables", ""]
    table_files = {p.name: p for p in content.tables}
    for table, heading, paragraph in (
        (content.probe_table, "Probe × backbone (the paper's Table 2)", _probe_paragraph(content.probe_table)),
        (content.corpus_table, "Corpus × backbone with one probe per backbone (the paper's Table 3)",
         _corpus_paragraph(content.corpus_table)),
    ):
        files = [table_files[f"{table.name}.{ext}"] for ext in ("csv", "md", "tex") if f"{table.name}.{ext}" in
                 table_files]
        lines += [f"### {heading}", "", paragraph, "", to_markdown(table.grid),
                  "Files: " + ", ".join(f"[{f.suffix[1:].upper()}]({_rel(f, out)})" for f in files), ""]
    lines += [content.uncertainty, ""] if content.uncertainty else []
    lines += ["## Figures", ""]
    if content.layer_weights is not None:
        groups = _stems(content.layer_weight_files)
        overall = [f for stem, fs in groups.items() if stem.name == "layer_weights" for f in fs]
        lines += ["### Multi-Layer layer weights", "", weights_paragraph(content.layer_weights), ""]
        lines += _image(overall, out, "Layer-weight heatmap") + [""]
        per_corpus = {stem: fs for stem, fs in groups.items() if stem.parent.name == "layer_weights"}
        if per_corpus:
            lines.append("Per corpus (mean over seeds): " + ", ".join(
                f"[{stem.name}]({_rel(fs[0], out)})" for stem, fs in sorted(per_corpus.items())) + ".")
            lines.append("")
    else:
        lines += ["### Multi-Layer layer weights", "", "No Multi-Layer records: no heatmap.", ""]
    lines += [content.layer_lr, ""] if content.layer_lr else []
    if not content.layerwise.empty:
        groups = _stems(content.layerwise_files)
        best = best_layers_sentence(content.runs)
        lines += ["### Layer-wise Linear probe", "", _layerwise_paragraph(content.layerwise), ""]
        lines += [best, ""] if best else []
        for stem, files in groups.items():
            lines += _image(files, out, stem.name.replace("_", " ")) + [""]
    else:
        lines += ["### Layer-wise Linear probe", "", "No layer-wise records: no curves.", ""]
    lines += _run_section(content)
    lines += _provenance(content)
    return "\n".join(lines).rstrip() + "\n"


def _run_section(content: ReportContent) -> list[str]:
    if not content.run_figures:
        return []
    out = content.out
    lines = [
        "### Best run of each corpus and backbone",
        "",
        "For each (corpus, backbone): the run with the highest test macro-F1 among the seeds of the best probe "
        "of the corpus × backbone table. Confusion matrix normalised by true class (cells: share and count), "
        "per-class F1 with the macro-F1 as a dashed line, one-vs-rest ROC curves with their AUC from the "
        "predicted probabilities, and a 2-D map of the probe's pooled test embeddings (the input of its "
        "classifier; t-SNE from 100 clips, PCA below) coloured by true class.",
        "",
        "| corpus | backbone | probe | seed | macro-F1 | figures |",
        "|:---|:---|:---|---:|---:|:---|",
    ]
    for item in content.run_figures:
        r = item.run
        links = ", ".join(f"[{f.stem.replace('_', ' ')}]({_rel(f, out)})" for f in item.files if f.suffix == ".png")
        if not links:
            links = ", ".join(f"[{f.name}]({_rel(f, out)})" for f in item.files)
        lines.append(f"| {r.corpus} | {r.model} | {probe_code(r.probe)} | {r.seed} | {r.macro_f1:.1f} | {links} |")
    return lines + [""]


def write_markdown(content: ReportContent, path: Path) -> Path:
    """Write REPORT.md to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_markdown(content), encoding="utf-8")
    return path

