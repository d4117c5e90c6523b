"""`probe run` (train probes on feature caches, write records and the leaderboard) and `probe leaderboard`.

User errors (no caches, a bad option value) exit with code 2 and a one-line message; runs that failed make the
command exit with code 1 after everything else has run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from probe.commands.cluster_options import ClusterRequest, cluster_options
from probe.commands.errors import fail
from probe.commands.terminal_tables import LEADERBOARD_DROP, print_fitted
from probe.commands.train_options import TrainingRequest, training_options

if TYPE_CHECKING:
    from probe.run.spec import CacheIssue, RunOutcome, RunSpec



def table_console() -> Console:
    """A console for tables: the terminal's width, or into a file or pipe $COLUMNS when set, else 160 columns."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(width=max(console.width, 160))


def split_values(values: list[str] | None) -> list[str] | None:
    """``--corpus a --corpus b,c`` → ``[a, b, c]``; ``None`` when not given."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


class BarProgress:
    """A rich progress bar over the trainings still to do, with a live line of the last result; the console
    listeners of `probe run` and `probe transfer` build on it. Call :meth:`close` at the end."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[last]}"), console=console, transient=False,
        )
        self.task = self.progress.add_task(title, total=None, last="")

    def now(self, label: str) -> None:
        """Show what trains now."""
        self.progress.update(self.task, last=f"now {escape(label)}")

    def done(self, status: str, label: str, message: str, macro_f1: float, detail: str = "") -> None:
        """Advance the bar for a trained or failed item (a failure is also printed); skipped ones do not count."""
        if status == "skipped":
            return
        if status == "failed":
            self.console.print(f"[red]failed[/] {escape(label)}: {escape(message)}", soft_wrap=True, highlight=False)
            last = f"[red]{escape(label)} failed"
        else:
            last = f"{escape(label)}: macro-F1 {macro_f1:.1f}{detail}"
        self.progress.update(self.task, advance=1, last=last)

    def close(self) -> None:
        self.progress.stop()


class ProgressListener(BarProgress):
    """A :class:`probe.run.spec.RunListener` for the console: skipped caches, the plan, then a progress bar over the
    runs to train with a live line of the last result. Call :meth:`close` at the end."""

    def __init__(self, console: Console) -> None:
        super().__init__(console, "training")

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue], notes: Sequence[str] = ()) -> None:
        """The caches left out and the plan (``probe run`` prints its notes with the summary, at the end)."""
        for issue in issues:
            self.console.print(f"[yellow]skipped[/] {escape(str(issue.path))}: {escape(issue.reason)}",
                               soft_wrap=True, highlight=False)
        done = total - pending
        self.console.print(f"{total} run(s) planned: {pending} to train, {done} already recorded", highlight=False)
        self.progress.update(self.task, total=pending)
        if pending:
            self.progress.start()

    def started(self, spec: RunSpec) -> None:
        self.now(spec.label)

    def finished(self, outcome: RunOutcome) -> None:
        self.done(outcome.status, outcome.spec.label, outcome.message, outcome.macro_f1,
                  f" ({outcome.seconds:.0f} s)")


def run_command(
    all_caches: Annotated[bool, typer.Option("--all", help="Every complete cache under --features.")] = False,
    features: Annotated[Path, typer.Option("--features", help="Folder of caches <corpus>/<model>.h5.")] = Path("features"),
    results: Annotated[Path, typer.Option("--results", help="Where records and the leaderboard go.")] = Path("results"),
    corpus: Annotated[list[str] | None, typer.Option("--corpus", help="Corpus to run (repeat or comma-separate).")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Model to run (repeat or comma-separate).")] = None,
    probes: Annotated[str, typer.Option("--probes", help="Comma-separated probes, or 'all' "
                                        "(linear, nonlinear, multilayer, attention, layerwise). Baselines on "
                                        "log-mel / eGeMAPS caches: ast, ast-small, cnn (trained from scratch), "
                                        "logreg, svm (scikit-learn).")]
    = "linear,nonlinear,multilayer",
    seeds: Annotated[str, typer.Option("--seeds", help="A count (3 → 0,1,2) or a list (0,1,2).")] = "3",
    protocol: Annotated[str, typer.Option("--protocol", help="holdout (80/10/10 by speakers, the paper's), kfold, "
                                          "or auto: kfold (leave-one-speaker-out, every speaker tested) for "
                                          "corpora of at most 12 speakers, holdout above.")] = "holdout",
    folds: Annotated[int | None, typer.Option("--folds", help="k for kfold (default: leave-one-speaker-out "
                                              "up to 12 speakers, else 5).")] = None,
    classes: Annotated[str, typer.Option("--classes", help="all, 4 (anger, happiness, neutral, sadness) or "
                                         "a comma-separated list.")] = "all",
    split_seed: Annotated[int | None, typer.Option("--split-seed", help="Use this split for every seed "
                                                   "(default: each seed draws its own split).")] = None,
    training: TrainingRequest | None = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain runs that are already recorded.")] = False,
    wait_lock: Annotated[bool, typer.Option("--wait-lock", help="When another `probe run` is writing the same "
                                            "--results folder, wait for it instead of exiting at once.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Train this many caches at once, one worker process "
                                      "each (training is single-threaded by default, so use the other cores this "
                                      "way: same records, sooner).")] = 1,
    cluster: ClusterRequest | None = None,
) -> None:
    """Train probes on the feature caches (cache × probe × seed), one record per run; rebuild the leaderboard.

    Runs already recorded with the same configuration hash are skipped (--force redoes them).
    """
    from extract.guards import FolderError
    from extract.locks import LockBusy
    from probe.commands.errors import require_folder
    from probe.commands.leaderboard_table import leaderboard_table
    from probe.results.leaderboard import filter_leaderboard, split_warnings
    from probe.results.leaderboard import LeaderboardError
    from probe.run.runner import run_all
    from probe.run.selection import NoCachesError, RunSelection
    from probe.run.spec import RunJob
    from probe.train.config import resolve_device
    from probe.train.presets import preset_label

    training = training or TrainingRequest()
    corpora, models = split_values(corpus), split_values(model)
    if all_caches and (corpora or models):
        fail("use either --all or --corpus/--model, not both")
    try:
        config = training.train_config()
    except ValueError as exc:
        fail(str(exc))
    require_folder(results, "--results", "run records")
    job = RunJob(features=features, results=results, seeds=seeds, protocol=protocol, folds=folds, classes=classes,
                 config=config, split_seed=split_seed, memory_budget=training.memory_budget,
                 force=force)  # threads: config.cpu_threads
    selection = RunSelection(corpora=corpora, models=models, probes=probes)
    if cluster and cluster.executor != "inline" and jobs > 1:
        fail("--jobs trains caches at once in this process; with --executor each cache is a task of its own: "
              "use --array-parallelism for how many run at once")
    if cluster and cluster.submit_runs(job, selection, wait_lock=wait_lock):
        return  # submitted as one task per (cache, probe group): --executor local|slurm
    console = table_console()
    listener = ProgressListener(console)
    try:
        summary = run_all(job, selection, listener, wait_lock=wait_lock, jobs=jobs)
    except NoCachesError as exc:
        fail(str(exc))
    except (LockBusy, LeaderboardError, FolderError) as exc:
        fail(str(exc), code=1)
    except ValueError as exc:
        fail(str(exc))
    finally:
        listener.close()
    trained, skipped, failed = summary.count("trained"), summary.count("skipped"), summary.count("failed")
    conflicts = summary.count("conflict")
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    for outcome in (o for o in summary.outcomes if o.status == "conflict"):
        console.print(f"[yellow]kept[/] {escape(outcome.spec.label)}: {escape(outcome.message)}", highlight=False,
                      soft_wrap=True)
    console.print(f"preset {preset_label(config.preset, config.overrides)}: trained {trained}, already recorded "
                  f"{skipped}, kept (other split or cache) {conflicts}, failed {failed} in {summary.seconds:.0f} s "
                  f"on {resolve_device(training.device)}", highlight=False)
    for line in summary.throughput_lines():
        console.print(f"  {escape(line)}", highlight=False)
    if summary.leaderboard is not None:
        from probe.results.leaderboard import load_leaderboard

        board = filter_leaderboard(load_leaderboard(results, rebuild=False), corpora, models)
        if not board.empty:
            print_fitted(console, leaderboard_table(board), LEADERBOARD_DROP,
                         f"`probe leaderboard --results {results} --wide` shows every column")
        for line in split_warnings(board):
            console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
        console.print(f"leaderboard: {summary.leaderboard}", highlight=False)
    if summary.issues:
        console.print(f"[yellow]{len(summary.issues)} cache(s) skipped[/] (see above)", highlight=False)
    if failed:
        raise typer.Exit(1)
    if trained + skipped + conflicts == 0:
        fail("nothing could be trained: every selected cache was skipped (reasons above)", code=1)


def leaderboard_command(
    results: Annotated[Path, typer.Option("--results", help="Folder with runs/ and leaderboard.csv.")] = Path("results"),
    sort: Annotated[str | None, typer.Option("--sort", help="Column to sort by, e.g. macro_f1_mean "
                                             "(numbers descending).")] = None,
    corpus: Annotated[list[str] | None, typer.Option("--corpus", help="Only these corpora.")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help="Only these models.")] = None,
    probe: Annotated[list[str] | None, typer.Option("--probe", help="Only these probes.")] = None,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, however narrow the terminal (by default "
                                       "columns are left out, and named, until the table fits).")] = False,
    csv: Annotated[bool, typer.Option("--csv", help="Print the rows as CSV, every column.")] = False,
) -> None:
    """Print the leaderboard (rebuilt from the run records) as a table."""
    from probe.commands.leaderboard_table import leaderboard_table
    from probe.results.leaderboard import LeaderboardError, filter_leaderboard, load_leaderboard, sort_leaderboard

    try:
        board = load_leaderboard(results)
        board = filter_leaderboard(board, split_values(corpus), split_values(model), split_values(probe))
        if board.empty:
            raise LeaderboardError("no leaderboard row matches the filters")
        board = sort_leaderboard(board, sort)
    except LeaderboardError as exc:
        fail(str(exc))
    if csv:
        typer.echo(board.to_csv(index=False), nl=False)
        return
    console = table_console()
    print_fitted(console, leaderboard_table(board), LEADERBOARD_DROP, "--wide shows every column, --csv prints them "
                 "as CSV", wide=wide)
    console.print(f"{len(board)} row(s) from {Path(results) / 'leaderboard.csv'}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add `probe run` and `probe leaderboard` to the `probe` app."""
    app.command("run")(cluster_options(training_options(run_command)))
    app.command("leaderboard")(leaderboard_command)
