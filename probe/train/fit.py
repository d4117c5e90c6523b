"""Training one probe head: the paper's protocol, model selection on validation only, deterministic per seed.

The settings and their defaults (the ``paper`` preset) are :class:`probe.train.config.TrainConfig`'s. When a
preset standardises, the statistics are those of the training part (frame statistics for frame-level heads,
utterance statistics for pooled ones; per state for all-state heads). After every epoch the head is scored on the
validation part; the state of the epoch with the best validation macro-F1 (ties: lower validation loss, then the
earlier epoch) is kept. The test part is predicted once, after training, with that state: it never takes part in
any choice. The layer-wise head trains one probe per state side by side: each state gets its own best epoch.

Batches follow the blocked plan of :mod:`probe.data.batching` (``block_bytes``, recorded; one block, i.e. a plain
shuffle, for every cache of up to 1 GiB of frames of the head's states). Given a seed, a run on CPU is
deterministic: the head's initialisation and dropout use torch's generator seeded at the start (each run keeps its
own generator state, :class:`probe.train.loop.SeedRun`), the batch order a NumPy generator with the same seed.
Several seeds of a streamed cache are trained side by side on one read per epoch by
:func:`probe.train.sidebyside.fit_side_by_side`, with exactly the results of :func:`fit_probe` for each seed alone.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from probe.data.feeds import Feed
from probe.train.config import TrainConfig, training_threads
from probe.train.heads import Head
from probe.train.loop import SeedRun, TrainResult


def fit_probe(
    probe: str,
    feed: Feed,
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    n_classes: int,
    config: TrainConfig,
    seed: int,
    *,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    head: Head | None = None,
) -> TrainResult:
    """Train head ``probe`` on the ``train`` rows, select on ``val``, predict ``val`` and ``test``.

    ``labels`` holds the class index of every cache row (rows outside the run may hold anything); ``parts``
    maps train/val/test to arrays of cache rows. The head's input shape (states × width) is the feed's
    :attr:`~probe.data.feeds.Feed.shape`; ``n_classes`` is the corpus's label set, which the rows of one split need
    not cover. ``head`` replaces the registered head (the baselines bring their own).
    """
    with training_threads(config):
        run = SeedRun(probe, feed, labels, parts, n_classes, config, seed, on_epoch, head)
        for epoch in range(1, config.epochs + 1):
            with run.active():
                run.train_on(epoch, run.batches(epoch))
                run.end_epoch(epoch)
        with run.active():
            return run.finish()
