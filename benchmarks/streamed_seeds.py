"""Seeds of the Multi-Layer head on a streamed cache, side by side (one read of each block per epoch for all of
them) against one after the other: bytes read and wall time (used by ``probe_throughput.py``)."""

from __future__ import annotations

import time

import numpy as np

from extract.cache import FeatureCache
from probe.data.batching import plan_blocks, wanted_rows
from probe.data.stream import StreamFrames
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.sidebyside import fit_side_by_side


def labels_of(cache: FeatureCache) -> tuple[np.ndarray, int]:
    """Class index of every cache row, and the number of classes."""
    classes = sorted(cache.utterances["label"].unique())
    return cache.utterances["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64), len(classes)


def stream_budget(cache: FeatureCache) -> int:
    """A memory budget just under the cache's frames: they are streamed."""
    return cache.nbytes() - 1


def seed_parts(n: int, seed: int) -> dict[str, np.ndarray]:
    """A random 80/10/10 split of ``n`` rows per seed (the seeds' training rows differ, as the runner's do)."""
    order = np.random.default_rng(seed).permutation(n)
    cut = [int(0.8 * n), int(0.9 * n)]
    return {"train": np.sort(order[: cut[0]]), "val": np.sort(order[cut[0] : cut[1]]), "test": np.sort(order[cut[1] :])}


def side_by_side(cache: FeatureCache, epochs: int, block_bytes: int, seeds: int = 3) -> dict[str, float]:
    """Bytes read and seconds of ``seeds`` Multi-Layer runs on the streamed cache, side by side and one after the
    other, and whether their test logits agree exactly."""
    labels, k = labels_of(cache)
    config = TrainConfig(epochs=epochs, device="cpu", block_bytes=block_bytes)
    parts = [seed_parts(len(cache), s) for s in range(seeds)]
    everything = list(range(cache.n_states))
    feed = StreamFrames(cache, everything, budget=stream_budget(cache))
    start = time.perf_counter()
    feed.hold(np.concatenate([p["val"] for p in parts]), block_bytes)  # as the runner does: validation read once
    together = fit_side_by_side("multilayer", feed, labels, parts, list(range(seeds)), k,
                                config)
    out = {"together_s": time.perf_counter() - start, "together_bytes": feed.bytes_read}
    separate_bytes, start, same = 0, time.perf_counter(), True
    for seed, part, result in zip(range(seeds), parts, together):
        alone_feed = StreamFrames(cache, everything, budget=stream_budget(cache))
        alone_feed.hold(part["val"], block_bytes)
        alone = fit_probe("multilayer", alone_feed, labels, part, k, config, seed)
        separate_bytes += alone_feed.bytes_read
        same = same and bool(np.array_equal(alone.test.logits, result.test.logits))  # type: ignore[union-attr]
    out.update(separate_s=time.perf_counter() - start, separate_bytes=separate_bytes, same=same,
               train_bytes=int(feed.lengths[parts[0]["train"]].sum()) * feed.bytes_per_frame)
    out.update(pass_bytes(cache, [p["train"] for p in parts], block_bytes))
    return out


def pass_bytes(cache: FeatureCache, train: list[np.ndarray], block_bytes: int) -> dict[str, int]:
    """Bytes one epoch's training pass reads: every seed's batches from one pass, against one pass per seed."""
    everything = list(range(cache.n_states))
    source = StreamFrames(cache, everything)
    partition = source.partition(1, block_bytes)
    plans = [plan_blocks(partition, rows, source.lengths, 32, np.random.default_rng(s)) for s, rows in enumerate(train)]
    for _ in source.block_pass(partition, wanted_rows(plans, len(partition))):
        pass
    separate = 0
    for plan in plans:
        alone = StreamFrames(cache, everything)
        for _ in alone.block_pass(partition, wanted_rows([plan], len(partition))):
            pass
        separate += alone.bytes_read
    return {"pass_together": source.bytes_read, "pass_separate": separate}
