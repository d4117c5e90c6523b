"""Feeding one probe from several caches of the same model (cross-corpus transfer, :mod:`probe.run.transfer`).

The caches' rows are numbered one after the other (cache ``i``'s row ``r`` is global row ``bases[i] + r``).
Pooled vectors are concatenated in memory. Frames come from each cache's own source
(:meth:`probe.data.cache_data.CacheData.frames`: in memory or streamed, the memory budget shared in proportion to the caches'
sizes) and are chained by :class:`ChainedFrames`: a training batch holds rows of one cache, and the caches' batches
are interleaved at random in proportion to the rows each has left, so an epoch sees every corpus throughout.
Standardisation statistics over rows of several caches are the exact pooled mean and variance of their frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import torch

from extract.cache import FeatureCache
from probe.data.cache_data import CacheData, FrameSource, default_memory_budget


class TransferDataError(ValueError):
    """Caches that cannot feed one probe together (different models or shapes)."""


def _combine_stats(parts: Sequence[tuple[int, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled mean and standard deviation from ``(count, mean, std)`` of disjoint sets."""
    parts = [p for p in parts if p[0] > 0]
    if len(parts) == 1:
        return parts[0][1], parts[0][2]
    total = float(sum(n for n, _, _ in parts))
    mean = sum(n * m.double() for n, m, _ in parts) / total
    var = sum(n * (s.double() ** 2 + (m.double() - mean) ** 2) for n, m, s in parts) / total
    return mean.float(), var.clamp(min=0.0).sqrt().float()


class ChainedFrames:
    """Frame sources of several caches behind one row numbering (see the module docstring)."""

    def __init__(self, sources: Sequence[FrameSource], bases: Sequence[int]) -> None:
        self.sources = list(sources)
        self.bases = np.asarray(bases, dtype=np.int64)
        self.lengths = np.concatenate([s.lengths for s in self.sources]).astype(np.int64)
        self.states = self.sources[0].states
        self.mode = "+".join(dict.fromkeys(s.mode for s in self.sources))
        self._ends = self.bases + np.array([len(s.lengths) for s in self.sources], dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        return self.sources[0].shape

    def _local(self, rows: np.ndarray) -> list[np.ndarray]:
        rows = np.asarray(rows, dtype=np.int64)
        return [rows[(rows >= b) & (rows < e)] - b for b, e in zip(self.bases, self._ends)]

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        local = self._local(rows)
        live = [i for i, r in enumerate(local) if len(r)]
        iterators = {i: self.sources[i].batches(local[i], batch_size, rng) for i in live}
        left = {i: len(local[i]) for i in live}
        while iterators:
            keys = sorted(iterators)
            if rng is None:
                i = keys[0]
            else:
                weights = np.array([max(left[k], 1) for k in keys], dtype=np.float64)
                i = keys[int(rng.choice(len(keys), p=weights / weights.sum()))]
            try:
                batch, x, mask = next(iterators[i])
            except StopIteration:
                del iterators[i]
                continue
            left[i] -= len(batch)
            yield batch + self.bases[i], x, mask

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        parts = []
        for source, local in zip(self.sources, self._local(rows)):
            if len(local):
                mean, std = source.stats(local)
                parts.append((int(source.lengths[local].sum()), mean, std))
        return _combine_stats(parts)


class TransferData:
    """Everything a transfer probe reads from the caches of one model, each read at most once and shared."""

    def __init__(self, caches: Sequence[FeatureCache], memory_budget: int | None = None) -> None:
        if not caches:
            raise TransferDataError("no cache to read")
        first = caches[0]
        for cache in caches[1:]:
            if (cache.model, cache.n_states, cache.dim) != (first.model, first.n_states, first.dim):
                raise TransferDataError(
                    f"{cache.path} ({cache.model}, {cache.n_states} states × {cache.dim}) cannot be mixed with "
                    f"{first.path} ({first.model}, {first.n_states} × {first.dim}): a probe never mixes backbones")
        self.caches = list(caches)
        sizes = [len(c) for c in caches]
        self.bases = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        budget = default_memory_budget() if memory_budget is None else int(memory_budget)
        weights = np.array([max(c.nbytes(list(range(c.n_states))), 1) for c in caches], dtype=np.float64)
        self.data = [CacheData(c, int(budget * w / weights.sum())) for c, w in zip(caches, weights)]
        self.table = pd.concat([c.utterances.assign(source=i) for i, c in enumerate(caches)], ignore_index=True)
        self._pooled: np.ndarray | None = None
        self._frames: dict[bool, FrameSource] = {}
        self.feeds: dict[str, object] = {}  # pooled feeds built once per model (probe.run.transfer_run)

    @property
    def n_states(self) -> int:
        return self.caches[0].n_states

    def rows(self, source: int, local: np.ndarray) -> np.ndarray:
        """Global rows of cache ``source``'s rows ``local``."""
        return np.asarray(local, dtype=np.int64) + self.bases[source]

    def labels(self, classes: Sequence[str]) -> np.ndarray:
        """Class index of every global row (-1 outside ``classes``)."""
        index = {c: i for i, c in enumerate(classes)}
        return self.table["label"].map(lambda c: index.get(c, -1)).to_numpy(np.int64)

    def pooled(self) -> np.ndarray:
        """``(N, L+1, d)`` pooled vectors of every cache, concatenated."""
        if self._pooled is None:
            parts = [d.pooled() for d in self.data]
            self._pooled = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return self._pooled

    def frames(self, all_states: bool) -> FrameSource:
        """Frames of every state (``all_states``) or of the last one, of every cache."""
        if all_states not in self._frames:
            sources = [d.frames(all_states) for d in self.data]
            self._frames[all_states] = sources[0] if len(sources) == 1 else ChainedFrames(sources, self.bases)
        return self._frames[all_states]

    def close(self) -> None:
        for cache in self.caches:
            cache.close()
