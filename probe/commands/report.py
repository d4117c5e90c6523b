"""`probe report`: the paper's tables and figures, and REPORT.md, from the run records (never re-trains).

* ``probe report [--results results] [--out DIR] [--compare paper] [--protocol holdout] [--classes all]
  [--formats png,pdf]``: ``tables/``, ``figures/`` and ``REPORT.md`` under ``--out`` (default: the results
  folder).
* ``probe report --run results/runs/…/seed0.json [--run …]``: only the figures of those runs (confusion matrix,
  per-class F1, ROC, embedding map).

Exit codes: 1 when there is nothing to report (no records, none matching the filters); 2 for a bad option.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from probe.commands.errors import fail, require_folder

if TYPE_CHECKING:
    from probe.report.build import ReportSummary


def _print_summary(console: Console, summary: ReportSummary) -> None:
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    records = f"{summary.n_runs} run record{'s' if summary.n_runs != 1 else ''}"
    if summary.report is None:
        console.print(f"{records} → {len(summary.figures)} figure files:", highlight=False)
        for path in summary.figures:
            console.print(escape(str(path)), highlight=False, soft_wrap=True)
        return
    console.print(
        f"{records} → {len(summary.tables)} table files, {len(summary.figures)} figure files under "
        f"{escape(str(summary.out))}",
        highlight=False, soft_wrap=True,
    )
    console.print(f"[bold]{escape(str(summary.report))}[/]", highlight=False, soft_wrap=True)


def report(
    results: Path = typer.Option(
        Path("results"), "--results", help="Results folder holding runs/ (from `probe run`)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Where to write tables/, figures/ and REPORT.md. Default: --results."
    ),
    compare: str | None = typer.Option(
        None, "--compare", help="Print published values beside ours: `paper` (D'Asaro et al., CLiC-it 2024)."
    ),
    protocol: str | None = typer.Option(None, "--protocol", help="Records of this protocol: holdout or kfold "
                                        "[default: holdout, else the one the records have].", show_default=False),
    classes: str | None = typer.Option(None, "--classes", help="Records of this class set: all, 4 or a+b+c "
                                       "[default: all, else the one the records have].", show_default=False),
    preset: str | None = typer.Option(
        None, "--preset", help="Records of this training preset: paper or standardized [default: paper, else the "
        "one the records have]. Tables use one configuration per cell and never average unlike runs; --compare "
        "paper needs the paper preset.", show_default=False,
    ),
    formats: str = typer.Option("png,pdf", "--formats", help="Figure formats, comma-separated."),
    best_probe: str = typer.Option(
        "backbone", "--best-probe",
        help="Corpus × backbone table: one probe per backbone, the best Table 2 average, as in the paper "
        "(`backbone`), or the best probe per cell (`corpus`; selected on test, labelled so).",
    ),
    run_figures: bool = typer.Option(
        True, "--run-figures/--no-run-figures", help="Figures of the best run of each corpus and backbone."
    ),
    run: list[Path] | None = typer.Option(
        None, "--run", help="Only the figures of this run record (repeatable); no tables, no REPORT.md."
    ),
) -> None:
    """Write the tables (CSV, Markdown, LaTeX), figures (PNG, PDF) and REPORT.md from the run records."""
    from probe.report.build import write_report, write_run_report  # loaded when the command runs, not on --help
    from probe.report.load import ReportError
    from probe.report.tables import BEST_PROBE

    console = Console()
    if best_probe not in BEST_PROBE:
        fail(f"--best-probe must be one of {', '.join(BEST_PROBE)}, got {best_probe!r}", 2)
    if out is not None or results.is_dir():  # a missing --results is reported as such below, not created here
        require_folder(out if out is not None else results, "--out", "the report")
    try:
        if run:
            missing = [p for p in run if not p.is_file()]
            if missing:
                fail(f"no run record at {missing[0]}", 1)
            summary = write_run_report(run, out if out is not None else results, formats)
        else:
            with console.status("writing the report…") as status:
                given = [n for n, v in (("protocol", protocol), ("classes", classes), ("preset", preset)) if v]
                summary = write_report(
                    results, out, compare, given=given,
                    protocol=protocol or "holdout", classes=classes or "all", preset=preset or "paper",
                    formats=formats, best_probe=best_probe, best_run_figures=run_figures,
                    progress=lambda text: status.update(f"report: {escape(text)}"),
                )
    except ReportError as exc:
        fail(str(exc), 1)
    except ValueError as exc:
        fail(str(exc), 2)
    _print_summary(console, summary)


def register(app: typer.Typer) -> None:
    """Add `probe report` to the `probe` app."""
    app.command("report")(report)
