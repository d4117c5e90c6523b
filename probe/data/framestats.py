"""Standardisation statistics of frames: mean and standard deviation per state and feature, summed over the same
chunks of rows (about :data:`STATS_CHUNK_BYTES` as float32 each) whatever the frames' source, so that frames held
in memory and frames streamed from the cache give bit-identical statistics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

STATS_CHUNK_BYTES = 64 * 2**20
"""Float32 bytes of frames per step when computing standardisation statistics."""


class FrameStats:
    """Mean and standard deviation of frames by shifted sums (shift: the first chunk's mean), float32 within a
    chunk and float64 across chunks."""

    def __init__(self) -> None:
        self.count = 0
        self.shift: torch.Tensor | None = None
        self.s1: torch.Tensor | None = None
        self.s2: torch.Tensor | None = None

    def add(self, frames: torch.Tensor) -> None:
        """Add valid frames ``(n, ...)`` float32; ``frames`` is overwritten."""
        n = frames.shape[0]
        if n == 0:
            return
        if self.shift is None:
            self.shift = frames.sum(dim=0) / n
        frames.sub_(self.shift)
        s1 = frames.sum(dim=0).double()
        s2 = frames.square_().sum(dim=0).double()
        self.s1 = s1 if self.s1 is None else self.s1 + s1
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.count += n

    def result(self, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shift is None or self.s1 is None or self.s2 is None:
            return torch.zeros(shape), torch.ones(shape)
        mean = self.s1 / self.count
        var = (self.s2 / self.count - mean**2).clamp(min=0.0)
        return (self.shift.double() + mean).float().cpu(), var.sqrt().float().cpu()


class StatsMemo:
    """Statistics memoised per set of rows (heads of the same split share them)."""

    def __init__(self) -> None:
        self._memo: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self._memo.get(np.sort(np.asarray(rows, dtype=np.int64)).tobytes())

    def put(self, rows: np.ndarray, value: tuple[torch.Tensor, torch.Tensor]) -> None:
        self._memo[np.sort(np.asarray(rows, dtype=np.int64)).tobytes()] = value

    def computed(self, rows: np.ndarray, compute: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The statistics of ``rows``: memoised, else ``compute(sorted rows)``, kept for the next head."""
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        key = rows.tobytes()
        if key not in self._memo:
            self._memo[key] = compute(rows)
        return self._memo[key]


def chunk_rows(lengths: np.ndarray, rows: np.ndarray, bytes_per_frame: int) -> list[np.ndarray]:
    """Consecutive pieces of ``rows`` whose frames take about :data:`STATS_CHUNK_BYTES` as float32."""
    budget = max(STATS_CHUNK_BYTES // max(bytes_per_frame, 1), 1)
    pieces, start, frames = [], 0, 0
    for i, row in enumerate(rows):
        frames += int(lengths[row])
        if frames >= budget:
            pieces.append(rows[start : i + 1])
            start, frames = i + 1, 0
    if start < len(rows):
        pieces.append(rows[start:])
    return pieces


def frame_stats(
    acc: FrameStats, data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, chunked: bool = True
) -> None:
    """Add the frames ``data[offsets[i] : offsets[i] + lengths[i]]`` of every utterance to ``acc``: in chunks of
    :func:`chunk_rows`, or as one chunk (``chunked=False``, when the caller already chunked the rows the same
    way, as :class:`probe.data.stream.StreamFrames` does, so both sources sum the same frames in the same order)."""
    per_frame = int(np.prod(data.shape[1:])) * 4
    pieces = chunk_rows(lengths, np.arange(len(lengths)), per_frame) if chunked else [np.arange(len(lengths))]
    for piece in pieces:
        if len(piece) == 0:
            continue
        slices = [data[o : o + n] for o, n in zip(offsets[piece], lengths[piece])]
        acc.add(torch.cat(slices).float() if isinstance(data, torch.Tensor)
                else torch.from_numpy(np.concatenate(slices)).float())


def squeezed(value: tuple[torch.Tensor, torch.Tensor], squeeze: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return (value[0].squeeze(0), value[1].squeeze(0)) if squeeze else value
