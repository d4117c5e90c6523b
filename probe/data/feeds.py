"""What a head reads: the :class:`Feed` protocol (batches of cache rows and their training statistics) and
:class:`PooledFeed`, pooled vectors held in memory. The frame sources (:mod:`probe.data.cache_data`, :mod:`probe.data.stream`,
:mod:`probe.data.transfer_data`) are feeds too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from probe.data.batching import plan_batches


class Feed(Protocol):
    """Batches of one run's inputs: ``(rows, x, mask or None)``, rows being cache row numbers."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(states, d)``: how many states each row's input carries (1 for one state) and their width; the
        head's input shape, which :func:`probe.train.fit.fit_probe` reads from here."""
        ...

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor | None]]: ...

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]: ...


class PooledFeed:
    """Pooled vectors in memory: ``(N, d)`` for the Linear probe, ``(N, L, d)`` for the layer-wise one."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self._ones = np.ones(len(vectors), dtype=np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        d = self.vectors.shape[-1]
        return (1, d) if self.vectors.dim() == 2 else (self.vectors.shape[1], d)

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, None]]:
        for batch in plan_batches(rows, self._ones, batch_size, rng):
            yield batch, self.vectors[torch.from_numpy(batch)], None

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.vectors[torch.from_numpy(np.asarray(rows, dtype=np.int64))].double()
        return x.mean(dim=0).float(), x.std(dim=0, unbiased=False).float()
