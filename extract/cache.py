"""The feature cache ``features/<corpus>/<model>.h5``: the only interface between extraction and probing.

Layout (schema :data:`SCHEMA`):

* root attributes: ``schema, corpus, language, model, family, pretraining, languages, checkpoint, weights,
  n_layers`` (L+1 states), ``dim, frame_rate, sample_rate, whisper_input`` (Whisper only), ``precision,
  classes, manifest_hash, versions`` (JSON), ``created, complete``;
* ``utterances/{id,label,speaker,gender,duration,n_frames,offset}``: one row per utterance, manifest order;
* ``layers/00`` … ``layers/L``: ``(total_frames, dim)`` float16, chunked along frames, uncompressed;
* ``pooled/mean``: ``(N, L+1, dim)`` float32, each layer's mean over the utterance's frames;
* ``skipped/{id,path,reason}``: files of the corpus folder that could not be used, and why;
* ``notes/{id,path,reason}`` (optional): clips used although odd (a truncated file read as far as it goes).

This module holds both sides: :func:`write_cache` (used by :mod:`extract.pipeline`) and
:class:`FeatureCache`, the reading side used by the probes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from extract.corpora.base import escape_undecodable

SCHEMA = "ser-probe-cache/1"
CHUNK_FRAMES = 4096
TEXT_COLUMNS: tuple[str, ...] = ("id", "label", "speaker", "gender")
NUMERIC_COLUMNS: dict[str, str] = {"duration": "float32", "n_frames": "int64", "offset": "int64"}
_STR = h5py.string_dtype("utf-8")


class CacheError(Exception):
    """A cache file that is missing, incomplete or does not follow the contract."""


def layer_name(layer: int) -> str:
    """The dataset name of a layer: ``layers/07``."""
    return f"layers/{layer:02d}"


def _text(values: Any) -> list[str]:
    """Strings safe for HDF5's UTF-8: undecodable bytes of damaged file names become ``\\xNN`` escapes."""
    return [escape_undecodable(str(v)) for v in values]


def _attr(value: Any) -> Any:
    """HDF5 attributes hold scalars and strings; anything else is stored as JSON text."""
    if value is None:
        return ""
    if isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_)):
        return value
    return json.dumps(value, sort_keys=True)


def write_cache(
    path: Path,
    attrs: dict[str, Any],
    utterances: pd.DataFrame,
    layer_blocks: Iterator[tuple[int, np.ndarray]] | None,
    pooled: np.ndarray,
    skipped: pd.DataFrame,
    *,
    n_states: int,
    dim: int,
    notes: pd.DataFrame | None = None,
) -> None:
    """Write a complete cache to ``path`` (the caller renames it into place).

    ``layer_blocks`` yields ``(layer, block)`` pairs, blocks of consecutive frames of one layer, in frame
    order within each layer; ``utterances`` has the columns id, label, speaker, gender, duration, n_frames.
    """
    total = int(utterances["n_frames"].sum()) if len(utterances) else 0
    offsets = np.concatenate([[0], np.cumsum(utterances["n_frames"].to_numpy(np.int64))[:-1]]) if total else []
    with h5py.File(path, "w") as h5:
        for key, value in attrs.items():
            h5.attrs[key] = _attr(value)
        h5.attrs["schema"] = SCHEMA
        h5.attrs["n_layers"] = n_states
        h5.attrs["dim"] = dim
        h5.attrs["total_frames"] = total
        h5.attrs["n_utterances"] = len(utterances)
        h5.attrs["complete"] = False
        group = h5.create_group("utterances")
        for column in TEXT_COLUMNS:
            group.create_dataset(column, data=_text(utterances[column]), dtype=_STR)
        for column, dtype in NUMERIC_COLUMNS.items():
            values = offsets if column == "offset" else utterances[column]
            group.create_dataset(column, data=np.asarray(values, dtype=dtype), dtype=dtype)
        chunks = (min(CHUNK_FRAMES, max(total, 1)), dim)
        datasets = [
            h5.create_dataset(layer_name(l), shape=(total, dim), dtype="float16", chunks=chunks if total else None)
            for l in range(n_states)
        ]
        cursor = [0] * n_states
        for layer, block in layer_blocks or ():
            start = cursor[layer]
            datasets[layer][start : start + len(block)] = block
            cursor[layer] = start + len(block)
        if any(c != total for c in cursor):
            raise CacheError(f"{path}: wrote {cursor} frames per layer, expected {total}")
        h5.create_dataset("pooled/mean", data=np.asarray(pooled, dtype=np.float32).reshape(len(utterances), n_states, dim))
        sk = h5.create_group("skipped")
        for column in ("id", "path", "reason"):
            sk.create_dataset(column, data=_text(skipped[column]) if len(skipped) else [], dtype=_STR)
        if notes is not None and len(notes):
            group = h5.create_group("notes")
            for column in ("id", "path", "reason"):
                group.create_dataset(column, data=_text(notes[column]), dtype=_STR)
        h5.attrs["complete"] = True


def write_cache_from_states(
    path: Path,
    attrs: dict[str, Any],
    utterances: pd.DataFrame,
    states: Sequence[np.ndarray],
    skipped: pd.DataFrame | None = None,
) -> None:
    """Write a complete cache from in-memory states, one ``(n_states, n_frames, dim)`` array per utterance
    (rows of ``utterances``: id, label, speaker, gender, duration). For small corpora and tests."""
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


@dataclass(frozen=True)
class CacheStatus:
    """Whether a cache exists and is complete."""

    path: Path
    exists: bool
    complete: bool
    reason: str = ""


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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


def cache_status(path: Path) -> CacheStatus:
    """Inspect ``path`` without raising: a file that cannot be opened, or lacks ``complete``, is incomplete."""
    path = Path(path)
    if not path.exists():
        return CacheStatus(path, False, False, "no such file")
    if path.stat().st_size == 0:
        return CacheStatus(path, True, False, "empty file (0 bytes)")
    try:
        with h5py.File(path, "r") as h5:
            if h5.attrs.get("schema") != SCHEMA:
                return CacheStatus(path, True, False, f"schema {h5.attrs.get('schema')!r} is not {SCHEMA!r}")
            if not bool(h5.attrs.get("complete", False)):
                return CacheStatus(path, True, False, "marked incomplete")
    except OSError as exc:
        return CacheStatus(path, True, False, _damage(path, exc))
    return CacheStatus(path, True, True)


def cache_path(out: Path, corpus: str, model: str) -> Path:
    """``<out>/<corpus>/<model>.h5``; hub ids such as ``microsoft/wavlm-base`` become ``microsoft--wavlm-base``."""
    return Path(out) / corpus / f"{model.replace('/', '--')}.h5"


def find_caches(root: str | Path = "features") -> list[Path]:
    """Every complete cache ``<root>/<corpus>/<model>.h5``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [p for p in sorted(root.glob("*/*.h5")) if cache_status(p).complete]


def scan_caches(root: str | Path = "features") -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every cache under ``<root>/<corpus>/``: the usable ones (complete and valid, :meth:`FeatureCache.validate`)
    and, for each file or interrupted extraction that is not usable, ``(path, reason)``."""
    root = Path(root)
    good: list[Path] = []
    issues: list[tuple[Path, str]] = []
    if not root.is_dir():
        return good, issues
    for path in sorted(root.glob("*/*.h5")):
        status = cache_status(path)
        if not status.complete:
            issues.append((path, f"not a usable cache: {status.reason}"))
            continue
        try:
            with FeatureCache(path) as cache:
                cache.validate()
        except (CacheError, OSError, KeyError, ValueError) as exc:
            issues.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        good.append(path)
    for partial in sorted(root.glob("*/*.h5.partial")):
        final = partial.with_name(partial.name.removesuffix(".partial"))
        if not final.exists():
            issues.append((final, f"incomplete: an interrupted extraction left {partial.name}/ (run the same "
                                  "`probe extract` again to finish it)"))
    return good, issues


class FeatureCache:
    """Read-only access to a complete cache.

    >>> with FeatureCache("features/emodb/whisper-small.h5") as cache:
    ...     x = cache.pooled()          # (N, L+1, dim) float32
    ...     last = cache.layer(-1)      # (total_frames, dim) float16, one contiguous read
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        status = cache_status(self.path)
        if not status.complete:
            raise CacheError(f"{self.path}: not a complete feature cache ({status.reason})")
        self._h5 = h5py.File(self.path, "r")
        self.attrs: dict[str, Any] = {k: _decode(v) for k, v in self._h5.attrs.items()}
        try:
            for key in ("n_layers", "dim", "total_frames", "corpus", "model"):
                if key not in self.attrs:
                    raise CacheError(f"{self.path}: missing root attribute {key!r}")
            group = self._h5["utterances"]
            missing = [c for c in (*TEXT_COLUMNS, *NUMERIC_COLUMNS) if c not in group]
            if missing:
                raise CacheError(f"{self.path}: missing dataset(s) {', '.join('utterances/' + c for c in missing)}")
            table = {c: [s.decode() if isinstance(s, bytes) else s for s in group[c][()]] for c in TEXT_COLUMNS}
            table.update({c: group[c][()] for c in NUMERIC_COLUMNS})
            if len({len(v) for v in table.values()}) != 1:
                raise CacheError(f"{self.path}: the utterances/ datasets differ in length "
                                 f"({', '.join(f'{c} {len(v)}' for c, v in table.items())})")
            self.utterances = pd.DataFrame(table)
        except (CacheError, KeyError, OSError) as exc:
            self._h5.close()
            if isinstance(exc, CacheError):
                raise
            raise CacheError(f"{self.path}: damaged cache ({type(exc).__name__}: {exc})") from None

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def corpus(self) -> str:
        return str(self.attrs["corpus"])

    @property
    def model(self) -> str:
        return str(self.attrs["model"])

    @property
    def n_states(self) -> int:
        return int(self.attrs["n_layers"])

    @property
    def dim(self) -> int:
        return int(self.attrs["dim"])

    @property
    def total_frames(self) -> int:
        return int(self.attrs["total_frames"])

    def __len__(self) -> int:
        return len(self.utterances)

    def identity(self) -> dict[str, Any]:
        """What a probe run records to trace its input: file, model, checkpoint, input mode, creation time."""
        keys = ("schema", "corpus", "language", "model", "base_model", "family", "pretraining", "languages", "checkpoint",
                "weights", "n_layers", "dim", "whisper_input", "precision", "classes", "manifest_hash", "created")
        return {"file": str(self.path), **{k: self.attrs.get(k, "") for k in keys}}

    def skipped(self) -> pd.DataFrame:
        """Clips extraction could not use: id, path, reason."""
        group = self._h5["skipped"]
        return pd.DataFrame({c: [s.decode() if isinstance(s, bytes) else s for s in group[c][()]]
                             for c in ("id", "path", "reason")})

    # -- validation -----------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Check the contract beyond ``complete``; :class:`CacheError` naming the first problem: no utterances,
        a missing layer or pooled dataset, shapes or offsets that disagree, NaN/inf in a layer's pooled means."""
        n, states, dim, total = len(self), self.n_states, self.dim, self.total_frames
        if n == 0:
            raise CacheError(f"{self.path}: holds zero utterances")
        for l in range(states):
            name = layer_name(l)
            if name not in self._h5:
                raise CacheError(f"{self.path}: missing dataset {name} (n_layers is {states})")
            if self._h5[name].shape != (total, dim):
                raise CacheError(f"{self.path}: {name} has shape {self._h5[name].shape}, expected {(total, dim)}")
        if "pooled/mean" not in self._h5:
            raise CacheError(f"{self.path}: missing dataset pooled/mean")
        if self._h5["pooled/mean"].shape != (n, states, dim):
            raise CacheError(f"{self.path}: pooled/mean has shape {self._h5['pooled/mean'].shape}, "
                             f"expected {(n, states, dim)}")
        counts = self.utterances["n_frames"].to_numpy(np.int64)
        offsets = self.utterances["offset"].to_numpy(np.int64)
        expected = np.concatenate([[0], np.cumsum(counts)[:-1]])
        bad = np.flatnonzero((offsets != expected) | (counts < 1))
        if bad.size or int(counts.sum()) != total:
            row = int(bad[0]) if bad.size else n - 1
            raise CacheError(f"{self.path}: inconsistent offsets: utterance {row} "
                             f"({self.utterances['id'].iloc[row]}) has offset {offsets[row]} and {counts[row]} "
                             f"frames, expected offset {expected[row]} ({total} frames in all)")
        pooled = self._h5["pooled/mean"][()]
        for l in range(states):
            if not np.isfinite(pooled[:, l]).all():
                raise CacheError(f"{self.path}: layer {l} holds NaN or inf (pooled/mean); the cache cannot be used")

    def check_frames(self, layers: Sequence[int] | None = None, block: int = 1 << 16) -> None:
        """:class:`CacheError` naming the first layer whose frames hold NaN or inf (read in blocks of frames)."""
        for l in range(self.n_states) if layers is None else [self._layer_index(l) for l in layers]:
            data = self._h5[layer_name(l)]
            for start in range(0, self.total_frames, block):
                if not np.isfinite(data[start : start + block]).all():
                    raise CacheError(f"{self.path}: layer {l} holds NaN or inf (frames from row {start}); "
                                     "the cache cannot be used")

    # -- features -------------------------------------------------------------------------------------------
    def _layer_index(self, layer: int) -> int:
        index = layer + self.n_states if layer < 0 else layer
        if not 0 <= index < self.n_states:
            raise IndexError(f"{self.path}: layer {layer} out of range (0..{self.n_states - 1})")
        return index

    def pooled(self, layers: Sequence[int] | None = None) -> np.ndarray:
        """Mean-pooled vectors ``(N, len(layers), dim)`` float32 (all L+1 layers by default)."""
        data = self._h5["pooled/mean"][()]
        return data if layers is None else data[:, [self._layer_index(l) for l in layers]]

    def layer(self, layer: int) -> np.ndarray:
        """Every frame of one layer, ``(total_frames, dim)`` float16, in one contiguous read."""
        return self._h5[layer_name(self._layer_index(layer))][()]

    def frames(self, index: int, layer: int) -> np.ndarray:
        """Frames ``(n_frames, dim)`` float16 of utterance ``index`` (row of :attr:`utterances`) in one layer."""
        row = self.utterances.iloc[index]
        start, count = int(row["offset"]), int(row["n_frames"])
        return self._h5[layer_name(self._layer_index(layer))][start : start + count]

    def frames_block(self, start: int, stop: int, layers: Sequence[int] | None = None) -> np.ndarray:
        """Frames of utterances ``start:stop`` (rows), ``(frames, len(layers), dim)`` float16, one contiguous
        read per layer: the unit of streaming when a cache does not fit in memory."""
        layers = list(range(self.n_states)) if layers is None else [self._layer_index(l) for l in layers]
        rows = self.utterances.iloc[start:stop]
        if rows.empty:
            return np.empty((0, len(layers), self.dim), dtype=np.float16)
        first = int(rows["offset"].iloc[0])
        last = int(rows["offset"].iloc[-1] + rows["n_frames"].iloc[-1])
        out = np.empty((last - first, len(layers), self.dim), dtype=np.float16)
        for j, l in enumerate(layers):  # a contiguous read per layer; read_direct into a strided view is ~60x slower
            out[:, j] = self._h5[layer_name(l)][first:last]
        return out

    def iter_utterances(self, layers: Sequence[int] | None = None) -> Iterator[tuple[pd.Series, np.ndarray]]:
        """``(row, frames (n_frames, len(layers), dim))`` for each utterance, in order."""
        for i in range(len(self)):
            yield self.utterances.iloc[i], self.frames_block(i, i + 1, layers)

    def nbytes(self, layers: Sequence[int] | None = None) -> int:
        """Bytes the frames of ``layers`` (all by default) take in memory as float16."""
        n = self.n_states if layers is None else len(layers)
        return self.total_frames * n * self.dim * 2

    def load_all(self, layers: Sequence[int] | None = None, max_bytes: int | None = None) -> np.ndarray:
        """Every frame of ``layers`` in memory, ``(total_frames, len(layers), dim)`` float16; refuses (with
        :class:`MemoryError`) when that exceeds ``max_bytes``."""
        need = self.nbytes(layers)
        if max_bytes is not None and need > max_bytes:
            raise MemoryError(f"{self.path}: frames need {need / 2**30:.1f} GiB, above the {max_bytes / 2**30:.1f} GiB "
                              "allowed; stream with frames_block() instead")
        return self.frames_block(0, len(self), layers)

    # -- lifetime -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HDF5 file."""
        self._h5.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode(value: Any) -> Any:
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
