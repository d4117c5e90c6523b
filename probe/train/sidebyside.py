"""Several seeds of one head trained side by side on one pass over the data per epoch.

For a cache streamed from disk (:class:`probe.data.stream.StreamFrames`), training each seed alone reads every block
once per epoch per seed. Here each epoch's blocks (:func:`probe.data.batching.block_partition`, shared by all seeds) are
read once, and each seed trains its own batches of the block in turn (:func:`probe.data.batching.plan_blocks` with its
own generator), with its own torch generator state swapped in (:meth:`probe.train.loop.SeedRun.active`). Every
seed's training is therefore exactly that of :func:`probe.train.fit.fit_probe` for the seed alone: same batches, same
order, same dropout draws, same validation (per seed, after the epoch), same predictions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from probe.data.batching import wanted_rows
from probe.data.cache_data import FrameSource
from probe.train.config import TrainConfig, training_threads
from probe.train.heads import Head
from probe.train.loop import NonFiniteLossError, SeedRun, TrainResult


def fit_side_by_side(
    probe: str,
    feed: FrameSource,
    labels: np.ndarray,
    parts: Sequence[dict[str, np.ndarray]],
    seeds: Sequence[int],
    n_classes: int,
    config: TrainConfig,
    on_epoch: Callable[[int, int, dict[str, float]], None] | None = None,
    heads: Sequence[Head | None] | None = None,
) -> list[TrainResult | NonFiniteLossError]:
    """Train head ``probe`` once per (``parts[i]``, ``seeds[i]``) on one read of ``feed`` per epoch; each result
    equals :func:`probe.train.fit.fit_probe` with that split and seed. A seed whose loss turns non-finite stops there
    (its error is returned in its place) and the others go on; a read error stops them all.

    ``on_epoch(i, epoch, values)`` is called after each epoch of run ``i``.
    """
    with training_threads(config):
        if len(parts) != len(seeds):
            raise ValueError(f"{len(parts)} splits for {len(seeds)} seeds")
        heads = list(heads) if heads is not None else [None] * len(seeds)
        if config.standardize and hasattr(feed, "stats_shared"):  # every seed's statistics from one read
            feed.stats_shared([part["train"] for part in parts])
        runs: list[SeedRun] = []
        for i, (part, seed, head) in enumerate(zip(parts, seeds, heads, strict=True)):
            hook = None if on_epoch is None else (lambda epoch, values, i=i: on_epoch(i, epoch, values))
            runs.append(SeedRun(probe, feed, labels, part, n_classes, config, seed, hook, head))
        outcome: list[TrainResult | NonFiniteLossError | None] = [None] * len(runs)
        for epoch in range(1, config.epochs + 1):
            alive = [i for i in range(len(runs)) if outcome[i] is None]
            if not alive:
                break
            partition = feed.partition(epoch, config.block_bytes)
            plans = {i: runs[i].plan(partition) for i in alive}
            wanted = wanted_rows(list(plans.values()), len(partition))
            started = time.perf_counter()
            for b, gather in enumerate(feed.block_pass(partition, wanted)):
                training = [i for i in alive if outcome[i] is None]
                read = time.perf_counter() - started
                for i in training:  # one read of the block for every seed: each waited its share of it
                    runs[i].meter.waited(read / len(training))
                for i in training:
                    with runs[i].active():
                        try:
                            runs[i].train_on(epoch, ((batch, *gather(batch)) for batch in plans[i][b]))
                        except NonFiniteLossError as exc:
                            outcome[i] = exc
                started = time.perf_counter()
            for i in alive:
                if outcome[i] is None:
                    with runs[i].active():
                        runs[i].end_epoch(epoch)
        results: list[TrainResult | NonFiniteLossError] = []
        for run, done in zip(runs, outcome, strict=True):
            if done is None:
                with run.active():
                    done = run.finish()
            results.append(done)
        return results
