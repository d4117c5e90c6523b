"""Feeding probes from a feature cache: pooled vectors, and frames held in memory or streamed from HDF5.

A cache is opened and read once per (corpus, model) and shared by every head and seed (:class:`CacheData`):

* pooled vectors ``(N, L+1, d)`` float32 (``pooled/mean``) for the Linear and layer-wise probes;
* frames for the frame-level heads: only the last state for Non-Linear and attention, all states for
  Multi-Layer. They are held in memory as float16 when they fit in the memory budget
  (:func:`default_memory_budget`, 25% of RAM), the last state being a view of the all-states array when both are
  needed; otherwise they are streamed (:class:`StreamFrames`) in large contiguous reads of blocks of consecutive
  utterances (:meth:`extract.cache.FeatureCache.frames_block`), shuffled at the level of blocks and mixed in a
  buffer of several blocks, the next buffer read in the background while the current one trains.

Batches are lists of cache rows (:func:`plan_batches`): shuffled, then sorted by length within buckets of a few
batches so that little compute goes to padding (about 8% on the demo), then the batches are shuffled. A batch's
frames come padded to its longest utterance, still float16 (the heads compute in float32: standardisation promotes
them), with a boolean mask (true on valid frames); padded positions are zero.

Whole states are loaded with :meth:`~extract.cache.FeatureCache.layer` (one contiguous read each); statistics for
standardisation are over every valid frame of the training rows, memoised per set of rows so that heads of the
same split share them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from extract.cache import FeatureCache

BUCKET_BATCHES = 8
"""Training batches are sorted by length within buckets of this many batches (then the batches are shuffled)."""

STREAM_BLOCK_BYTES = 256 * 2**20
"""Target size of one contiguous streamed read (float16 frames of consecutive utterances)."""

STREAM_BUFFER_BLOCKS = 4
"""Streamed blocks mixed together (and shuffled across) at a time."""

STATS_CHUNK_BYTES = 64 * 2**20
"""Float32 bytes of frames per step when computing standardisation statistics."""


def total_memory() -> int:
    """Physical memory in bytes (Linux/macOS ``sysconf``; 8 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def default_memory_budget(fraction: float = 0.25) -> int:
    """Bytes of frames the probes may hold in memory: ``fraction`` of physical RAM."""
    return int(total_memory() * fraction)


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


def plan_batches(
    rows: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    bucket: int = BUCKET_BATCHES,
) -> list[np.ndarray]:
    """Split ``rows`` into batches. With ``rng`` (training): shuffle, sort by ``lengths`` within buckets of
    ``bucket`` batches, shuffle the batches. Without (evaluation): sorted by length, in order.

    ``lengths`` is indexed by row (``lengths[rows]`` are the rows' lengths).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return []
    if rng is None:
        ordered = rows[np.argsort(lengths[rows], kind="stable")]
        return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    shuffled = rng.permutation(rows)
    batches: list[np.ndarray] = []
    span = batch_size * max(1, bucket)
    for start in range(0, len(shuffled), span):
        chunk = shuffled[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def gather_padded(
    data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, squeeze: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of utterances starting at ``offsets`` (rows of ``data`` ``(frames, L, d)``) with ``lengths``, zero
    padded: ``(B, T, L, d)`` (``(B, T, d)`` when ``squeeze``) in ``data``'s dtype (float16; heads compute in
    float32), and the mask ``(B, T)``, true on valid frames. One slice copy per utterance (NumPy copies float16
    slices several times faster than torch's gather)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    longest = max(int(lengths.max()), 1) if lengths.size else 1
    out = np.empty((len(lengths), longest) + tuple(data.shape[1:]), dtype=data.dtype)
    for i, (offset, n) in enumerate(zip(np.asarray(offsets, dtype=np.int64), lengths)):
        out[i, :n] = data[offset : offset + n]
        out[i, n:] = 0
    mask = np.arange(longest)[None, :] < lengths[:, None]
    x = torch.from_numpy(out)
    return (x.squeeze(2) if squeeze else x), torch.from_numpy(mask)


class FrameSource(Protocol):
    """Where frame-level heads get their frames: padded float16 batches of cache rows, with masks."""

    lengths: np.ndarray
    states: tuple[int, ...]
    mode: str

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """``(rows, x, mask)`` per batch; training order with ``rng``, else evaluation order."""
        ...

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation per state and feature (``(L, d)``, or ``(d,)`` for one state) over every
        valid frame of ``rows``."""
        ...


class _FrameStats:
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
        return (self.shift.double() + mean).float(), var.sqrt().float()


class _StatsMemo:
    """Statistics memoised per set of rows (heads of the same split share them)."""

    def __init__(self) -> None:
        self._memo: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self._memo.get(np.sort(np.asarray(rows, dtype=np.int64)).tobytes())

    def put(self, rows: np.ndarray, value: tuple[torch.Tensor, torch.Tensor]) -> None:
        self._memo[np.sort(np.asarray(rows, dtype=np.int64)).tobytes()] = value


def _chunk_rows(lengths: np.ndarray, rows: np.ndarray, bytes_per_frame: int) -> list[np.ndarray]:
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


def _frame_stats(acc: _FrameStats, data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> None:
    """Add the frames ``data[offsets[i] : offsets[i] + lengths[i]]`` of every utterance to ``acc``, in chunks."""
    per_frame = int(np.prod(data.shape[1:])) * 4
    for piece in _chunk_rows(lengths, np.arange(len(lengths)), per_frame):
        frames = np.concatenate([data[o : o + n] for o, n in zip(offsets[piece], lengths[piece])])
        acc.add(torch.from_numpy(frames).float())


def _squeezed(value: tuple[torch.Tensor, torch.Tensor], squeeze: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return (value[0].squeeze(0), value[1].squeeze(0)) if squeeze else value


class MemoryFrames:
    """Frames held in memory: ``data`` ``(total_frames, L, d)`` float16 (may be a view of a larger array)."""

    mode = "memory"

    def __init__(self, data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, states: Sequence[int]) -> None:
        self.data = data
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.states = tuple(states)
        self._stats = _StatsMemo()

    @property
    def squeeze(self) -> bool:
        return len(self.states) == 1

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        for batch in plan_batches(rows, self.lengths, batch_size, rng):
            x, mask = gather_padded(self.data, self.offsets[batch], self.lengths[batch], self.squeeze)
            yield batch, x, mask

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._stats.get(rows)
        if cached is not None:
            return cached
        acc = _FrameStats()
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        _frame_stats(acc, self.data, self.offsets[rows], self.lengths[rows])
        value = _squeezed(acc.result(tuple(self.data.shape[1:])), self.squeeze)
        self._stats.put(rows, value)
        return value


@dataclass(frozen=True)
class _Block:
    """Consecutive cache rows ``start:stop`` read in one piece."""

    start: int
    stop: int


class StreamFrames:
    """Frames streamed from the HDF5 cache in contiguous blocks of utterances, never all in memory.

    Training order: the blocks holding wanted rows are shuffled, taken :data:`STREAM_BUFFER_BLOCKS` at a time
    into a buffer whose wanted rows are batched like :func:`plan_batches`; the next buffer is read in a
    background thread meanwhile. Evaluation reads the blocks in file order.
    """

    mode = "stream"

    def __init__(
        self,
        cache: FeatureCache,
        states: Sequence[int],
        block_bytes: int = STREAM_BLOCK_BYTES,
        buffer_blocks: int = STREAM_BUFFER_BLOCKS,
    ) -> None:
        self.cache = cache
        self.states = tuple(states)
        self.lengths = cache.utterances["n_frames"].to_numpy(np.int64)
        self.offsets = cache.utterances["offset"].to_numpy(np.int64)
        self.buffer_blocks = max(1, buffer_blocks)
        per_frame = len(self.states) * cache.dim * 2
        self.blocks = self._make_blocks(max(block_bytes // per_frame, 1))
        self._stats = _StatsMemo()

    @property
    def squeeze(self) -> bool:
        return len(self.states) == 1

    def _make_blocks(self, frames_per_block: int) -> list[_Block]:
        blocks, start, frames = [], 0, 0
        for row, n in enumerate(self.lengths):
            frames += int(n)
            if frames >= frames_per_block:
                blocks.append(_Block(start, row + 1))
                start, frames = row + 1, 0
        if start < len(self.lengths):
            blocks.append(_Block(start, len(self.lengths)))
        return blocks

    def _read(self, blocks: Sequence[_Block], wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read ``blocks`` (each trimmed to its first..last wanted row) into one array: the frames, the wanted
        rows, and their offsets in the array."""
        spans, rows, offsets, base = [], [], [], 0
        for block in blocks:
            inside = np.flatnonzero(wanted[block.start : block.stop]) + block.start
            first, last = int(inside[0]), int(inside[-1]) + 1
            start_frame, count = frame_span(self.offsets, self.lengths, first, last)
            spans.append((first, last, base, count))
            rows.append(inside)
            offsets.append(self.offsets[inside] - start_frame + base)
            base += count
        data = np.empty((base, len(self.states), self.cache.dim), dtype=np.float16)
        for first, last, at, count in spans:
            read_frames(self.cache, first, last, self.states, data[at : at + count])
        return data, np.concatenate(rows), np.concatenate(offsets)

    def _buffers(
        self, rows: np.ndarray, rng: np.random.Generator | None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        wanted = np.zeros(len(self.lengths), dtype=bool)
        wanted[np.asarray(rows, dtype=np.int64)] = True
        blocks = [b for b in self.blocks if wanted[b.start : b.stop].any()]
        if rng is not None:
            blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        groups = [blocks[i : i + self.buffer_blocks] for i in range(0, len(blocks), self.buffer_blocks)]
        if not groups:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._read, groups[0], wanted)
            for i in range(len(groups)):
                current = pending.result()
                if i + 1 < len(groups):
                    pending = pool.submit(self._read, groups[i + 1], wanted)
                yield current

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        for data, buffer_rows, buffer_offsets in self._buffers(rows, rng):
            local = np.arange(len(buffer_rows))
            for batch in plan_batches(local, self.lengths[buffer_rows], batch_size, rng):
                x, mask = gather_padded(data, buffer_offsets[batch], self.lengths[buffer_rows[batch]], self.squeeze)
                yield buffer_rows[batch], x, mask

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._stats.get(rows)
        if cached is not None:
            return cached
        acc = _FrameStats()
        for data, buffer_rows, buffer_offsets in self._buffers(rows, None):
            _frame_stats(acc, data, buffer_offsets, self.lengths[buffer_rows])
        value = _squeezed(acc.result((len(self.states), self.cache.dim)), self.squeeze)
        self._stats.put(rows, value)
        return value


class CacheData:
    """Everything the probes read from one cache, each piece read at most once and shared.

    ``memory_budget`` (bytes) bounds the frames held in memory; ``None`` means :func:`default_memory_budget`.
    Call :meth:`prepare` with the needs of all planned runs first, so that one read serves all of them.
    """

    def __init__(self, cache: FeatureCache, memory_budget: int | None = None) -> None:
        self.cache = cache
        self.memory_budget = default_memory_budget() if memory_budget is None else int(memory_budget)
        self._pooled: np.ndarray | None = None
        self._frames: dict[bool, FrameSource] = {}

    @property
    def n_states(self) -> int:
        return self.cache.n_states

    @property
    def dim(self) -> int:
        return self.cache.dim

    def pooled(self) -> np.ndarray:
        """``pooled/mean``, ``(N, L+1, d)`` float32, read once."""
        if self._pooled is None:
            self._pooled = self.cache.pooled()
        return self._pooled

    def _load(self, states: list[int]) -> np.ndarray:
        """Every frame of ``states`` in memory, ``(total_frames, len(states), d)`` float16, read state by state."""
        data = np.empty((self.cache.total_frames, len(states), self.cache.dim), dtype=np.float16)
        for j, state in enumerate(states):
            data[:, j] = self.cache.layer(state)
        return data

    def prepare(self, frames_last: bool, frames_all: bool) -> None:
        """Load (or set up streaming of) the frames the planned heads need, preferring a single read."""
        cache = self.cache
        offsets = cache.utterances["offset"].to_numpy(np.int64)
        lengths = cache.utterances["n_frames"].to_numpy(np.int64)
        last = cache.n_states - 1
        everything = list(range(cache.n_states))
        if frames_all and True not in self._frames:
            if cache.nbytes(everything) <= self.memory_budget:
                data = self._load(everything)
                self._frames[True] = MemoryFrames(data, offsets, lengths, everything)
                if False not in self._frames:
                    self._frames[False] = MemoryFrames(data[:, last:], offsets, lengths, [last])
            else:
                self._frames[True] = StreamFrames(cache, everything)
        if frames_last and False not in self._frames:
            if cache.nbytes([last]) <= self.memory_budget:
                self._frames[False] = MemoryFrames(self._load([last]), offsets, lengths, [last])
            else:
                self._frames[False] = StreamFrames(cache, [last])

    def frames(self, all_states: bool) -> FrameSource:
        """The frame source of every state (``all_states``) or of the last one."""
        if all_states not in self._frames:
            self.prepare(frames_last=not all_states, frames_all=all_states)
        return self._frames[all_states]
