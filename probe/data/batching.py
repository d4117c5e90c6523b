"""Which cache rows form each training batch: the plain plan, the blocked plan, and padded gathers.

A training epoch of a frame-level head is planned in **blocks** (:func:`block_partition`): the cache's rows are
split at random into ``n_blocks = ceil(bytes of every row's frames for the head's states / block_bytes)`` blocks of
about equal size. The split depends on the cache, the states and the epoch only (a generator seeded by
(:data:`BLOCK_SEED`, epoch)), never on the run's seed, split or memory budget, so every seed trained on a cache
sees the same blocks in the same order. Each seed then batches *its own* training rows of each block with its own
generator (:func:`plan_blocks`: the length bucketing of :func:`plan_batches`), block after block. A random
partition followed by random batching within blocks gives batches distributed like a global shuffle, and lets a
cache that does not fit in memory be read one block at a time, once per epoch for all the seeds trained side by
side (:mod:`probe.train.sidebyside`). With one block (every cache of up to :data:`BLOCK_BYTES` of frames) the plan is
exactly :func:`plan_batches` over the run's rows, draw for draw.
"""

from __future__ import annotations

import numpy as np
import torch

BUCKET_BATCHES = 8
"""Training batches are sorted by length within buckets of this many batches (then the batches are shuffled)."""

BLOCK_BYTES = 2**30
"""Protocol constant: float16 bytes of frames per block of the blocked plan (recorded in every run's config as
``block_bytes``). The same on every machine; a streamed cache needs two blocks in memory (one in use, the next
read ahead)."""

BLOCK_SEED = 20240914
"""Seeds the per-epoch block partition together with the epoch number (shared by every seed of a run)."""


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


def count_blocks(total_bytes: int, block_bytes: int = BLOCK_BYTES) -> int:
    """``ceil(total_bytes / block_bytes)``, at least 1."""
    if block_bytes < 1:
        raise ValueError(f"block_bytes must be positive, got {block_bytes}")
    return max(1, -(-int(total_bytes) // int(block_bytes)))


def block_partition(
    lengths: np.ndarray, bytes_per_frame: int, epoch: int, block_bytes: int = BLOCK_BYTES
) -> list[np.ndarray]:
    """Every cache row (``lengths`` has one entry per row) in :func:`count_blocks` random blocks of about equal
    frames for ``epoch``, each block's rows sorted. One block: ``[arange(N)]``. A pure function of its arguments:
    the permutation comes from a generator seeded by (:data:`BLOCK_SEED`, ``epoch``); the blocks are cut where
    the running frame count crosses k/n of the total, so none exceeds ``block_bytes`` by more than one utterance.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = count_blocks(int(lengths.sum()) * int(bytes_per_frame), block_bytes)
    if n == 1:
        return [np.arange(len(lengths), dtype=np.int64)]
    order = np.random.default_rng([BLOCK_SEED, int(epoch)]).permutation(len(lengths)).astype(np.int64)
    ends = np.cumsum(lengths[order])
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, n) / n, side="right")
    return [np.sort(piece) for piece in np.split(order, cuts)]


def plan_blocks(
    partition: list[np.ndarray], rows: np.ndarray, lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
    bucket: int = BUCKET_BATCHES,
) -> list[list[np.ndarray]]:
    """One seed's training batches per block of ``partition``: its ``rows`` that fall in each block (kept in the
    order of ``rows``) batched by :func:`plan_batches` with ``rng``, block after block. With one block this is
    ``[plan_batches(rows, lengths, batch_size, rng)]``."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(partition) == 1:
        return [plan_batches(rows, lengths, batch_size, rng, bucket)]
    block_of = np.full(len(lengths), -1, dtype=np.int64)
    for b, block in enumerate(partition):
        block_of[block] = b
    return [plan_batches(rows[block_of[rows] == b], lengths, batch_size, rng, bucket) for b in range(len(partition))]


def wanted_rows(plans: list[list[list[np.ndarray]]], n_blocks: int) -> list[np.ndarray]:
    """Per block, the sorted distinct rows that any of ``plans`` (one per seed, batches per block) trains on."""
    out = []
    for b in range(n_blocks):
        pieces = [batch for plan in plans for batch in plan[b]]
        out.append(np.unique(np.concatenate(pieces)) if pieces else np.empty(0, dtype=np.int64))
    return out


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
