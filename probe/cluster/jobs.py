"""Submissions on disk and the state of their tasks (what ``probe status`` shows).

A submission is a folder ``<jobs-dir>/<kind>-<time>/``: submitit's pickles and logs (``<job id>_0_log.out`` and
``.err``) and ``submission.json`` (the kind, the executor, each task's label and job id, where results go). A
task's state comes from, in order: its result pickle (``done`` or ``failed`` with submitit's traceback), the
scheduler (SLURM: ``squeue`` for live jobs, ``sacct`` for finished ones), or, for the local executor, the
state the submitting process recorded.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submitit.core.utils import JobPaths

JOBS_ENV = "PROBE_JOBS_DIR"
DEFAULT_JOBS_DIR = Path("probe-jobs")
RECORD_NAME = "submission.json"
STATES: tuple[str, ...] = ("done", "running", "pending", "failed")

_SLURM_RUNNING = {"RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING", "SIGNALING", "STAGE_OUT",
                  "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED"}
_SLURM_PENDING = {"PENDING"}


def jobs_dir(path: Path | None = None) -> Path:
    """``path``, else ``$PROBE_JOBS_DIR``, else ``./probe-jobs``."""
    return Path(path) if path is not None else Path(os.environ.get(JOBS_ENV) or DEFAULT_JOBS_DIR)


def new_submission_folder(root: Path, kind: str) -> Path:
    """A fresh ``<root>/<kind>-<YYYYmmdd-HHMMSS>[-n]`` folder."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        folder = Path(root) / (f"{kind}-{stamp}" + (f"-{n}" if n else ""))
        try:
            folder.mkdir(parents=True)
            return folder.resolve()
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot make a new submission folder under {root}")


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """Write ``submission.json`` atomically."""
    tmp = folder / (RECORD_NAME + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str))
    tmp.replace(folder / RECORD_NAME)


def read_record(folder: Path) -> dict[str, Any]:
    """``submission.json`` of a submission folder."""
    return json.loads((Path(folder) / RECORD_NAME).read_text())


def submissions(root: Path) -> list[Path]:
    """Submission folders under ``root``, oldest first."""
    if not Path(root).is_dir():
        return []
    found = [p.parent for p in Path(root).glob(f"*/{RECORD_NAME}")]
    return sorted(found, key=lambda p: (read_record(p).get("created", ""), p.name))


@dataclass
class TaskState:
    """One task: its label, job id, state (one of :data:`STATES`), the scheduler's word and, when it failed,
    the reason and the last lines of its log."""

    label: str
    job_id: str
    state: str
    detail: str = ""
    log: Path | None = None
    tail: str = ""


def log_tail(path: Path | None, lines: int = 8) -> str:
    """The last ``lines`` non-empty lines of a log file ('' when absent)."""
    if path is None or not path.is_file():
        return ""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 16384))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def _result(folder: Path, job_id: str) -> tuple[str, Any] | None:
    path = JobPaths(folder, job_id=job_id, task_id=0).result_pickle
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None  # being written


def _expand(job_id: str) -> list[str]:
    """``12_[3-5,7%2]`` → ``12_3 12_4 12_5 12_7``; other ids unchanged."""
    if "_[" not in job_id:
        return [job_id]
    base, spec = job_id.split("_[", 1)
    ids = []
    for part in spec.rstrip("]").split("%")[0].split(","):
        lo, _, hi = part.partition("-")
        ids += [f"{base}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return ids


def slurm_states(job_ids: list[str]) -> dict[str, str]:
    """SLURM state per array task id (``squeue`` for live tasks, else ``sacct``)."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    states: dict[str, str] = {}
    if not arrays or shutil.which("sacct") is None:
        return states
    acct = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "JobID,State", "-j", ",".join(arrays)],
                          capture_output=True, text=True, timeout=60, check=False)
    for line in acct.stdout.splitlines():
        jid, _, state = line.partition("|")
        for one in _expand(jid.strip()):
            states[one] = state.split()[0] if state.strip() else "UNKNOWN"
    live = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-j", ",".join(arrays)], capture_output=True,
                          text=True, timeout=60, check=False)
    for line in live.stdout.splitlines():
        jid, _, state = line.partition("|")
        states[jid.strip()] = state.strip()
    return states


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, PermissionError, ValueError):
        return False
    return True


def task_states(folder: Path, record: dict[str, Any] | None = None, lines: int = 8) -> list[TaskState]:
    """The state of every task of the submission in ``folder``."""
    folder = Path(folder)
    record = record or read_record(folder)
    tasks = record["tasks"]
    scheduler = slurm_states([t["job_id"] for t in tasks if t.get("job_id")]) if record["executor"] == "slurm" else {}
    out = []
    for task in tasks:
        job_id = task.get("job_id") or ""
        paths = JobPaths(folder, job_id=job_id, task_id=0) if job_id else None
        state = TaskState(task["label"], job_id, "pending", log=paths.stderr if paths else None)
        result = _result(folder, job_id) if job_id else None
        if result is not None:
            kind, value = result
            if kind == "success":
                state.state, state.detail = "done", ""
            else:
                state.state, state.detail = "failed", str(value).strip().splitlines()[-1] if value else "error"
        elif record["executor"] == "slurm":
            word = scheduler.get(job_id, "PENDING" if job_id else "UNKNOWN")
            if word in _SLURM_PENDING:
                state.state = "pending"
            elif word in _SLURM_RUNNING:
                state.state = "running"
            else:  # a task writes its result before it ends: COMPLETED without one means it died unseen
                state.state = "failed"
            state.detail = word.lower() + (": ended without writing its result" if word == "COMPLETED" else "")
        else:
            recorded = task.get("state", "pending")
            if recorded in ("running", "pending") and not _pid_alive(record.get("pid")):
                state.state, state.detail = "failed", "the submitting process ended before this task finished"
            else:
                state.state = recorded
        if state.state == "failed":
            state.tail = log_tail(state.log, lines) or log_tail(paths.stdout if paths else None, lines)
        out.append(state)
    return out


def finished(states: list[TaskState]) -> bool:
    """Whether no task is pending or running."""
    return all(s.state in ("done", "failed") for s in states)


def cancel(folder: Path, states: list[TaskState], record: dict[str, Any] | None = None) -> list[str]:
    """Cancel the unfinished tasks of a SLURM submission (``scancel``); the ids cancelled."""
    record = record or read_record(folder)
    ids = [s.job_id for s in states if s.state in ("pending", "running") and s.job_id]
    if ids and record["executor"] == "slurm":
        subprocess.run(["scancel", *ids], check=False, timeout=60)
    return ids if record["executor"] == "slurm" else []
