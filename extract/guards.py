"""Checks that keep an extraction from writing something wrong, and the clear errors they raise.

* :func:`state_problem`: a clip whose states hold NaN or inf is skipped by name; values beyond float16's range
  (the cache's storage type) are refused with :class:`StateRangeError`, never stored as inf.
* :func:`settings_differences`: an existing complete cache is reused only when it was made with the requested
  settings (checkpoint, weights, Whisper input, precision, class set) from the corpus as it is now.
* :func:`require_space` / :func:`is_disk_full`: a full disk becomes one :class:`DiskFullError` naming the folder
  and the space needed, instead of a traceback (or a crash inside HDF5).
* :func:`ensure_folder` / :func:`folder_error`: a folder that cannot be made or written (a file in its path, a
  read-only file system, no permission) becomes one :class:`FolderError` naming it, the reason and the option to
  change.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

FP16_MAX = float(np.finfo(np.float16).max)  # 65504
SPACE_MARGIN = 1.05  # the merged cache is about the size of its shards; keep 5% (and 1 MiB) in hand
SPACE_SLACK = 2**20
COMPARED: tuple[str, ...] = ("checkpoint", "weights", "whisper_input", "precision", "n_layers", "dim", "classes")


class ExtractError(Exception):
    """An extraction that cannot go on for one corpus; the message names the file and the remedy."""


class CacheMismatchError(ExtractError):
    """A complete cache exists but was made with other settings or from another state of the corpus."""


class DiskFullError(ExtractError):
    """No space left where the cache is written; the finished shards are kept for a rerun."""


class FolderError(ExtractError):
    """A folder that cannot be created or written; the message names it, the reason and what to change."""


class SpaceError(OSError):
    """A full disk met while writing a result (a run record): an ``OSError``, so a training loop counts it as one
    failed run, whose message names the folder and the space needed."""


class NoUsableClipsError(ExtractError):
    """Every clip of a corpus failed: no cache (and no work folder) is left behind. ``skipped`` holds every file
    not used, ``(id, path, reason)``."""

    def __init__(self, message: str, skipped: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(message, list(skipped or []))  # both in args, so the error crosses processes whole
        self.skipped = list(skipped or [])

    def __str__(self) -> str:
        return str(self.args[0])


class StateRangeError(ExtractError):
    """A clip's states exceed float16's range: storing them would turn them into inf."""


def human_bytes(n: float) -> str:
    """``1.5 GB`` style sizes."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def state_problem(states: np.ndarray, clip: str, peaks: np.ndarray | None = None) -> str | None:
    """Why a clip's states ``(L+1, frames, dim)`` cannot be cached: a skip reason when they hold NaN/inf, None
    when they are fine. Raises :class:`StateRangeError` naming ``clip`` and the layer when finite values exceed
    float16's range. ``peaks``: each state's max |value| before a float16 cast, computed beside it (NaN/inf
    where the state holds one; :func:`extract.backbones.base.cache_tensors`), in place of reading ``states``."""
    if peaks is None:
        bad = [layer for layer in range(states.shape[0]) if not np.isfinite(states[layer]).all()]
    else:
        bad = [int(layer) for layer in np.flatnonzero(~np.isfinite(peaks))]
    if bad:
        return f"the model's states hold NaN or inf (layer{'s' if len(bad) > 1 else ''} {', '.join(map(str, bad))})"
    if peaks is None:
        peaks = np.abs(states.reshape(states.shape[0], -1)).max(axis=1) if states.size else np.zeros(0)
    over = np.flatnonzero(peaks > FP16_MAX)
    if over.size:
        layer = int(over[0])
        raise StateRangeError(
            f"{clip}: layer {layer} holds values up to {float(peaks[layer]):.4g}, beyond float16's range "
            f"(±{FP16_MAX:.0f}) in which the cache stores frames; refusing to store them as inf. This checkpoint's "
            "activations cannot be cached as float16")
    return None


def _norm(value: Any) -> str:
    """A comparable text form of an attribute value (lists as JSON, numbers without type noise)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] == "[":
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, (list, tuple, np.ndarray)):
        return json.dumps([str(v) for v in value])
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def settings_differences(path: Path, requested: Mapping[str, Any], manifest_hash: str) -> list[str]:
    """How the complete cache at ``path`` differs from the requested settings and the corpus as scanned now
    (an empty list when it can be reused). Attributes a cache lacks are not compared."""
    with h5py.File(path, "r") as h5:
        stored = dict(h5.attrs.items())
    found: list[str] = []
    for key in COMPARED:
        if key in requested and key in stored and _norm(stored[key]) != _norm(requested[key]):
            found.append(f"{key} {_norm(stored[key])!r} (requested {_norm(requested[key])!r})")
    old_hash = _norm(stored.get("manifest_hash", ""))
    if old_hash and old_hash != manifest_hash:
        found.append(f"the corpus has changed since it was made (manifest hash {old_hash}, now {manifest_hash}: "
                     "files added, removed or relabelled)")
    return found


def mismatch_message(path: Path, differences: list[str]) -> str:
    """The refusal to reuse a cache made otherwise, with the remedy."""
    return (f"{path} exists but was made differently: {'; '.join(differences)}. Rerun with --force to redo it, "
            "or choose another --out to keep both")


def is_disk_full(exc: BaseException) -> bool:
    """True for an ``OSError`` (from Python or HDF5) caused by a full disk or quota."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return isinstance(exc, OSError) and ("No space left" in text or "errno = 28" in text or "Disk quota" in text)


def space_error(exc: OSError, folder: Path, what: str, need: int, kept: str) -> OSError:
    """``exc`` itself, unless it is a full disk (:func:`is_disk_full`): then a :class:`SpaceError` naming
    ``folder``, ``what`` was being written, about ``need`` bytes and the free space, and ``kept`` (the next step)."""
    if not is_disk_full(exc):
        return exc
    return SpaceError(str(disk_full_error(folder, what, need, kept)))


def require_space(folder: Path, need: int, what: str, kept: str) -> None:
    """Raise :class:`DiskFullError` when ``folder``'s file system has less than ``need`` bytes (with margin)."""
    need = int(need * SPACE_MARGIN) + SPACE_SLACK
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DiskFullError(f"not enough space in {folder}: {what} needs about {human_bytes(need)}, "
                            f"{human_bytes(free)} free. {kept}")


def disk_full_error(folder: Path, what: str, need: int, kept: str) -> DiskFullError:
    """The error for ENOSPC met while writing ``what`` into ``folder``."""
    free = shutil.disk_usage(existing_part(folder)).free
    return DiskFullError(f"no space left on the device of {folder} while writing {what} (about "
                         f"{human_bytes(need)} needed, {human_bytes(free)} free). {kept}")


def existing_part(folder: Path) -> Path:
    """The deepest existing folder of ``folder``'s path (``folder`` itself when it exists): where its file
    system can be asked about space and mount flags."""
    return next((p for p in (Path(folder), *Path(folder).parents) if p.exists()), Path("/"))


def file_in_path(folder: Path) -> Path | None:
    """The first existing path from ``folder`` up to the root that is not a folder (a file blocking it)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def folder_error(folder: Path, exc: OSError | None, option: str, what: str) -> FolderError:
    """The :class:`FolderError` for ``folder`` (meant for ``what``, set by ``option``) that could not be made or
    written, with the reason read from ``exc`` (``None``: found not writable)."""
    folder = Path(folder)
    blocker = file_in_path(folder)
    code = exc.errno if exc is not None else None
    if blocker is not None:
        reason, step = f"{blocker} is a file, not a folder", f"choose another {option}, or move that file away"
    elif code == errno.EROFS or (exc is None and _read_only(folder)):
        reason, step = "it is on a read-only file system", f"choose a {option} folder on a writable disk"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        reason, step = "no space is left on its device", f"free some space, or choose another {option}"
    elif code in (errno.EACCES, errno.EPERM) or exc is None:
        reason, step = "permission denied", f"make it writable for this user, or choose another {option}"
    else:
        reason, step = (exc.strerror or str(exc)) if exc is not None else "not writable", f"choose another {option}"
    return FolderError(f"cannot write {what} in {folder}: {reason}; {step}")


def _read_only(folder: Path) -> bool:
    """Whether the existing part of ``folder``'s path lies on a file system mounted read-only."""
    try:
        return bool(os.statvfs(existing_part(folder)).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def ensure_folder(folder: str | Path, option: str, what: str) -> Path:
    """Create ``folder`` (with its parents) and check that it can be written, before any work starts; raise
    :class:`FolderError` naming the folder, the reason and ``option`` (the command-line option that chose it)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise folder_error(folder, exc, option, what) from None
    if not os.access(folder, os.W_OK | os.X_OK) or _read_only(folder):
        raise folder_error(folder, None, option, what)
    return folder
