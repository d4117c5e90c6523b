"""The merge of an extraction's shards into the final cache, run as its own small process.

``python -m extract.merge_child <parent pid>`` reads a pickled job from stdin (see
:func:`extract.shards.merge_in_child`, which starts it), merges the shards and writes a pickled
``("ok", (skipped, notes))`` or ``("error", exception)`` to stdout. It imports only numpy, h5py and the cache
writer, so it starts in a fraction of a second (no torch, no pandas). It runs apart from the extraction because
a disk that fills while HDF5 writes can leave the HDF5 library crashing the process (a segmentation fault); it
dies with its parent (Linux ``PR_SET_PDEATHSIG``), so a killed extraction never leaves a merge running.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from extract.cache_format import decode_text
from extract.cache_write import finalise, write_cache_columns
from extract.guards import NoUsableClipsError

Rows = list[tuple[str, str, str]]


def shard_name(index: int) -> str:
    """``shard-00007.h5``."""
    return f"shard-{index:05d}.h5"


def merge_shards(job: dict[str, Any]) -> tuple[Rows, Rows]:
    """Merge the shards of ``job['partial']`` into ``job['path']`` (written to ``.tmp``, fsynced and renamed);
    returns the skipped files (the scan's rejections first, then the clips that failed) and the notes on used
    clips, as ``(id, path, reason)``. ``job['manifest']`` maps id, path, label, speaker, gender to one text per
    manifest row (valid UTF-8). Refuses (:class:`extract.guards.NoUsableClipsError`) to write a cache without a
    single usable clip."""
    partial, path, manifest = Path(job["partial"]), Path(job["path"]), job["manifest"]
    n_states, dim = int(job["n_states"]), int(job["dim"])
    shards = [h5py.File(partial / shard_name(s), "r") for s in range(int(job["n_shards"]))]
    try:
        rows = np.concatenate([f["rows"][()] for f in shards]) if shards else np.empty(0, dtype=np.int64)
        skipped_rows = [int(r) for f in shards for r in f["skipped_rows"][()]]
        skipped: Rows = list(job["rejected"]) + [
            (manifest["id"][r], manifest["path"][r], reason)
            for r, reason in zip(skipped_rows, (m for f in shards for m in decode_text(f["skipped_reason"][()])))]
        note_rows = [int(r) for f in shards if "note_rows" in f for r in f["note_rows"][()]]
        note_text = [t for f in shards if "note_text" in f for t in decode_text(f["note_text"][()])]
        notes: Rows = [(manifest["id"][r], manifest["path"][r], t) for r, t in zip(note_rows, note_text)]
        if len(rows) == 0:
            raise NoUsableClipsError(f"no clip of {job['attrs']['corpus']} could be used ({len(skipped)} files "
                                     f"skipped, each named with its reason); no cache written to {path}", skipped)
        table: dict[str, Any] = {c: [manifest[c][r] for r in rows] for c in ("id", "label", "speaker", "gender")}
        table["duration"] = np.concatenate([f["duration"][()] for f in shards])
        table["n_frames"] = np.concatenate([f["n_frames"][()] for f in shards])
        pooled = np.concatenate([f["pooled"][()] for f in shards])
        tmp = path.with_suffix(".h5.tmp")
        tmp.unlink(missing_ok=True)  # a fresh inode: never share a file with a merge that was killed
        write_cache_columns(tmp, {**job["attrs"], "n_skipped": len(skipped)}, table, _blocks(shards, n_states),
                            pooled, _columns(skipped), n_states=n_states, dim=dim, notes=_columns(notes))
        with open(tmp, "rb+") as handle:  # the data must be on disk before the rename makes the file visible
            os.fsync(handle.fileno())
        finalise(tmp, path)
    finally:
        for f in shards:
            f.close()
    return skipped, notes


def _blocks(shards: list[h5py.File], n_states: int) -> Iterator[tuple[int, np.ndarray]]:
    for layer in range(n_states):
        for f in shards:
            yield layer, f[f"layers/{layer:02d}"][()]


def _columns(rows: Rows) -> dict[str, list[str]]:
    return {"id": [r[0] for r in rows], "path": [r[1] for r in rows], "reason": [r[2] for r in rows]}


def _die_with_parent(parent: int) -> None:
    """Be killed when the extraction process dies (Linux), or exit if it is already gone."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """The child's entry point: job from stdin, result to stdout (anything else printed goes to stderr)."""
    args = sys.argv[1:] if argv is None else argv
    _die_with_parent(int(args[0]))
    result = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray output must not corrupt the result
    job = pickle.load(sys.stdin.buffer)
    try:
        answer: tuple[str, Any] = ("ok", merge_shards(job))
    except Exception as exc:  # noqa: BLE001 - every error crosses back to the extraction process
        if not isinstance(exc, (OSError, NoUsableClipsError)) and hasattr(exc, "add_note"):  # unexpected: say where
            exc.add_note("in the merge process:\n" + "".join(traceback.format_exception(exc)).rstrip())
        try:
            pickle.loads(pickle.dumps(exc))
            answer = ("error", exc)
        except Exception:  # noqa: BLE001 - an exception that does not pickle crosses as text
            answer = ("error", RuntimeError(f"{type(exc).__name__}: {exc}"))
    with result:
        pickle.dump(answer, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
