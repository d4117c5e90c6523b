"""``probe transfer``: train on some corpora (or languages), test on others, as a matrix (:mod:`probe.run.transfer`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from probe.commands.cluster_options import ClusterRequest, cluster_options
from probe.commands.errors import fail
from probe.commands.run import BarProgress, split_values, table_console
from probe.commands.train_options import TrainingRequest, training_options

if TYPE_CHECKING:
    from probe.run.spec import CacheIssue, RunOutcome, RunSpec


class TransferProgress(BarProgress):
    """A :class:`probe.run.spec.RunListener` for the console: notes, the plan (once per model), a progress bar over
    the records to train with the last cell's macro-F1."""

    def __init__(self, console: Console) -> None:
        super().__init__(console, "transfer")

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue], notes: Sequence[str] = ()) -> None:
        for note in notes:
            self.console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True, highlight=False)
        self.console.print(f"{total} transfer record(s) planned: {pending} to train, {total - pending} already "
                           "recorded", highlight=False)
        self.progress.update(self.task, total=(self.progress.tasks[0].total or 0) + pending)
        if pending:
            self.progress.start()

    def started(self, spec: RunSpec) -> None:
        self.now(spec.label)

    def finished(self, outcome: RunOutcome) -> None:
        self.done(outcome.status, outcome.spec.label, outcome.message, outcome.macro_f1)


def transfer_command(
    model: Annotated[list[str] | None, typer.Option("--model", help="Model whose caches to use (repeat or "
                                                    "comma-separate); each model is run on its own caches.")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Every model with caches under --features.")] = False,
    protocol: Annotated[str, typer.Option("--protocol", help="pair (train on A, test on B; A = B is the "
                                          "in-domain diagonal), leave-one-language-out, multilingual (train on "
                                          "every domain's training speakers) or sequential (train on A, then on "
                                          "B; test on B).")] = "pair",
    train: Annotated[list[str] | None, typer.Option("--train", help="Training domains (corpora, or "
                                                    "<corpus>-<lang> with --group-by language); default all.")] = None,
    test: Annotated[list[str] | None, typer.Option("--test", help="Test domains; default all.")] = None,
    group_by: Annotated[str, typer.Option("--group-by", help="corpus (each cache is a domain) or language (each "
                                          "language of a cache is one, e.g. the demo corpus's eight).")] = "corpus",
    regional: Annotated[bool, typer.Option("--regional", help="Keep regional variants apart from their language "
                                           "(CaFE's fr-CA is not French); recorded.")] = False,
    corpus: Annotated[list[str] | None, typer.Option("--corpus", help="Only these corpora's caches (repeat or "
                                                     "comma-separate); default every corpus of the model.")] = None,
    features: Annotated[Path, typer.Option("--features", help="Folder of caches <corpus>/<model>.h5.")] = Path("features"),
    results: Annotated[Path, typer.Option("--results", help="Records go under <results>/transfer/runs.")] = Path("results"),
    probes: Annotated[str, typer.Option("--probes", help="Comma-separated probes: linear, nonlinear, multilayer, "
                                        "attention.")] = "linear,nonlinear,multilayer",
    seeds: Annotated[str, typer.Option("--seeds", help="A count (3 → 0,1,2) or a list (0,1,2).")] = "3",
    classes: Annotated[str, typer.Option("--classes", help="Wanted classes (4: anger, happiness, neutral, "
                                         "sadness; all; or a list); each cell uses those its domains share.")] = "4",
    training: TrainingRequest | None = None,
    force: Annotated[bool, typer.Option("--force", help="Retrain cells that are already recorded.")] = False,
    cluster: ClusterRequest | None = None,
) -> None:
    """Cross-corpus / cross-lingual transfer: train probes on some domains' training speakers, test on other
    domains' test speakers, over the classes they share; one record per cell under <results>/transfer/runs.

    Cells already recorded with the same configuration hash are skipped (--force redoes them). `probe report`
    turns the records into matrices.
    """
    from probe.commands.errors import require_folder
    from probe.run.selection import NoCachesError, RunSelection
    from probe.run.spec import RunJob, TransferSetup
    from probe.run.transfer import TransferError
    from probe.run.transfer_run import run_transfer

    training = training or TrainingRequest()
    models = split_values(model)
    if all_models == bool(models):
        fail("name the models with --model, or use --all for every model (not both)")
    try:
        config = training.train_config()
    except ValueError as exc:
        fail(str(exc))
    require_folder(results, "--results", "transfer records")
    # every setting of the cells, written once: the inline run and each cluster task get the same job (threads:
    # config.cpu_threads)
    job = RunJob(features=features, results=results, seeds=seeds, classes=classes, config=config,
                 memory_budget=training.memory_budget, force=force,
                 transfer=TransferSetup(protocol=protocol, train=split_values(train), test=split_values(test),
                                        group_by=group_by, regional=regional))
    selection = RunSelection(corpora=split_values(corpus), models=models, probes=probes)
    if cluster and cluster.submit_transfer(job, selection):
        return  # submitted as one task per (model, probe): --executor local|slurm
    console = table_console()
    listener = TransferProgress(console)
    try:
        summary = run_transfer(job, selection, listener)
    except (NoCachesError, TransferError, ValueError) as exc:
        fail(str(exc))
    finally:
        listener.close()
    trained, skipped, failed = (summary.count(s) for s in ("trained", "skipped", "failed"))
    console.print(f"transfer ({protocol}): trained {trained}, already recorded {skipped}, failed {failed} in "
                  f"{summary.seconds:.0f} s; records under {results / 'transfer' / 'runs'}", highlight=False)
    for line in summary.throughput_lines():
        console.print(f"  {line}", highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``probe transfer`` to the app."""
    app.command("transfer")(cluster_options(training_options(transfer_command)))
