"""``write_report``: tables, figures and REPORT.md from the run records of a results folder."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from probe.report.baselines import add_baseline_columns, baseline_table, split_baselines
from probe.report.figures import layerwise_figures, layerwise_frame
from probe.report.intervals import apply_intervals
from probe.report.layer_weights import layer_weight_figures, layer_weights
from probe.report.load import NoRecordsError, ReportError, Run, choose_selection, load_runs, read_run, runs_frame, select_runs
from probe.report.markdown import ReportContent, RunFigures, write_markdown
from probe.report.plotting import FORMATS, parse_formats
from probe.report.reference import load_reference
from probe.report.run_plots import run_figures
from probe.report.tables import comparison, corpus_by_backbone_table, probe_by_backbone_table
from probe.report.transfer import write_transfer
from probe.report.weights_text import layer_lr_section
from probe.results.leaderboard import LEADERBOARD_FILE

REPORT_FILE = "REPORT.md"


@dataclass
class ReportSummary:
    """What :func:`write_report` wrote, and the notes it has for the reader."""

    out: Path
    report: Path | None
    tables: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_runs: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        """Every file written, REPORT.md last."""
        return [*self.tables, *self.figures, *([self.report] if self.report else [])]


def few_test_speakers(runs: Sequence[Run]) -> list[str]:
    """A note per corpus whose holdout results rest on one or two test speakers."""
    counts: dict[str, set[int]] = {}
    for r in runs:
        if r.protocol == "holdout":
            n = (r.data.get("split") or {}).get("speakers_test")
            if n is not None:
                counts.setdefault(r.corpus, set()).add(int(n))
    return [f"{corpus}: each holdout test part holds only {max(n)} speaker(s); such a result says little about "
            "other speakers. The k-fold protocol (`probe run --protocol kfold`, leave-one-speaker-out for corpora "
            "of up to 12 speakers) is the honest choice for this corpus."
            for corpus, n in sorted(counts.items()) if max(n) <= 2]


def layer_lr_runs(found: Sequence[Run], chosen: Sequence[Run], protocol: str | None, classes: str | None,
                  preset: str | None) -> list[Run]:
    """Multi-Layer runs with ``--layer-lr`` that the tables left out (one configuration per cell), or []."""
    taken = {id(r) for r in chosen}
    extra = [r for r in found if r.probe == "multilayer" and id(r) not in taken
             and (r.data.get("config") or {}).get("layer_lr") is not None]
    if not extra:
        return []
    try:
        return select_runs(extra, protocol, classes, preset)
    except ReportError:
        return []


def best_runs(runs: Sequence[Run], winners: pd.DataFrame) -> list[Run]:
    """Per (corpus, model) row of the corpus × backbone table: the winning probe's run with the highest test
    macro-F1 (ties: the lowest seed, then fold)."""
    chosen = []
    for row in winners.itertuples():
        candidates = [r for r in runs if (r.corpus, r.model, r.probe) == (row.corpus, row.model, row.probe)]
        if candidates:
            chosen.append(min(candidates, key=lambda r: (-r.macro_f1, r.seed, r.fold)))
    return chosen


def write_report(
    results: Path,
    out: Path | None = None,
    compare: str | None = None,
    *,
    protocol: str | None = "holdout",
    classes: str | None = "all",
    preset: str | None = "paper",
    formats: Sequence[str] | str = FORMATS,
    best_probe: str = "backbone",
    best_run_figures: bool = True,
    progress: Callable[[str], None] | None = None,
    given: Collection[str] | None = None,
) -> ReportSummary:
    """Write ``tables/``, ``figures/`` and ``REPORT.md`` under ``out`` (default: ``results``).

    ``given``: which of ``protocol``, ``classes``, ``preset`` the user chose; when set and no record matches,
    the others follow the records there are, with a note (:func:`~probe.report.load.choose_selection`). With no
    in-domain record but transfer records, the report holds the transfer matrices alone.

    * ``compare="paper"``: the published values beside ours where corpus and backbone names match;
    * ``protocol``, ``classes``, ``preset``: which records (``None`` keeps every value); one configuration per
      (corpus, model, probe), never an average of unlike runs (:func:`~probe.report.load.select_runs`);
    * ``best_probe``: ``backbone`` (one per backbone, the best Table 2 average, as in the paper) or ``corpus``
      (best probe per corpus × backbone cell, selected on test and labelled so);
    * ``best_run_figures``: also the figures of the best run of each (corpus, backbone);
    * ``progress``: called with one line per step.

    Raises :class:`~probe.report.load.ReportError` (:class:`~probe.report.load.NoRecordsError` when there is
    no record at all) and ``ValueError`` for an unknown reference, figure format or ``best_probe``.
    """
    say = progress or (lambda _text: None)
    results = Path(results)
    out = Path(out) if out is not None else results
    formats = parse_formats(formats)
    try:
        found = load_runs(results)
    except NoRecordsError:
        only = _transfer_only(results, out, formats)  # after `probe transfer` alone: its matrices
        if only is None:
            raise
        return only
    selection_notes: list[str] = []
    if given is not None and protocol is not None and classes is not None and preset is not None:
        protocol, classes, preset, chosen = choose_selection(found.runs, protocol, classes, preset, given)
        selection_notes += [chosen] if chosen else []
    runs = select_runs(found.runs, protocol, classes, preset, selection_notes)
    frame = runs_frame(runs)
    summary = ReportSummary(out=out, report=None, n_runs=len(runs), skipped=found.skipped)
    summary.notes += selection_notes
    summary.notes += few_test_speakers(runs)
    if compare and preset != "paper":
        summary.notes.append(f"--compare {compare}: published numbers are shown only beside runs of the paper "
                             f"preset; these runs are preset {preset}, so no published numbers are shown.")
        compare = None
    if found.skipped:
        summary.notes.append(f"{len(found.skipped)} JSON files under {found.root} are not run records and were "
                             f"skipped (first: {found.skipped[0][0]}: {found.skipped[0][1]}).")
    comp = None
    if compare:
        comp = comparison(load_reference(compare), sorted(frame["corpus"].unique()), sorted(frame["model"].unique()))
    backbones, baselines = split_baselines(frame)  # runs on log-mel / eGeMAPS caches: extra columns, not backbones
    probe_table = probe_by_backbone_table(backbones, comp)
    corpus_table = add_baseline_columns(corpus_by_backbone_table(backbones, comp, best_probe), baselines, comp)
    summary.notes += list(dict.fromkeys(probe_table.notes + corpus_table.notes))
    say("speaker-clustered intervals and paired tests of every table cell and comparison")
    uncertainty = apply_intervals(runs, probe_table, corpus_table)
    say(f"{len(runs)} run records; writing tables")
    for table in (probe_table, corpus_table, baseline_table(baselines)):
        summary.tables += table.write(out / "tables") if table is not None else []
    figures = out / "figures"
    say("layer-weight heatmaps")
    weight_files = layer_weight_figures(runs, figures, formats)
    lr_runs = layer_lr_runs(found.runs, runs, protocol, classes, preset)
    lr_files = layer_weight_figures(lr_runs, figures, formats, name="layer_weights_layer_lr",
                                    what=" with --layer-lr") if lr_runs else []
    weight_files += lr_files
    say("layer-wise curves")
    lw_frame = layerwise_frame(runs)
    lw_files = layerwise_figures(runs, figures, formats)
    per_run: list[RunFigures] = []
    if best_run_figures:
        for run in best_runs(runs, corpus_table.data):
            say(f"figures of {run.label}")
            per_run.append(RunFigures(run, run_figures(run, figures, formats)))
            if not run.sidecar.is_file():
                summary.notes.append(f"{run.label}: no embeddings sidecar ({run.sidecar.name}); no embedding map.")
    summary.figures = weight_files + lw_files + [f for item in per_run for f in item.files]
    say("interval bands, error bars and layer-weight spread")
    extra = uncertainty.write_figures(runs, corpus_table, out, formats)
    summary.figures += [f for f in extra if f.suffix != ".csv"]
    summary.tables += [f for f in extra if f.suffix == ".csv"]
    say("transfer matrices")
    transfer = write_transfer(results, out, formats)  # records of `probe transfer`, if any
    summary.tables += transfer.tables
    summary.figures += transfer.figures
    summary.notes += transfer.notes
    board = results / LEADERBOARD_FILE
    content = ReportContent(
        out=out, results=results, runs=runs, frame=frame, probe_table=probe_table, corpus_table=corpus_table,
        tables=summary.tables, layer_weights=layer_weights(runs), layer_weight_files=weight_files,
        layerwise=lw_frame, layerwise_files=lw_files, run_figures=per_run,
        reference=comp.reference.short if comp is not None and comp.shared_corpora else None,
        leaderboard=board if board.is_file() else None, notes=summary.notes, skipped=found.skipped,
        uncertainty=uncertainty.markdown(out),
        layer_lr=layer_lr_section(lr_runs, runs, lr_files, out) if lr_runs else "",
    )
    summary.report = write_markdown(content, out / REPORT_FILE)
    if transfer.markdown:
        with open(summary.report, "a", encoding="utf-8") as handle:
            handle.write("\n" + transfer.markdown)
    return summary


def _transfer_only(results: Path, out: Path, formats: Sequence[str]) -> ReportSummary | None:
    """The report of a results folder holding only `probe transfer` records, or ``None`` when it has none."""
    transfer = write_transfer(results, out, formats)
    if not transfer.markdown:
        return None
    summary = ReportSummary(out=out, report=out / REPORT_FILE, tables=transfer.tables, figures=transfer.figures,
                            n_runs=sum(1 for _ in (results / "transfer").rglob("*.json")))
    summary.notes = [f"no in-domain run records under {results} (`probe run`): the report holds the transfer "
                     "records only", *transfer.notes]
    out.mkdir(parents=True, exist_ok=True)
    summary.report.write_text("# Report\n\n" + "".join(f"> {n}\n" for n in summary.notes[:1]) + "\n"
                              + transfer.markdown, encoding="utf-8")
    return summary


def write_run_report(paths: Sequence[Path], out: Path, formats: Sequence[str] | str = FORMATS) -> ReportSummary:
    """Only the per-run figures of the given record files, under ``out/figures/runs/…``."""
    formats = parse_formats(formats)
    summary = ReportSummary(out=Path(out), report=None)
    for path in paths:
        run = read_run(Path(path))
        summary.figures += run_figures(run, Path(out) / "figures", formats)
        summary.n_runs += 1
        if not run.sidecar.is_file():
            summary.notes.append(f"{path}: no embeddings sidecar ({run.sidecar.name}); no embedding map.")
    return summary
