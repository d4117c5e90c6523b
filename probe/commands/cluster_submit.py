"""Submitting task lists with submitit: a SLURM job array, or submitit's local executor with N workers.

:func:`submit` checks the request against the cluster (:mod:`probe.cluster.sanity`), submits, prints the job ids
and where the logs go, records the submission (:mod:`probe.cluster.jobs`) and, when asked (always for the local
executor, whose tasks run under this process), follows the tasks with a progress bar until they end.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import submitit
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from probe.cluster import jobs
from probe.cluster.settings import DEFAULT_TIME_MIN, SlurmSettings

POLL_ENV = "PROBE_JOBS_POLL_S"


def _poll_s() -> float:
    return float(os.environ.get(POLL_ENV) or 5.0)


def _record(folder: Path, kind: str, executor: str, tasks: Sequence[Any], settings: SlurmSettings,
            extra: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "executor": executor, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "folder": str(folder), "pid": os.getpid(), "settings": settings.as_dict(), **extra,
            "tasks": [{"label": t.label, "job_id": "", "state": "pending"} for t in tasks]}


def submit_slurm(tasks: Sequence[Any], folder: Path, kind: str, settings: SlurmSettings, console: Console,
                 extra: dict[str, Any]) -> dict[str, Any]:
    """Submit ``tasks`` as one SLURM job array (``settings`` already checked with
    :func:`probe.cluster.sanity.check_request`); returns the submission record."""
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=3)
    params: dict[str, Any] = {"job_name": f"probe-{kind}", "time": settings.time_min or DEFAULT_TIME_MIN,
                              "nodes": 1, "ntasks_per_node": 1, "partition": settings.partition}
    for key in ("cpus_per_task", "gpus_per_task", "account", "qos", "array_parallelism"):
        if getattr(settings, key):
            params[key] = getattr(settings, key)
    if settings.mem_mb:
        params["mem"] = f"{settings.mem_mb}M"
    executor.update_parameters(**params)
    submitted = executor.submit_array(list(tasks))
    record = _record(folder, kind, "slurm", tasks, settings, extra)
    for entry, job in zip(record["tasks"], submitted, strict=True):
        entry["job_id"] = job.job_id
    jobs.write_record(folder, record)
    array = submitted[0].job_id.split("_")[0] if submitted else "-"
    console.print(f"submitted {len(submitted)} task(s) as SLURM job array [bold]{array}[/] "
                  f"({escape(settings.describe())})", highlight=False)
    for entry in record["tasks"]:
        console.print(f"  {entry['job_id']}  {escape(entry['label'])}", highlight=False)
    console.print(f"logs: {folder}/<job id>_0_log.out|err; follow with `probe status --jobs-dir "
                  f"{folder.parent}` (add --wait for a progress bar)", highlight=False, soft_wrap=True)
    return record


def _local_workers(settings: SlurmSettings) -> tuple[int, list[list[int]]]:
    """How many tasks run at once here, and the GPUs of each worker slot."""
    gpus = settings.gpus_per_task or 0
    if gpus:
        import torch

        visible = list(range(torch.cuda.device_count()))
        if len(visible) < gpus:
            from probe.cluster.sanity import RequestError

            raise RequestError(f"--gpus-per-task {gpus}: this machine has {len(visible)} GPU(s)")
        slots = [visible[i * gpus:(i + 1) * gpus] for i in range(len(visible) // gpus)]
        workers = min(settings.array_parallelism or len(slots), len(slots))
        return workers, slots[:workers]
    workers = settings.array_parallelism or 1
    return workers, [[] for _ in range(workers)]


def run_local(tasks: Sequence[Any], folder: Path, kind: str, settings: SlurmSettings, console: Console,
              extra: dict[str, Any]) -> dict[str, Any]:
    """Run ``tasks`` with submitit's local executor, at most N at a time (one GPU slot each when GPUs are
    asked for), with a progress bar; returns the final submission record."""
    workers, slots = _local_workers(settings)
    executor = submitit.LocalExecutor(folder=folder, max_num_timeout=3)
    record = _record(folder, kind, "local", tasks, settings, extra)
    jobs.write_record(folder, record)
    console.print(f"running {len(tasks)} task(s) here with {workers} worker(s); logs: {folder}", highlight=False)
    free = list(range(workers))
    running: dict[int, tuple[Any, int]] = {}  # task index -> (job, slot)
    queue = list(range(len(tasks)))
    with _progress(console) as progress:
        bar = progress.add_task(kind, total=len(tasks), status="")
        while queue or running:
            while queue and free:
                index, slot = queue.pop(0), free.pop(0)
                executor.update_parameters(timeout_min=settings.time_min or DEFAULT_TIME_MIN,
                                           gpus_per_node=len(slots[slot]), visible_gpus=tuple(slots[slot]))
                job = executor.submit(tasks[index])
                running[index] = (job, slot)
                record["tasks"][index].update(job_id=job.job_id, state="running")
                jobs.write_record(folder, record)
            for index, (job, slot) in list(running.items()):
                if job.done():
                    states = jobs.task_states(folder, {**record, "tasks": [record["tasks"][index]]})
                    ended = states[0].state if states[0].state in ("done", "failed") else "failed"
                    record["tasks"][index]["state"] = ended
                    del running[index]
                    free.append(slot)
                    jobs.write_record(folder, record)
                    if ended == "failed":
                        console.print(f"[red]failed[/] {escape(tasks[index].label)}: "
                                      f"{escape(states[0].detail)}", highlight=False, soft_wrap=True)
            counts = _counts([t["state"] for t in record["tasks"]])
            progress.update(bar, completed=counts["done"] + counts["failed"], status=_status_text(counts))
            if running:
                time.sleep(min(_poll_s(), 1.0))
    return record


def _counts(states: Sequence[str]) -> dict[str, int]:
    return {s: sum(x == s for x in states) for s in jobs.STATES}


def _status_text(counts: dict[str, int]) -> str:
    return " ".join(f"{k} {v}" for k, v in counts.items())


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[status]}"), console=console, transient=False)


def wait(folder: Path, console: Console, on_end: Callable[[list[jobs.TaskState]], None] | None = None) -> list[jobs.TaskState]:
    """Follow the tasks of a submission until none is pending or running, with a progress bar. Ctrl-C stops
    following and cancels nothing (``probe status --cancel`` does)."""
    record = jobs.read_record(folder)
    states = jobs.task_states(folder, record)
    try:
        with _progress(console) as progress:
            bar = progress.add_task(record["kind"], total=len(states), status="")
            while True:
                counts = _counts([s.state for s in states])
                progress.update(bar, completed=counts["done"] + counts["failed"], status=_status_text(counts))
                if jobs.finished(states):
                    break
                time.sleep(_poll_s())
                states = jobs.task_states(folder, record)
    except KeyboardInterrupt:
        console.print(f"stopped following; the tasks keep running. `probe status --jobs-dir {folder.parent}` "
                      "shows them; add --cancel to cancel them", highlight=False, soft_wrap=True)
        raise
    if on_end is not None:
        on_end(states)
    return states
