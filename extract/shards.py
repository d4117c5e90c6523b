"""The shards of an extraction in progress (``<model>.h5.partial/shard-NNNNN.h5``) and their merge into the cache.

A shard is built in memory and written with plain file I/O. The merge runs in a child process
(:func:`merge_in_child`): when the disk fills while HDF5 is writing, the HDF5 library is left in a state that
crashes the process at exit (a segmentation fault), so it must not be the extraction's own process; the parent
then reports one clear error and the shards stay in place for a rerun. The child dies with its parent (Linux
``PR_SET_PDEATHSIG``), so a killed extraction never leaves a merge running behind the released lock.
"""

from __future__ import annotations

import ctypes
import io
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from extract.cache import finalise, write_cache
from extract.guards import ExtractError, NoUsableClipsError

SHARD_SCHEMA = "ser-probe-shard/1"
Rows = list[tuple[str, str, str]]


class MergeDied(ExtractError):
    """The merge process ended without a result (killed, or crashed inside HDF5)."""


def shard_name(index: int) -> str:
    """``shard-00007.h5``."""
    return f"shard-{index:05d}.h5"


def write_shard(path: Path, rows: list[int], states: list[np.ndarray], durations: list[float],
                skipped: list[tuple[int, str]], n_states: int, dim: int, notes: list[tuple[int, str]]) -> int:
    """Write one shard under a temporary name and rename it; returns its size in bytes.

    The HDF5 file is built in memory and written with plain file I/O, so a full disk is an ``OSError`` here
    and never reaches the HDF5 library; the temporary file is then removed and the error re-raised."""
    image = io.BytesIO()
    _shard_image(image, rows, states, durations, skipped, n_states, dim, notes)
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
                 skipped: list[tuple[int, str]], n_states: int, dim: int, notes: list[tuple[int, str]]) -> None:
    with h5py.File(target, "w") as h5:
        h5.attrs["schema"] = SHARD_SCHEMA
        h5.create_dataset("rows", data=np.asarray(rows, dtype=np.int64))
        h5.create_dataset("n_frames", data=np.asarray([s.shape[1] for s in states], dtype=np.int64))
        h5.create_dataset("duration", data=np.asarray(durations, dtype=np.float32))
        pooled = np.stack([s.mean(axis=1) for s in states]) if states else np.empty((0, n_states, dim))
        h5.create_dataset("pooled", data=pooled.astype(np.float32))
        for layer in range(n_states):
            frames = np.concatenate([s[layer] for s in states]) if states else np.empty((0, dim))
            h5.create_dataset(f"layers/{layer:02d}", data=frames.astype(np.float16))
        h5.create_dataset("skipped_rows", data=np.asarray([r for r, _ in skipped], dtype=np.int64))
        h5.create_dataset("skipped_reason", data=[m for _, m in skipped], dtype=h5py.string_dtype("utf-8"))
        h5.create_dataset("note_rows", data=np.asarray([r for r, _ in notes], dtype=np.int64))
        h5.create_dataset("note_text", data=[m for _, m in notes], dtype=h5py.string_dtype("utf-8"))


def _strings(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def merge_shards(partial: Path, path: Path, manifest: pd.DataFrame, attrs: dict[str, Any], n_states: int,
                 dim: int, n_shards: int, rejected: Rows) -> tuple[Rows, Rows]:
    """Merge the shards into the final cache (written to ``.tmp`` and renamed); returns the skipped files (the
    scan's rejections first, then the clips that failed here) and the notes on used clips. Refuses (with
    :class:`extract.guards.ExtractError`) to write a cache without a single usable clip."""
    shards = [h5py.File(partial / shard_name(s), "r") for s in range(n_shards)]
    try:
        rows = np.concatenate([f["rows"][()] for f in shards]) if shards else np.empty(0, dtype=np.int64)
        skipped_rows = [int(r) for f in shards for r in f["skipped_rows"][()]]
        reasons = [r for f in shards for r in _strings(f["skipped_reason"][()])]
        skipped = pd.DataFrame({
            "id": [str(i) for i, _, _ in rejected] + [manifest.at[r, "id"] for r in skipped_rows],
            "path": [str(p) for _, p, _ in rejected] + [str(manifest.at[r, "path"]) for r in skipped_rows],
            "reason": [str(m) for _, _, m in rejected] + reasons,
        })
        note_rows = [int(r) for f in shards if "note_rows" in f for r in f["note_rows"][()]]
        notes = pd.DataFrame({
            "id": [manifest.at[r, "id"] for r in note_rows],
            "path": [str(manifest.at[r, "path"]) for r in note_rows],
            "reason": [t for f in shards if "note_text" in f for t in _strings(f["note_text"][()])],
        })
        if len(rows) == 0:
            raise NoUsableClipsError(f"no clip of {attrs['corpus']} could be used ({len(skipped)} files skipped, each "
                                     f"named with its reason); no cache written to {path}",
                                     list(skipped.itertuples(index=False, name=None)))
        table = manifest.loc[rows, ["id", "label", "speaker", "gender"]].reset_index(drop=True)
        table["duration"] = np.concatenate([f["duration"][()] for f in shards])
        table["n_frames"] = np.concatenate([f["n_frames"][()] for f in shards])
        pooled = np.concatenate([f["pooled"][()] for f in shards])
        blocks = ((l, f[f"layers/{l:02d}"][()]) for l in range(n_states) for f in shards)
        tmp = path.with_suffix(".h5.tmp")
        tmp.unlink(missing_ok=True)  # a fresh inode: never share a file with a merge that was killed
        write_cache(tmp, {**attrs, "n_skipped": len(skipped)}, table, blocks, pooled, skipped,
                    n_states=n_states, dim=dim, notes=notes)
        with open(tmp, "rb+") as handle:  # the data must be on disk before the rename makes the file visible
            os.fsync(handle.fileno())
        finalise(tmp, path)
    finally:
        for f in shards:
            f.close()
    return (list(skipped.itertuples(index=False, name=None)), list(notes.itertuples(index=False, name=None)))


def merge_in_child(partial: Path, path: Path, manifest: pd.DataFrame, attrs: dict[str, Any], n_states: int,
                   dim: int, n_shards: int, rejected: Rows) -> tuple[Rows, Rows]:
    """:func:`merge_shards` in a fresh child process; its errors are re-raised here. A child that dies (killed, or
    crashed by HDF5 after a failed write) raises :class:`MergeDied`; the temporary file is removed."""
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            return pool.submit(merge_shards, partial, path, manifest, attrs, n_states, dim, n_shards,
                               rejected).result()
    except BrokenProcessPool:
        path.with_suffix(".h5.tmp").unlink(missing_ok=True)
        raise MergeDied(f"the process merging the shards into {path} died (killed, or crashed by a full disk); "
                        f"the shards are kept in {partial}: rerun the same command to merge them") from None


def _die_with_parent(parent: int) -> None:
    """In the merge process: be killed when the extraction process dies (Linux), or exit if it is already gone."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)
