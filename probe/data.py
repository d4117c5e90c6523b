"""Feeding probes from a feature cache: pooled vectors, and frames held in memory or streamed from HDF5.

A cache is opened and read once per (corpus, model) and shared by every head and seed (:class:`CacheData`):

* pooled vectors ``(N, L+1, d)`` float32 (``pooled/mean``) for the Linear and layer-wise probes;
* frames for the frame-level heads: only the last state for Non-Linear and attention, all states for
  Multi-Layer. They are held as float16 on the CUDA device when training there and they fit (:func:`gpu_budget`),
  else in RAM when they fit the memory budget (:func:`default_memory_budget`: half the memory available now), the
  last state being a view of the all-states array when both are needed; otherwise they are streamed
  (:class:`StreamFrames`) batch by batch from the HDF5 file, read ahead in a background thread.

Where the frames live never changes what a run computes: every source batches the same rows in the same order
(:func:`plan_batches` with the run's generator) and sums standardisation statistics over the same chunks, so a
24 GiB machine and a 512 GiB one give the same predictions for the same configuration (tested).

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

MEMORY_FRACTION = 0.5
"""Share of the available RAM (or free GPU memory) that frames may take by default."""

STREAM_PREFETCH = 4
"""Batches read ahead by the streaming source's background thread."""

STATS_CHUNK_BYTES = 64 * 2**20
"""Float32 bytes of frames per step when computing standardisation statistics."""


def total_memory() -> int:
    """Physical memory in bytes (Linux/macOS ``sysconf``; 8 GiB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def available_memory() -> int:
    """Memory available to new allocations now, in bytes (``MemAvailable`` of ``/proc/meminfo``; else free
    pages from ``sysconf``; else half of :func:`total_memory`)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_AVPHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return total_memory() // 2


def default_memory_budget(fraction: float = MEMORY_FRACTION) -> int:
    """Bytes of frames the probes may hold in RAM: ``fraction`` of the memory available now. It only decides
    whether frames are held or streamed, never which batches a run sees, so results do not depend on it."""
    return int(available_memory() * fraction)


def gpu_budget(device: str, fraction: float = MEMORY_FRACTION) -> int:
    """Bytes of frames that may be held on ``device`` when it is a CUDA device (``fraction`` of its free memory),
    else 0."""
    if not device.startswith("cuda") or not torch.cuda.is_available():
        return 0
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return int(free * fraction)


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


def gather_padded_torch(
    data: torch.Tensor, offsets: np.ndarray, lengths: np.ndarray, squeeze: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`gather_padded` for frames held as a torch tensor (on the GPU when the cache fits there): one
    indexed gather on ``data``'s device, the same values and mask."""
    lengths = np.asarray(lengths, dtype=np.int64)
    longest = max(int(lengths.max()), 1) if lengths.size else 1
    steps = torch.arange(longest, device=data.device)
    mask = steps[None, :] < torch.as_tensor(lengths, device=data.device)[:, None]
    index = torch.as_tensor(np.asarray(offsets, dtype=np.int64), device=data.device)[:, None]
    index = index + torch.where(mask, steps[None, :], torch.zeros((), dtype=steps.dtype, device=data.device))
    x = data[index]
    shape = mask.shape + (1,) * (x.dim() - 2)
    x = torch.where(mask.reshape(shape), x, torch.zeros((), dtype=x.dtype, device=x.device))
    return (x.squeeze(2) if squeeze else x), mask


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
        return (self.shift.double() + mean).float().cpu(), var.sqrt().float().cpu()


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


def _frame_stats(
    acc: _FrameStats, data: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, chunked: bool = True
) -> None:
    """Add the frames ``data[offsets[i] : offsets[i] + lengths[i]]`` of every utterance to ``acc``: in chunks of
    :func:`_chunk_rows`, or as one chunk (``chunked=False``, when the caller already chunked the rows the same
    way, as :class:`StreamFrames` does, so both sources sum the same frames in the same order)."""
    per_frame = int(np.prod(data.shape[1:])) * 4
    pieces = _chunk_rows(lengths, np.arange(len(lengths)), per_frame) if chunked else [np.arange(len(lengths))]
    for piece in pieces:
        if len(piece) == 0:
            continue
        slices = [data[o : o + n] for o, n in zip(offsets[piece], lengths[piece])]
        acc.add(torch.cat(slices).float() if isinstance(data, torch.Tensor)
                else torch.from_numpy(np.concatenate(slices)).float())


def _squeezed(value: tuple[torch.Tensor, torch.Tensor], squeeze: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return (value[0].squeeze(0), value[1].squeeze(0)) if squeeze else value


class MemoryFrames:
    """Frames held in memory: ``data`` ``(total_frames, L, d)`` float16 (may be a view of a larger array)."""

    mode = "memory"

    def __init__(
        self, data: np.ndarray | torch.Tensor, offsets: np.ndarray, lengths: np.ndarray, states: Sequence[int]
    ) -> None:
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
        gather = gather_padded_torch if isinstance(self.data, torch.Tensor) else gather_padded
        for batch in plan_batches(rows, self.lengths, batch_size, rng):
            x, mask = gather(self.data, self.offsets[batch], self.lengths[batch], self.squeeze)
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


def _runs(rows: np.ndarray) -> list[tuple[int, int]]:
    """Sorted distinct cache rows as ``[start, stop)`` runs of consecutive rows (one contiguous read each)."""
    if rows.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    return [(int(r[0]), int(r[-1]) + 1) for r in np.split(rows, breaks)]


class StreamFrames:
    """Frames read from the HDF5 cache batch by batch, never all in memory.

    The batches are exactly those of :class:`MemoryFrames` (:func:`plan_batches` over the same rows with the same
    generator): streaming changes how the bytes arrive, never which utterances form a batch or in what order, so a
    run gives the same predictions whatever the memory budget. Each batch is read as contiguous runs of rows (one
    read per run and state), :data:`STREAM_PREFETCH` batches ahead in a background thread. Random access costs
    more than the old block-wise streaming on slow disks; it is only used for caches over the memory budget.
    """

    mode = "stream"

    def __init__(self, cache: FeatureCache, states: Sequence[int], prefetch: int = STREAM_PREFETCH) -> None:
        self.cache = cache
        self.states = tuple(states)
        self.lengths = cache.utterances["n_frames"].to_numpy(np.int64)
        self.offsets = cache.utterances["offset"].to_numpy(np.int64)
        self.prefetch = max(1, int(prefetch))
        self._stats = _StatsMemo()

    @property
    def squeeze(self) -> bool:
        return len(self.states) == 1

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

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        plan = plan_batches(rows, self.lengths, batch_size, rng)
        for batch, data, offsets in self._prefetched(plan):
            x, mask = gather_padded(data, offsets, self.lengths[batch], self.squeeze)
            yield batch, x, mask

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._stats.get(rows)
        if cached is not None:
            return cached
        acc = _FrameStats()
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        per_frame = len(self.states) * self.cache.dim * 4
        for piece, data, offsets in self._prefetched(_chunk_rows(self.lengths, rows, per_frame)):
            _frame_stats(acc, data, offsets, self.lengths[piece], chunked=False)
        value = _squeezed(acc.result((len(self.states), self.cache.dim)), self.squeeze)
        self._stats.put(rows, value)
        return value


class CacheData:
    """Everything the probes read from one cache, each piece read at most once and shared.

    ``memory_budget`` (bytes) bounds the frames held in memory; ``None`` means :func:`default_memory_budget`.
    Call :meth:`prepare` with the needs of all planned runs first, so that one read serves all of them.
    """

    def __init__(self, cache: FeatureCache, memory_budget: int | None = None, device: str = "cpu") -> None:
        self.cache = cache
        self.memory_budget = default_memory_budget() if memory_budget is None else int(memory_budget)
        self.device = device
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

    def _load(self, states: list[int]) -> np.ndarray | torch.Tensor | None:
        """Every frame of ``states`` ``(total_frames, len(states), d)`` float16, read state by state: on the CUDA
        device when it fits there (:func:`gpu_budget`), else in RAM when it fits the memory budget, else None."""
        shape = (self.cache.total_frames, len(states), self.cache.dim)
        nbytes = self.cache.nbytes(states)
        if nbytes <= gpu_budget(self.device):
            held = torch.empty(shape, dtype=torch.float16, device=self.device)
            for j, state in enumerate(states):
                held[:, j] = torch.from_numpy(self.cache.layer(state)).to(self.device)
            return held
        if nbytes > self.memory_budget:
            return None
        data = np.empty(shape, dtype=np.float16)
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
            data = self._load(everything)
            if data is not None:
                self._frames[True] = MemoryFrames(data, offsets, lengths, everything)
                if False not in self._frames:
                    self._frames[False] = MemoryFrames(data[:, last:], offsets, lengths, [last])
            else:
                self._frames[True] = StreamFrames(cache, everything)
        if frames_last and False not in self._frames:
            data = self._load([last])
            self._frames[False] = (MemoryFrames(data, offsets, lengths, [last]) if data is not None
                                   else StreamFrames(cache, [last]))

    def frames(self, all_states: bool) -> FrameSource:
        """The frame source of every state (``all_states``) or of the last one."""
        if all_states not in self._frames:
            self.prepare(frames_last=not all_states, frames_all=all_states)
        return self._frames[all_states]
