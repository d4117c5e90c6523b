"""Names and encodings of the feature cache contract (:mod:`extract.cache`), shared by its writer and reader,
and what a file's status means (:class:`CacheStatus`, also for a file that does not open).

Imports only numpy and h5py, so the merge process (:mod:`extract.merge_child`) starts quickly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SCHEMA = "ser-probe-cache/1"
TEXT_COLUMNS: tuple[str, ...] = ("id", "label", "speaker", "gender")
NUMERIC_COLUMNS: dict[str, str] = {"duration": "float32", "n_frames": "int64", "offset": "int64"}
LIST_COLUMNS: tuple[str, ...] = ("id", "path", "reason")
"""The columns of ``skipped/`` and ``notes/``."""
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
STR = h5py.string_dtype("utf-8")


class CacheError(Exception):
    """A cache file that is missing, incomplete or does not follow the contract."""


def nonfinite_error(path: object, layer: int, where: str) -> CacheError:
    """The error for a cache whose ``layer`` holds NaN or inf (``where``: which dataset or rows)."""
    return CacheError(f"{path}: layer {layer} holds NaN or inf ({where}); the cache cannot be used")


def layer_name(layer: int) -> str:
    """The dataset name of a layer: ``layers/07``."""
    return f"layers/{layer:02d}"


def encode_attr(value: Any) -> Any:
    """HDF5 attributes hold scalars and strings; anything else is stored as JSON text."""
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return json.dumps(value, sort_keys=True)


def decode_attr(value: Any) -> Any:
    """An attribute as Python: bytes as text, numpy scalars as Python scalars, JSON lists/objects parsed."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def decode_text(values: np.ndarray) -> list[str]:
    """An HDF5 string dataset's values as ``str`` (h5py returns variable-length UTF-8 strings as bytes)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def status_problem(attrs: h5py.AttributeManager) -> str:
    """Why an open file is not a complete cache ('' when it is): another schema, or not marked complete."""
    if attrs.get("schema") != SCHEMA:
        return f"schema {attrs.get('schema')!r} is not {SCHEMA!r}"
    if not bool(attrs.get("complete", False)):
        return "marked incomplete"
    return ""


@dataclass(frozen=True)
class CacheStatus:
    """Whether a cache exists and is complete."""

    path: Path
    exists: bool
    complete: bool
    reason: str = ""


def _damage(path: Path, exc: OSError) -> str:
    """Why an existing file does not open as HDF5: not HDF5 at all, or a truncated/damaged one."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if head != HDF5_SIGNATURE:
        return "not an HDF5 file"
    return f"truncated or damaged HDF5 file ({exc})"


def unopened_status(path: Path, exc: OSError) -> CacheStatus:
    """The status of a file that HDF5 could not open: missing, empty, not HDF5, or damaged."""
    if not path.exists():
        return CacheStatus(path, False, False, "no such file")
    if path.stat().st_size == 0:
        return CacheStatus(path, True, False, "empty file (0 bytes)")
    return CacheStatus(path, True, False, _damage(path, exc))


def content_fingerprint(utterances: Mapping[str, Sequence[Any]], pooled: np.ndarray) -> str:
    """sha256 (16 hex digits) of what a cache holds: every utterance's id, label, speaker, gender and frame count,
    and the pooled means (float32, which the fp16 frames are rounded from). A function of the content only, not of
    when or where it was written: re-extracting identical features gives the same fingerprint."""
    digest = hashlib.sha256()
    for column in (*TEXT_COLUMNS, "n_frames"):
        digest.update(json.dumps([str(v) if column != "n_frames" else int(v) for v in utterances[column]],
                                 ensure_ascii=False).encode("utf-8"))
    values = np.ascontiguousarray(np.asarray(pooled, dtype="<f4"))
    digest.update(repr(values.shape).encode())
    digest.update(values.tobytes())
    return digest.hexdigest()[:16]
