"""Frames streamed from the HDF5 cache when they do not fit in memory: read a block at a time, each byte once per
epoch for every seed trained side by side.

Training reads follow the blocked plan (:mod:`probe.data.batching`): for each block of the epoch's partition, the rows
that any seed trains on are read in one go (sorted, as contiguous runs of rows, one read per run and state), the
next block is read ahead in a background thread, and every seed's batches of the block are gathered from it. So
at most two blocks are held (one in use, the next being read); a memory budget below that is refused with a
clear error rather than exceeded. The validation rows of the runs being trained are read once and held when they
fit beside that (:meth:`StreamFrames.hold`: validation is predicted after every epoch); other evaluation reads go
batch by batch, a few batches ahead. Standardisation statistics of the seeds trained side by side come from one
read of their training rows (:meth:`StreamFrames.stats_shared`). Every read is checked for NaN and inf (the error
names the layer) and counted in :attr:`StreamFrames.bytes_read`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from extract.cache import FeatureCache, nonfinite_error
from probe.data.batching import block_partition, count_blocks, gather_padded, plan_batches
from probe.data.framestats import FrameStats, StatsMemo, chunk_rows, frame_stats, squeezed

STREAM_PREFETCH = 4
"""Batches read ahead by the streaming source's background thread during evaluation."""

Gather = Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]]
"""Padded frames and mask of a batch of rows of the current block."""


def frame_span(offsets: np.ndarray, lengths: np.ndarray, start: int, stop: int) -> tuple[int, int]:
    """First frame and frame count of cache rows ``start:stop``."""
    if stop <= start:
        return 0, 0
    first = int(offsets[start])
    return first, int(offsets[stop - 1] + lengths[stop - 1]) - first


def read_frames(cache: FeatureCache, start: int, stop: int, states: Sequence[int], out: np.ndarray) -> None:
    """Read the frames of cache rows ``start:stop`` into ``out`` ``(frames, len(states), d)`` float16, one
    contiguous read per state copied into place (HDF5 reads straight into a strided destination are much slower)."""
    for j, state in enumerate(states):
        out[:, j] = cache.frames_block(start, stop, [state])[:, 0]


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct cache rows as ``[start, stop)`` runs of consecutive rows (one contiguous read each)."""
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(rows, breaks)]


class StreamFrames:
    """Frames read from the HDF5 cache, never all in memory.

    Training batches are exactly those of :class:`probe.data.cache_data.MemoryFrames` (the same blocked plan with the same
    generators), so a run gives the same predictions whatever the memory budget. ``budget`` (bytes, or None for
    no check) bounds what a training pass may hold: two blocks.
    """

    mode = "stream"

    def __init__(self, cache: FeatureCache, states: Sequence[int], prefetch: int = STREAM_PREFETCH,
                 budget: int | None = None) -> None:
        self.cache = cache
        self.states = tuple(states)
        self.lengths = cache.utterances["n_frames"].to_numpy(np.int64)
        self.offsets = cache.utterances["offset"].to_numpy(np.int64)
        self.prefetch = max(1, int(prefetch))
        self.budget = budget
        self.bytes_read = 0
        self._stats = StatsMemo()
        self._held: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # rows, packed frames, their offsets

    @property
    def squeeze(self) -> bool:
        return len(self.states) == 1

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.states), self.cache.dim

    @property
    def bytes_per_frame(self) -> int:
        return len(self.states) * self.cache.dim * 2

    def _check_finite(self, data: np.ndarray, order: np.ndarray, local: np.ndarray) -> None:
        for j, state in enumerate(self.states):
            finite = np.isfinite(data[:, j]).all(axis=-1)
            if not finite.all():
                row = order[np.searchsorted(local, int(np.argmin(finite)), side="right") - 1]
                raise nonfinite_error(self.cache.path, state, f"frames of utterance row {row}")

    def _read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frames of ``rows`` packed in one array ``(frames, len(states), d)`` and each row's offset in it."""
        order = np.unique(rows)
        local = np.zeros(len(order), dtype=np.int64)
        local[1:] = np.cumsum(self.lengths[order])[:-1]
        data = np.empty((int(self.lengths[order].sum()), len(self.states), self.cache.dim), dtype=np.float16)
        at = 0
        for start, stop in _runs(order):
            _, count = frame_span(self.offsets, self.lengths, start, stop)
            read_frames(self.cache, start, stop, self.states, data[at : at + count])
            at += count
        self.bytes_read += data.nbytes
        self._check_finite(data, order, local)
        return data, local[np.searchsorted(order, rows)]

    def _prefetched(self, plan: list[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(batch, data, offsets)`` for each batch of ``plan``, read ahead in a background thread."""
        if not plan:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = [pool.submit(self._read, batch) for batch in plan[: self.prefetch]]
            for i, batch in enumerate(plan):
                data, offsets = pending.pop(0).result()
                if i + self.prefetch < len(plan):
                    pending.append(pool.submit(self._read, plan[i + self.prefetch]))
                yield batch, data, offsets

    @property
    def held_bytes(self) -> int:
        """Bytes of the rows held for evaluation (:meth:`hold`)."""
        return 0 if self._held is None else self._held[1].nbytes

    def reserve(self, block_bytes: int) -> int:
        """An upper bound of what a training pass holds with blocks of ``block_bytes``: two blocks (one when the
        frames make a single block), each at most its share of the frames plus one utterance."""
        total = int(self.lengths.sum()) * self.bytes_per_frame
        n = count_blocks(total, block_bytes)
        block = min(total, -(-total // n) + int(self.lengths.max(initial=0)) * self.bytes_per_frame)
        return (2 if n > 1 else 1) * block

    def hold(self, rows: np.ndarray, block_bytes: int) -> bool:
        """Read ``rows`` once and serve every evaluation batch made only of them from memory (validation is
        predicted after every epoch), when they fit the budget beside a training pass (:meth:`reserve`); else
        keep reading evaluation batches from the file. Replaces what was held before."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        self._held = None
        need = int(self.lengths[rows].sum()) * self.bytes_per_frame
        if self.budget is not None and need + self.reserve(block_bytes) > self.budget:
            return False
        data, local = self._read(rows)
        self._held = (rows, data, local)
        return True

    def release(self) -> None:
        """Drop the rows held by :meth:`hold` (when their runs are done)."""
        self._held = None

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Batch by batch (:func:`probe.data.batching.plan_batches`): evaluation (from the rows held, when they cover
        ``rows``), and feeds that do not plan blocks."""
        plan = plan_batches(rows, self.lengths, batch_size, rng)
        held = self._held
        if held is not None and np.isin(rows, held[0]).all():
            for batch in plan:
                x, mask = gather_padded(held[1], held[2][np.searchsorted(held[0], batch)], self.lengths[batch],
                                        self.squeeze)
                yield batch, x, mask
            return
        for batch, data, offsets in self._prefetched(plan):
            x, mask = gather_padded(data, offsets, self.lengths[batch], self.squeeze)
            yield batch, x, mask

    def partition(self, epoch: int, block_bytes: int) -> list[np.ndarray]:
        """The epoch's blocks of every cache row (:func:`probe.data.batching.block_partition`)."""
        return block_partition(self.lengths, self.bytes_per_frame, epoch, block_bytes)

    def _check_budget(self, wanted: list[np.ndarray]) -> None:
        sizes = [int(self.lengths[rows].sum()) * self.bytes_per_frame for rows in wanted]
        held = (2 if len(wanted) > 1 else 1) * max(sizes, default=0)
        if self.budget is not None and held + self.held_bytes > self.budget:
            raise MemoryError(
                f"{self.cache.path}: streaming needs {held / 2**20:.3g} MiB of frames in memory "
                f"({'two blocks: one in use, the next read ahead' if len(wanted) > 1 else 'one block'}), above the "
                f"memory budget of {(self.budget - self.held_bytes) / 2**20:.3g} MiB left; raise the budget "
                f"(--memory-gb) to at least {(held + self.held_bytes) / 2**30:.3g} GiB")

    def block_pass(self, partition: list[np.ndarray], wanted: list[np.ndarray]) -> Iterator[Gather]:
        """One pass over the blocks of ``partition``: for each block, its ``wanted`` rows read once (the next
        block's read ahead in a background thread) and a function gathering any batch of them."""
        self._check_budget(wanted)
        if not wanted:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._read, wanted[0])
            for b, rows in enumerate(wanted):
                data, local = pending.result()
                if b + 1 < len(wanted):
                    pending = pool.submit(self._read, wanted[b + 1])

                def gather(batch: np.ndarray, rows: np.ndarray = rows, data: np.ndarray = data,
                           local: np.ndarray = local) -> tuple[torch.Tensor, torch.Tensor]:
                    return gather_padded(data, local[np.searchsorted(rows, batch)], self.lengths[batch], self.squeeze)

                yield gather
                del data, local, gather

    def stats_shared(self, row_sets: Sequence[np.ndarray]) -> None:
        """Statistics of several row sets (the seeds trained side by side) from one read of their union, memoised
        for :meth:`stats`: each set's chunks are summed exactly as :meth:`stats` sums them (bit-identical), the
        rows read once in order and dropped once no set's next chunk needs them."""
        per_frame = len(self.states) * self.cache.dim * 4
        sets: dict[bytes, np.ndarray] = {}
        for rows in row_sets:
            rows = np.sort(np.asarray(rows, dtype=np.int64))
            if self._stats.get(rows) is None:
                sets.setdefault(rows.tobytes(), rows)
        if len(sets) < 2:
            return
        todo = list(sets.values())
        chunks = [[c for c in chunk_rows(self.lengths, rows, per_frame) if len(c)] for rows in todo]
        accs = [FrameStats() for _ in todo]
        union = np.unique(np.concatenate(todo))
        loaded: dict[int, np.ndarray] = {}
        read_to, following = -1, [0] * len(todo)
        for last, i, j in sorted((int(c[-1]), i, j) for i, cs in enumerate(chunks) for j, c in enumerate(cs)):
            if last > read_to:
                new = union[(union > read_to) & (union <= last)]
                data, local = self._read(new)
                loaded.update((int(r), data[o : o + self.lengths[r]]) for r, o in zip(new, local))
                read_to = last
            accs[i].add(torch.from_numpy(np.concatenate([loaded[int(r)] for r in chunks[i][j]])).float())
            following[i] = j + 1
            low = min((int(cs[k][0]) for cs, k in zip(chunks, following) if k < len(cs)), default=read_to + 1)
            for row in [r for r in loaded if r < low]:
                del loaded[row]
        for rows, acc in zip(todo, accs):
            self._stats.put(rows, squeezed(acc.result((len(self.states), self.cache.dim)), self.squeeze))

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Statistics over the same chunks as :class:`probe.data.cache_data.MemoryFrames` (bit-identical results)."""
        return self._stats.computed(rows, self._compute_stats)

    def _compute_stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        acc = FrameStats()
        per_frame = len(self.states) * self.cache.dim * 4
        for piece, data, offsets in self._prefetched(chunk_rows(self.lengths, rows, per_frame)):
            frame_stats(acc, data, offsets, self.lengths[piece], chunked=False)
        return squeezed(acc.result((len(self.states), self.cache.dim)), self.squeeze)
