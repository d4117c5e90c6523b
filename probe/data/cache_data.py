"""Feeding probes from a feature cache: pooled vectors, and frames held in memory or streamed from HDF5.

A cache is opened and read once per (corpus, model) and shared by every head and seed (:class:`CacheData`):

* pooled vectors ``(N, L+1, d)`` float32 (``pooled/mean``) for the Linear and layer-wise probes;
* frames for the frame-level heads: only the last state for Non-Linear and attention, all states for
  Multi-Layer. They are held as float16 on the CUDA device when training there and they fit (:func:`gpu_budget`),
  else in RAM when they fit the memory budget (:func:`default_memory_budget`: half the memory available now), the
  last state being a view of the all-states array when both are needed; otherwise they are streamed
  (:class:`probe.data.stream.StreamFrames`) a block at a time. Either way each byte is read from disk once per run
  when held, once per epoch for all the seeds trained side by side when streamed, and checked for NaN and inf
  as it is read (the error names the layer).

Where the frames live never changes what a run computes: every source trains on the same blocked batch plan
(:mod:`probe.data.batching`: a per-epoch partition of the cache's rows shared by all seeds, each seed's own batches
within each block) and sums standardisation statistics over the same chunks (:mod:`probe.data.framestats`), so a 24 GiB
machine and a 512 GiB one give the same predictions for the same configuration (tested). A batch's frames come
padded to its longest utterance, still float16 (the heads compute in float32), with a boolean mask (true on valid
frames); padded positions are zero.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Protocol

import numpy as np
import torch

from extract.cache import FeatureCache, nonfinite_error
from probe.data.batching import block_partition, gather_padded, gather_padded_torch, plan_batches, plan_blocks, wanted_rows
from probe.data.feeds import Feed
from probe.data.framestats import FrameStats, StatsMemo, frame_stats, squeezed
from probe.data.stream import Gather, StreamFrames

MEMORY_FRACTION = 0.5
"""Share of the available RAM (or free GPU memory) that frames may take by default."""

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


class FrameSource(Feed, Protocol):
    """Where frame-level heads get their frames: padded float16 batches of cache rows, with masks; a
    :class:`probe.data.feeds.Feed` whose :attr:`shape` is ``(len(states), d)``, read block by block."""

    lengths: np.ndarray
    states: tuple[int, ...]
    mode: str

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """``(rows, x, mask)`` per batch of :func:`plan_batches`; training order with ``rng``, else evaluation
        order."""
        ...

    def partition(self, epoch: int, block_bytes: int) -> list[np.ndarray]:
        """The epoch's blocks of every cache row (:func:`probe.data.batching.block_partition`)."""
        ...

    def block_pass(self, partition: list[np.ndarray], wanted: list[np.ndarray]) -> Iterator[Gather]:
        """For each block in order, a function gathering ``(x, mask)`` for any batch of its ``wanted`` rows."""
        ...

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation per state and feature (``(L, d)``, or ``(d,)`` for one state) over every
        valid frame of ``rows``."""
        ...


def training_batches(
    feed: object, rows: np.ndarray, batch_size: int, rng: np.random.Generator, epoch: int, block_bytes: int
) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor | None]]:
    """One seed's training batches of ``epoch``: the blocked plan (:func:`plan_blocks`) on a frame source, block
    after block; on a feed without blocks (pooled vectors, chained caches) its own :meth:`batches` with ``rng``,
    which is what one block gives."""
    if not hasattr(feed, "block_pass"):
        yield from feed.batches(rows, batch_size, rng)  # type: ignore[attr-defined]
        return
    source: FrameSource = feed  # type: ignore[assignment]
    partition = source.partition(epoch, block_bytes)
    plan = plan_blocks(partition, rows, source.lengths, batch_size, rng)
    for block, gather in zip(plan, source.block_pass(partition, wanted_rows([plan], len(partition)))):
        for batch in block:
            x, mask = gather(batch)
            yield batch, x, mask


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
        self._stats = StatsMemo()

    @property
    def squeeze(self) -> bool:
        return len(self.states) == 1

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.states), int(self.data.shape[-1])

    def _gather(self, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        gather = gather_padded_torch if isinstance(self.data, torch.Tensor) else gather_padded
        return gather(self.data, self.offsets[batch], self.lengths[batch], self.squeeze)

    def partition(self, epoch: int, block_bytes: int) -> list[np.ndarray]:
        """The epoch's blocks (:func:`probe.data.batching.block_partition`), the same as a streamed source's."""
        return block_partition(self.lengths, int(np.prod(self.data.shape[1:])) * 2, epoch, block_bytes)

    def block_pass(self, partition: list[np.ndarray], wanted: list[np.ndarray]) -> Iterator[Gather]:
        """Nothing to read: every block gathers from the frames held."""
        for _ in wanted:
            yield self._gather

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        for batch in plan_batches(rows, self.lengths, batch_size, rng):
            x, mask = self._gather(batch)
            yield batch, x, mask

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self._stats.computed(rows, self._compute_stats)

    def _compute_stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        acc = FrameStats()
        frame_stats(acc, self.data, self.offsets[rows], self.lengths[rows])
        return squeezed(acc.result(tuple(self.data.shape[1:])), self.squeeze)


class CacheData:
    """Everything the probes read from one cache, each piece read at most once and shared.

    ``memory_budget`` (bytes) bounds the frames held in memory; ``None`` means :func:`default_memory_budget`.
    Frames over it are streamed, holding two blocks of the blocked plan at a time within the same budget.
    Call :meth:`prepare` with the needs of all planned runs first, so that one read serves all of them.
    """

    def __init__(self, cache: FeatureCache, memory_budget: int | None = None, device: str = "cpu") -> None:
        self.cache = cache
        self.memory_budget = default_memory_budget() if memory_budget is None else int(memory_budget)
        self.device = device
        self._pooled: np.ndarray | None = None
        self._frames: dict[bool, FrameSource] = {}

    def pooled(self) -> np.ndarray:
        """``pooled/mean``, ``(N, L+1, d)`` float32, read once."""
        if self._pooled is None:
            self._pooled = self.cache.pooled()
        return self._pooled

    def _check(self, frames: np.ndarray | torch.Tensor, state: int, block: int = 1 << 16) -> None:
        """:class:`extract.cache.CacheError` naming ``state`` when the frames just loaded hold NaN or inf (checked
        in memory, so the bytes are read from disk once)."""
        for start in range(0, len(frames), block):
            piece = frames[start : start + block]
            if not bool(torch.isfinite(piece).all() if isinstance(piece, torch.Tensor) else np.isfinite(piece).all()):
                raise nonfinite_error(self.cache.path, state, f"frames from row {start}")

    def _load(self, states: list[int]) -> np.ndarray | torch.Tensor | None:
        """Every frame of ``states`` ``(total_frames, len(states), d)`` float16, read state by state and checked
        for NaN and inf: on the CUDA device when it fits there (:func:`gpu_budget`), else in RAM when it fits the
        memory budget, else None."""
        shape = (self.cache.total_frames, len(states), self.cache.dim)
        nbytes = self.cache.nbytes(states)
        if nbytes <= gpu_budget(self.device):
            held = torch.empty(shape, dtype=torch.float16, device=self.device)
            for j, state in enumerate(states):
                held[:, j] = torch.from_numpy(self.cache.layer(state)).to(self.device)
                self._check(held[:, j], state)
            return held
        if nbytes > self.memory_budget:
            return None
        data = np.empty(shape, dtype=np.float16)
        for j, state in enumerate(states):
            data[:, j] = self.cache.layer(state)
            self._check(data[:, j], state)
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
                self._frames[True] = StreamFrames(cache, everything, budget=self.memory_budget)
        if frames_last and False not in self._frames:
            data = self._load([last])
            self._frames[False] = (MemoryFrames(data, offsets, lengths, [last]) if data is not None
                                   else StreamFrames(cache, [last], budget=self.memory_budget))
        every, one = self._frames.get(True), self._frames.get(False)
        if isinstance(every, StreamFrames) and isinstance(one, MemoryFrames) and isinstance(one.data, np.ndarray):
            every.budget = self.memory_budget - one.data.nbytes  # the last state held in RAM takes its share

    def frames(self, all_states: bool) -> FrameSource:
        """The frame source of every state (``all_states``) or of the last one."""
        if all_states not in self._frames:
            self.prepare(frames_last=not all_states, frames_all=all_states)
        return self._frames[all_states]
