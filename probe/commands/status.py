"""``probe status``: the tasks of submissions made with ``--executor slurm|local`` and what became of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

_STYLE = {"done": "green", "running": "cyan", "pending": "yellow", "failed": "red"}


def _table(record: dict, states: list, console_width: int) -> Table:
    table = Table(title=f"{record['kind']} · {record['executor']} · {record['created']} · {record['folder']}",
                  title_justify="left", width=min(console_width, 160))
    table.add_column("job id", no_wrap=True)
    table.add_column("task")
    table.add_column("state", no_wrap=True)
    table.add_column("detail")
    for state in states:
        style = _STYLE.get(state.state, "")
        table.add_row(state.job_id or "-", escape(state.label), f"[{style}]{state.state}[/]", escape(state.detail))
    return table


def status_command(
    jobs_dir: Annotated[Optional[Path], typer.Option("--jobs-dir", help="Folder of submissions (as given to "
                                                     "--jobs-dir when submitting) (default: $PROBE_JOBS_DIR, "
                                                     "else ./probe-jobs).")] = None,
    all_submissions: Annotated[bool, typer.Option("--all", help="Every submission, not only the latest.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the latest submission with a progress bar until "
                                       "its tasks end (Ctrl-C stops following, cancels nothing); for a probe "
                                       "run, then rebuild the leaderboard.")] = False,
    cancel: Annotated[bool, typer.Option("--cancel", help="Cancel the pending and running tasks of the latest "
                                         "SLURM submission.")] = False,
    lines: Annotated[int, typer.Option("--lines", min=0, help="Log lines shown per failed task.")] = 8,
) -> None:
    """List each task of the latest submission: done, running, pending or failed (with the end of its log).

    Exit code 1 when a task failed. Resubmitting the same command redoes only what is missing: caches already
    complete and runs already recorded are skipped.
    """
    from probe.cluster import jobs
    from probe.commands.cluster_options import rebuild_leaderboard, report_states
    from probe.commands.cluster_submit import wait as follow

    root = jobs.jobs_dir(jobs_dir)
    found = jobs.submissions(root)
    console = Console(stderr=False, soft_wrap=True)
    if not found:
        Console(stderr=True).print(f"[bold red]error:[/] no submission under {escape(str(root.resolve()))} "
                                   "(submit with `probe extract|run --executor slurm`; see --jobs-dir)")
        raise typer.Exit(2)
    latest = found[-1]
    if cancel:
        ids = jobs.cancel(latest, jobs.task_states(latest))
        console.print(f"cancelled {len(ids)} task(s): {' '.join(ids)}" if ids else "nothing to cancel",
                      highlight=False)
    if wait:
        try:
            states = follow(latest, Console(stderr=True))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        record = jobs.read_record(latest)
        if record["kind"] == "run" and record.get("results"):
            rebuild_leaderboard(Path(record["results"]))
    failed = 0
    for folder in found if all_submissions else [latest]:
        record = jobs.read_record(folder)
        states = jobs.task_states(folder, record, lines)
        console.print(_table(record, states, console.width))
        failed = report_states(states, console)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``probe status`` to the app."""
    app.command("status")(status_command)
