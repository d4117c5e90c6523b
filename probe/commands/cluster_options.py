"""The ``--executor`` and SLURM options shared by ``probe extract`` and ``probe run``.

:func:`cluster_options` adds the options to a typer command and hands the command one ``cluster`` argument (a
:class:`ClusterRequest`, or ``None`` when the command is called from Python). The command calls
:meth:`ClusterRequest.submit_extract` or :meth:`ClusterRequest.submit_runs` once it knows its work; they return
False for the default in-process executor, so the command goes on as before.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from extract.job import ExtractJob
    from probe.run.selection import RunSelection
    from probe.run.spec import RunJob

EXECUTORS: tuple[str, ...] = ("inline", "local", "slurm")
PANEL = "Cluster (submitit)"


def _opt(*names: str, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors typer's keyword
    return typer.Option(*names, help=help, rich_help_panel=PANEL, **kw)


_OPTIONS: list[inspect.Parameter] = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, annotation, default in [
        ("executor", Annotated[str, _opt("--executor", help="inline (default: here, in this process), local "
                                         "(submitit's local executor: tasks as separate processes, "
                                         "--array-parallelism at a time, one GPU slot each with --gpus-per-task) "
                                         "or slurm (one SLURM job array).")], "inline"),
        ("partition", Annotated[Optional[str], _opt("--partition", help="SLURM partition (default: the site default, "
                                                    "else the cluster's default partition).")], None),
        ("gpus_per_task", Annotated[Optional[int], _opt("--gpus-per-task", min=0, help="GPUs per task.")], None),
        ("cpus_per_task", Annotated[Optional[int], _opt("--cpus-per-task", min=1, help="CPUs per task.")], None),
        ("mem", Annotated[Optional[str], _opt("--mem", help="Memory per task: 16G, 16000M or 16000 (MB).")], None),
        ("time", Annotated[Optional[str], _opt("--time", help="Time limit per task: minutes, HH:MM:SS or "
                                               "D-HH:MM:SS (default 24:00:00). Preempted or timed-out tasks requeue "
                                               "(up to 3 times) and resume.")], None),
        ("array_parallelism", Annotated[Optional[int], _opt("--array-parallelism", min=1, help="Tasks running at "
                                                            "once (SLURM: the array's %N; local: workers, default "
                                                            "1, or one per GPU slot).")], None),
        ("account", Annotated[Optional[str], _opt("--account", help="SLURM account to charge.")], None),
        ("qos", Annotated[Optional[str], _opt("--qos", help="SLURM quality of service.")], None),
        ("slurm_config", Annotated[Optional[Path], _opt("--slurm-config", help="TOML file of site defaults "
                                                        "(keys as the options above, snake_case; default: "
                                                        "$PROBE_SLURM_CONFIG, else ./probe-slurm.toml, else the "
                                                        "slurm table of probe-data.toml).")], None),
        ("jobs_dir", Annotated[Optional[Path], _opt("--jobs-dir", help="Where submissions keep their logs and "
                                                    "state (read by `probe status`) (default: $PROBE_JOBS_DIR, "
                                                    "else ./probe-jobs).")], None),
        ("wait", Annotated[bool, _opt("--wait", help="SLURM: follow the tasks with a progress bar until they end "
                                      "(Ctrl-C stops following and cancels nothing). The local executor always "
                                      "waits.")], False),
    ]
]


@dataclass
class ClusterRequest:
    """The cluster options of one command invocation."""

    executor: str = "inline"
    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    time: str | None = None
    array_parallelism: int | None = None
    account: str | None = None
    qos: str | None = None
    slurm_config: Path | None = None
    jobs_dir: Path | None = None
    wait: bool = False

    def _submit(self, kind: str, make_tasks: Callable[[], list[Any]], data_config: Path | None,
                extra: dict[str, Any], on_end: Callable[[list[Any]], None] | None = None) -> bool:
        if self.executor == "inline":
            return False
        if self.executor not in EXECUTORS:
            raise typer.BadParameter(f"must be one of {', '.join(EXECUTORS)}", param_hint="--executor")
        from probe.cluster import jobs
        from probe.cluster.sanity import RequestError, check_request
        from probe.cluster.settings import SettingsError, site_defaults
        from probe.commands.cluster_submit import run_local, submit_slurm, wait
        from submitit.core.utils import FailedJobError, FailedSubmissionError

        console = Console(stderr=True, soft_wrap=True)
        try:
            defaults, source = site_defaults(self.slurm_config, data_config)
            settings = defaults.merged(partition=self.partition, gpus_per_task=self.gpus_per_task,
                                       cpus_per_task=self.cpus_per_task, mem=self.mem, time=self.time,
                                       array_parallelism=self.array_parallelism, account=self.account, qos=self.qos)
            tasks = make_tasks()
            if not tasks:
                console.print("nothing to submit")
                if on_end is not None:
                    on_end([])
                return True
            if source is not None:
                console.print(f"site defaults from {source}", highlight=False)
            if self.executor == "slurm":  # before anything is written: a request no node can satisfy
                settings = settings.merged(partition=check_request(settings))
            folder = jobs.new_submission_folder(jobs.jobs_dir(self.jobs_dir), kind)
            if self.executor == "local":
                run_local(tasks, folder, kind, settings, console, extra)
            else:
                submit_slurm(tasks, folder, kind, settings, console, extra)
                if not self.wait:
                    return True
                wait(folder, console)
        except (SettingsError, RequestError) as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except (FailedJobError, FailedSubmissionError) as exc:  # sbatch said no (account, qos, ...)
            console.print(f"[bold red]error:[/] submission refused: {escape(str(exc).strip())}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        states = jobs.task_states(folder)
        if on_end is not None:
            on_end(states)
        if report_states(states, console):
            raise typer.Exit(1)
        return True

    def submit_extract(self, model: str, roots: dict[str, Path], out: Path, data_config: Path | None,
                       job: ExtractJob) -> bool:
        """Submit one extraction task per (model, corpus), each carrying ``job`` (every option of the command);
        ``model`` may be a comma list. False: run inline."""
        from probe.cluster.tasks import extract_tasks

        models = [m.strip() for m in model.split(",") if m.strip()]
        if self.executor != "inline":
            from extract.backbones import get_spec

            for name in (m for m in models if "/" not in m):  # hub ids are resolved on the nodes
                try:
                    get_spec(name)
                except KeyError as exc:
                    raise typer.BadParameter(str(exc).strip("'\""), param_hint="--model") from None
        return self._submit("extract", lambda: extract_tasks(models, roots, out, job), data_config,
                            {"out": str(Path(out).resolve())})

    def submit_runs(self, job: RunJob, selection: RunSelection, wait_lock: bool = False) -> bool:
        """Submit one probe task per (cache, probe group) of ``selection``, each carrying ``job``; the leaderboard
        is rebuilt here once they end, under the results folder's lock as ``probe run`` inline (``wait_lock``:
        wait for another holder instead of exiting)."""
        from probe.cluster.tasks import probe_tasks
        from probe.run.selection import NoCachesError

        def make() -> list[Any]:
            try:
                tasks, recorded, problems = probe_tasks(job, selection)
            except (NoCachesError, ValueError) as exc:
                Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
                raise typer.Exit(2) from None
            console = Console(stderr=True, soft_wrap=True)
            for problem in problems:  # as `probe run` does: the other caches still run
                console.print(f"[yellow]skipped[/] {escape(problem)}", highlight=False)
            if recorded:
                console.print(f"{recorded} task(s) already recorded in full: not submitted", highlight=False)
            if problems and not tasks and not recorded:
                raise typer.Exit(1)  # nothing can run
            return tasks

        return self._submit("run", make, None, {"results": str(Path(job.results).resolve())},
                            on_end=lambda states: rebuild_leaderboard(Path(job.results), wait_lock))

    def submit_transfer(self, job: RunJob, selection: RunSelection) -> bool:
        """Submit one ``probe transfer`` task per (model, probe) of ``selection``, each carrying ``job``. False: run
        inline."""
        from probe.cluster.tasks import transfer_tasks
        from probe.run.selection import NoCachesError

        def make() -> list[Any]:
            try:
                return transfer_tasks(job, selection)
            except (NoCachesError, ValueError) as exc:
                Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
                raise typer.Exit(2) from None

        return self._submit("transfer", make, None, {"results": str(Path(job.results).resolve())})


def rebuild_leaderboard(results: Path, wait_lock: bool = False) -> Path | None:
    """Rebuild ``<results>/leaderboard.csv`` from the records (once, after the tasks) under the results folder's
    lock, waiting for another holder when ``wait_lock`` (else exit 1 naming it); its path, or None."""
    import logging

    from extract.guards import FolderError
    from extract.locks import LockBusy, exclusive_lock
    from probe.results.leaderboard import write_leaderboard

    if not (Path(results) / "runs").is_dir():
        return None
    try:
        with exclusive_lock(results, folder=True, what=f"results folder {results}", wait=wait_lock,
                            log=logging.getLogger(__name__).warning):
            path = write_leaderboard(results)[0]
    except (LockBusy, FolderError) as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    Console(stderr=True).print(f"leaderboard: {path}", highlight=False)
    return path


def report_states(states: list[Any], console: Console) -> int:
    """Print the failed tasks with their log tails; the number of failed tasks."""
    failed = [s for s in states if s.state == "failed"]
    done = sum(s.state == "done" for s in states)
    console.print(f"{done} of {len(states)} task(s) done, {len(failed)} failed", highlight=False)
    for state in failed:
        console.print(f"[red]failed[/] {state.job_id} {escape(state.label)}: {escape(state.detail)}",
                      highlight=False)
        if state.tail:
            console.print(escape(state.tail), highlight=False, markup=True)
    return len(failed)


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the cluster options to a typer command whose last parameter is ``cluster: ClusterRequest | None``."""
    signature = inspect.signature(func, eval_str=True)
    params = [p for p in signature.parameters.values() if p.name != "cluster"]
    new = signature.replace(parameters=params + _OPTIONS)

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        request = ClusterRequest(**{p.name: kwargs.pop(p.name, p.default) for p in _OPTIONS})
        return func(**kwargs, cluster=request)

    command.__signature__ = new  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in new.parameters.values()}
    return command
