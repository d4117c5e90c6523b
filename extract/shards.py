"""The shards of an extraction in progress (``<model>.h5.partial/shard-NNNNN.h5``) and their merge into the cache.

A shard is built in memory and written with plain file I/O. The merge runs in a child process
(:func:`merge_in_child`, :mod:`extract.merge_child`): when the disk fills while HDF5 is writing, the HDF5 library
is left in a state that crashes the process at exit (a segmentation fault), so it must not be the extraction's
own process; the parent then reports one clear error and the shards stay in place for a rerun. The child is a
small ``python -m`` process (numpy and h5py only: no torch, no pandas), so it starts in a fraction of a second,
and it dies with its parent (Linux ``PR_SET_PDEATHSIG``), so a killed extraction never leaves a merge running
behind the released lock.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from extract.cache_write import text
from extract.guards import ExtractError
from extract.merge_child import Rows, shard_name

SHARD_SCHEMA = "ser-probe-shard/1"


class MergeDied(ExtractError):
    """The merge process ended without a result (killed, or crashed inside HDF5)."""


def write_shard(path: Path, rows: list[int], states: list[np.ndarray], durations: list[float],
                skipped: list[tuple[int, str]], n_states: int, dim: int, notes: list[tuple[int, str]],
                pooled: list[np.ndarray] | None = None) -> int:
    """Write one shard under a temporary name and rename it; returns its size in bytes. ``pooled``: each clip's
    float32 mean over frames when it was computed beside the states (:meth:`Backbone.extract_for_cache`, whose
    ``states`` are float16 already); otherwise the mean of ``states``.

    The HDF5 file is built in memory and written with plain file I/O, so a full disk is an ``OSError`` here
    and never reaches the HDF5 library; the temporary file is then removed and the error re-raised."""
    image = io.BytesIO()
    _shard_image(image, rows, states, durations, skipped, n_states, dim, notes, pooled)
    tmp = path.with_suffix(".h5.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(image.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return image.getbuffer().nbytes


def _shard_image(target: io.BytesIO, rows: list[int], states: list[np.ndarray], durations: list[float],
                 skipped: list[tuple[int, str]], n_states: int, dim: int, notes: list[tuple[int, str]],
                 means: list[np.ndarray] | None = None) -> None:
    with h5py.File(target, "w") as h5:
        h5.attrs["schema"] = SHARD_SCHEMA
        h5.create_dataset("rows", data=np.asarray(rows, dtype=np.int64))
        h5.create_dataset("n_frames", data=np.asarray([s.shape[1] for s in states], dtype=np.int64))
        h5.create_dataset("duration", data=np.asarray(durations, dtype=np.float32))
        if means is None:
            means = [s.mean(axis=1) for s in states]
        pooled = np.stack(means) if states else np.empty((0, n_states, dim))
        h5.create_dataset("pooled", data=pooled.astype(np.float32))
        for layer in range(n_states):
            frames = np.concatenate([s[layer] for s in states]) if states else np.empty((0, dim))
            h5.create_dataset(f"layers/{layer:02d}", data=frames.astype(np.float16, copy=False))
        h5.create_dataset("skipped_rows", data=np.asarray([r for r, _ in skipped], dtype=np.int64))
        h5.create_dataset("skipped_reason", data=[m for _, m in skipped], dtype=h5py.string_dtype("utf-8"))
        h5.create_dataset("note_rows", data=np.asarray([r for r, _ in notes], dtype=np.int64))
        h5.create_dataset("note_text", data=[m for _, m in notes], dtype=h5py.string_dtype("utf-8"))


def merge_in_child(partial: Path, path: Path, manifest: pd.DataFrame, attrs: dict[str, Any], n_states: int,
                   dim: int, n_shards: int, rejected: Rows) -> tuple[Rows, Rows]:
    """Merge the shards into the final cache in a fresh child process (:mod:`extract.merge_child`); returns the
    skipped files and the notes on used clips, ``(id, path, reason)``. The child's errors are re-raised here; a
    child that dies (killed, or crashed by HDF5 after a failed write) raises :class:`MergeDied`, and the
    temporary file is removed."""
    job = {
        "partial": str(partial), "path": str(path), "attrs": attrs, "n_states": n_states, "dim": dim,
        "n_shards": n_shards, "rejected": [tuple(text(r)) for r in rejected],
        "manifest": {c: text(manifest[c]) for c in ("id", "path", "label", "speaker", "gender")},
    }
    tmp = path.with_suffix(".h5.tmp")
    child = subprocess.Popen(_child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=_child_env())
    try:
        out, err = child.communicate(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException:
        child.kill()
        child.wait()
        tmp.unlink(missing_ok=True)
        raise
    try:
        status, value = pickle.loads(out) if child.returncode == 0 else (None, None)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError):
        status, value = None, None
    if status == "ok":
        return value
    if status == "error":
        raise value
    tmp.unlink(missing_ok=True)
    how = _ending(child.returncode)
    said = err.decode(errors="replace").strip().splitlines()[-3:]
    raise MergeDied(f"the process merging the shards into {path} died ({how}: killed, or crashed by a full disk"
                    f"{'; it said: ' + ' | '.join(said) if said else ''}); the shards are kept in {partial}: rerun "
                    "the same command to merge them")


def _ending(returncode: int) -> str:
    """``signal SIGKILL`` or ``exit status 1``."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _child_command() -> list[str]:
    """``python -m extract.merge_child <pid>``; ``-P`` (Python 3.11+): the working folder never shadows a module."""
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *safe, "-m", "extract.merge_child", str(os.getpid())]


def _child_env() -> dict[str, str]:
    """This environment, with the folder holding this ``extract`` package first on the child's module path."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env
