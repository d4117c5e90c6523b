"""Writing a feature cache (the layout is described in :mod:`extract.cache`).

:func:`write_cache_columns` needs only numpy and h5py (the merge process uses it, :mod:`extract.merge_child`);
:func:`write_cache` and :func:`write_cache_from_states` take pandas tables. Layers are written as contiguous
datasets: no chunk padding on disk, and a whole layer (or a range of frames) is one plain read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from extract.cache_format import (
    LIST_COLUMNS, NUMERIC_COLUMNS, SCHEMA, STR, TEXT_COLUMNS, CacheError, content_fingerprint, encode_attr,
    layer_name,
)

if TYPE_CHECKING:
    import pandas as pd


def write_cache_columns(
    path: Path,
    attrs: Mapping[str, Any],
    utterances: Mapping[str, Sequence[Any]],
    layer_blocks: Iterable[tuple[int, np.ndarray]] | None,
    pooled: np.ndarray,
    skipped: Mapping[str, Sequence[str]],
    *,
    n_states: int,
    dim: int,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Write a complete cache to ``path`` (the caller renames it into place).

    ``utterances`` maps the columns id, label, speaker, gender (valid UTF-8 text), duration and n_frames to one
    value per utterance; ``skipped`` and ``notes`` map id, path, reason to lists of text. ``layer_blocks`` yields
    ``(layer, block)`` pairs, blocks of consecutive frames of one layer, in frame order within each layer.
    """
    n = len(utterances["id"])
    counts = np.asarray(utterances["n_frames"], dtype=np.int64)
    total = int(counts.sum())
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64) if n else np.empty(0, np.int64)
    with h5py.File(path, "w") as h5:
        for key, value in attrs.items():
            h5.attrs[key] = encode_attr(value)
        h5.attrs["schema"] = SCHEMA
        h5.attrs["n_layers"] = n_states
        h5.attrs["dim"] = dim
        h5.attrs["total_frames"] = total
        h5.attrs["n_utterances"] = n
        h5.attrs["complete"] = False
        group = h5.create_group("utterances")
        for column in TEXT_COLUMNS:
            group.create_dataset(column, data=list(utterances[column]), dtype=STR)
        for column, dtype in NUMERIC_COLUMNS.items():
            values = offsets if column == "offset" else utterances[column]
            group.create_dataset(column, data=np.asarray(values, dtype=dtype), dtype=dtype)
        # contiguous (no ``chunks``): HDF5 stores exactly total × dim values, without padding a last chunk
        datasets = [h5.create_dataset(layer_name(l), shape=(total, dim), dtype="float16") for l in range(n_states)]
        cursor = [0] * n_states
        for layer, block in layer_blocks or ():
            start = cursor[layer]
            datasets[layer][start : start + len(block)] = block
            cursor[layer] = start + len(block)
        if any(c != total for c in cursor):
            raise CacheError(f"{path}: wrote {cursor} frames per layer, expected {total}")
        pooled = np.asarray(pooled, dtype=np.float32).reshape(n, n_states, dim)
        h5.create_dataset("pooled/mean", data=pooled)
        h5.attrs["content_hash"] = content_fingerprint(utterances, pooled)
        for name, table in (("skipped", skipped), ("notes", notes)):
            if name == "notes" and not (table and len(table["id"])):
                continue  # notes/ is optional: written only when a clip was used although odd
            group = h5.create_group(name)
            for column in LIST_COLUMNS:
                group.create_dataset(column, data=list(table[column]), dtype=STR)
        h5.attrs["complete"] = True


def write_cache(
    path: Path,
    attrs: dict[str, Any],
    utterances: pd.DataFrame,
    layer_blocks: Iterable[tuple[int, np.ndarray]] | None,
    pooled: np.ndarray,
    skipped: pd.DataFrame,
    *,
    n_states: int,
    dim: int,
    notes: pd.DataFrame | None = None,
) -> None:
    """:func:`write_cache_columns` from pandas tables: ``utterances`` has the columns id, label, speaker, gender,
    duration, n_frames; ``skipped`` and ``notes`` id, path, reason. Undecodable bytes in text (damaged file
    names) become ``\\xNN`` escapes."""
    table: dict[str, Sequence[Any]] = {c: text(utterances[c]) for c in TEXT_COLUMNS}
    table.update({c: utterances[c].to_numpy() for c in ("duration", "n_frames")})
    write_cache_columns(path, attrs, table, layer_blocks, pooled, _text_table(skipped), n_states=n_states, dim=dim,
                        notes=None if notes is None else _text_table(notes))


def text(values: Iterable[Any]) -> list[str]:
    """Strings safe for HDF5's UTF-8: undecodable bytes of damaged file names become ``\\xNN`` escapes."""
    from extract.corpora.base import escape_undecodable  # imports pandas: only where tables are written

    return [escape_undecodable(str(v)) for v in values]


def _text_table(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {c: text(frame[c]) if len(frame) else [] for c in LIST_COLUMNS}


def write_cache_from_states(
    path: Path,
    attrs: dict[str, Any],
    utterances: pd.DataFrame,
    states: Sequence[np.ndarray],
    skipped: pd.DataFrame | None = None,
) -> None:
    """Write a complete cache from in-memory states, one ``(n_states, n_frames, dim)`` array per utterance
    (rows of ``utterances``: id, label, speaker, gender, duration). For small corpora and tests."""
    import pandas as pd

    if len(states) != len(utterances) or not states:
        raise CacheError(f"{path}: {len(states)} state arrays for {len(utterances)} utterances")
    n_states, _, dim = states[0].shape
    table = utterances.reset_index(drop=True).copy()
    table["n_frames"] = [s.shape[1] for s in states]
    pooled = np.stack([s.astype(np.float32).mean(axis=1) for s in states])
    blocks = ((l, np.concatenate([s[l] for s in states]).astype(np.float16)) for l in range(n_states))
    empty = pd.DataFrame({"id": [], "path": [], "reason": []})
    write_cache(Path(path), attrs, table, blocks, pooled, empty if skipped is None else skipped,
                n_states=n_states, dim=dim)


def finalise(tmp: Path, path: Path) -> None:
    """Atomically move a finished cache into place (same directory, so the rename is atomic)."""
    os.replace(tmp, path)
