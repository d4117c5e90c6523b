"""Reading a feature cache: :class:`FeatureCache`, the probes' side of the contract (:mod:`extract.cache`).

Whole layers and blocks of frames are read straight into one preallocated array (``read_direct``). Caches
written before the layers became contiguous datasets (chunked along frames) read the same way; only a block of
several layers from a chunked cache goes through one reused buffer per layer, as HDF5 scatters chunked data
into a strided array very slowly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from extract.cache_format import (
    NUMERIC_COLUMNS, TEXT_COLUMNS, CacheError, content_fingerprint, decode_attr, decode_text, layer_name,
    nonfinite_error, status_problem, unopened_status,
)


class FeatureCache:
    """Read-only access to a complete cache.

    >>> with FeatureCache("features/emodb/whisper-small.h5") as cache:
    ...     x = cache.pooled()          # (N, L+1, dim) float32
    ...     last = cache.layer(-1)      # (total_frames, dim) float16, one contiguous read
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            reason = unopened_status(self.path, exc).reason
            raise CacheError(f"{self.path}: not a complete feature cache ({reason})") from None
        try:
            problem = status_problem(self._h5.attrs)
            if problem:
                raise CacheError(f"{self.path}: not a complete feature cache ({problem})")
            for key in ("n_layers", "dim", "total_frames", "corpus", "model"):
                if key not in self._h5.attrs:
                    raise CacheError(f"{self.path}: missing root attribute {key!r}")
            self._shape = tuple(int(self._h5.attrs[k]) for k in ("n_layers", "dim", "total_frames"))
            group = self._h5["utterances"]
            missing = [c for c in (*TEXT_COLUMNS, *NUMERIC_COLUMNS) if c not in group]
            if missing:
                raise CacheError(f"{self.path}: missing dataset(s) {', '.join('utterances/' + c for c in missing)}")
            lengths = {c: h5py.h5d.open(group.id, c.encode()).shape[0] for c in (*TEXT_COLUMNS, *NUMERIC_COLUMNS)}
            if len(set(lengths.values())) != 1:
                raise CacheError(f"{self.path}: the utterances/ datasets differ in length "
                                 f"({', '.join(f'{c} {n}' for c, n in lengths.items())})")
            self._n = lengths["id"]
        except (CacheError, KeyError, OSError, ValueError, TypeError, IndexError) as exc:
            self._h5.close()
            if isinstance(exc, CacheError):
                raise
            raise CacheError(f"{self.path}: damaged cache ({type(exc).__name__}: {exc})") from None
        self._utterances: pd.DataFrame | None = None
        self._attrs: dict[str, Any] | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        """The root attributes, decoded (JSON lists and objects parsed); read on first use."""
        if self._attrs is None:
            self._attrs = {k: decode_attr(v) for k, v in self._h5.attrs.items()}
        return self._attrs

    @property
    def utterances(self) -> pd.DataFrame:
        """One row per utterance: id, label, speaker, gender, duration, n_frames, offset (read on first use, so
        that opening a cache to read a layer or its attributes does not pay for the table)."""
        if self._utterances is None:
            try:
                group = self._h5["utterances"]
                table: dict[str, Any] = {c: decode_text(group[c][()]) for c in TEXT_COLUMNS}
                table.update({c: group[c][()] for c in NUMERIC_COLUMNS})
            except (KeyError, OSError) as exc:
                raise CacheError(f"{self.path}: damaged cache ({type(exc).__name__}: {exc})") from None
            self._utterances = pd.DataFrame(table)
        return self._utterances

    # -- identity -------------------------------------------------------------------------------------------
    @property
    def corpus(self) -> str:
        return str(self.attrs["corpus"])

    @property
    def model(self) -> str:
        return str(self.attrs["model"])

    @property
    def n_states(self) -> int:
        return self._shape[0]

    @property
    def dim(self) -> int:
        return self._shape[1]

    @property
    def total_frames(self) -> int:
        return self._shape[2]

    def __len__(self) -> int:
        return self._n

    def identity(self) -> dict[str, Any]:
        """What a probe run records to trace its input: file, model, checkpoint, input mode, creation time, and
        ``content_hash`` (:func:`~extract.cache_format.content_fingerprint`: stored at write time, computed here
        for caches written before it existed)."""
        keys = ("schema", "corpus", "language", "model", "base_model", "family", "pretraining", "languages", "checkpoint",
                "weights", "n_layers", "dim", "whisper_input", "precision", "classes", "manifest_hash", "created")
        return {"file": str(self.path), **{k: self.attrs.get(k, "") for k in keys},
                "content_hash": self.content_hash()}

    def content_hash(self) -> str:
        """The cache's content fingerprint (its ``content_hash`` attribute, else computed from the file once)."""
        stored = self.attrs.get("content_hash")
        if stored:
            return str(stored)
        if getattr(self, "_content_hash", None) is None:
            self._content_hash = content_fingerprint(self.utterances, self._h5["pooled/mean"][()])
        return self._content_hash

    def skipped(self) -> pd.DataFrame:
        """Clips extraction could not use: id, path, reason."""
        group = self._h5["skipped"]
        return pd.DataFrame({c: decode_text(group[c][()]) for c in ("id", "path", "reason")})

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
                raise nonfinite_error(self.path, l, "pooled/mean")

    def check_frames(self, layers: Sequence[int] | None = None, block: int = 1 << 16) -> None:
        """:class:`CacheError` naming the first layer whose frames hold NaN or inf (read in blocks of frames)."""
        for l in range(self.n_states) if layers is None else [self._layer_index(l) for l in layers]:
            data = self._h5[layer_name(l)]
            for start in range(0, self.total_frames, block):
                if not np.isfinite(data[start : start + block]).all():
                    raise nonfinite_error(self.path, l, f"frames from row {start}")

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
        """Every frame of one layer, ``(total_frames, dim)`` float16, in one read into a new array."""
        data = self._h5[layer_name(self._layer_index(layer))]
        out = np.empty(data.shape, dtype=np.float16)
        if out.size:
            data.read_direct(out)
        return out

    def frames(self, index: int, layer: int) -> np.ndarray:
        """Frames ``(n_frames, dim)`` float16 of utterance ``index`` (row of :attr:`utterances`) in one layer."""
        row = self.utterances.iloc[index]
        start, count = int(row["offset"]), int(row["n_frames"])
        return self._h5[layer_name(self._layer_index(layer))][start : start + count]

    def frames_block(self, start: int, stop: int, layers: Sequence[int] | None = None) -> np.ndarray:
        """Frames of utterances ``start:stop`` (rows), ``(frames, len(layers), dim)`` float16, read straight into
        one new array (one read per layer): the unit of streaming when a cache does not fit in memory."""
        layers = list(range(self.n_states)) if layers is None else [self._layer_index(l) for l in layers]
        offsets = self.utterances["offset"].to_numpy()
        counts = self.utterances["n_frames"].to_numpy()
        start, stop, _ = slice(start, stop).indices(len(offsets))
        if stop <= start:
            return np.empty((0, len(layers), self.dim), dtype=np.float16)
        first, last = int(offsets[start]), int(offsets[stop - 1] + counts[stop - 1])
        out = np.empty((last - first, len(layers), self.dim), dtype=np.float16)
        if last == first:
            return out
        rows = np.s_[first:last]
        buffer: np.ndarray | None = None
        for j, l in enumerate(layers):
            data = self._h5[layer_name(l)]
            if len(layers) == 1:
                data.read_direct(out.reshape(last - first, self.dim), rows)  # a view: out is contiguous
            elif data.chunks is None:
                data.read_direct(out, rows, np.s_[:, j])  # contiguous layer: HDF5 fills the strided rows itself
            else:  # an older, chunked cache: HDF5 scatters chunks into a strided array ~60x slower than this
                if buffer is None:
                    buffer = np.empty((last - first, self.dim), dtype=np.float16)
                data.read_direct(buffer, rows)
                out[:, j] = buffer
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
