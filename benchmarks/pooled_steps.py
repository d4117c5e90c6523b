"""Where the pooled Linear probe's training time goes, step by step (CPU time of this process, so that other jobs
on a shared machine weigh less): the batch (plan and indexing), forward and loss, backward, Adam's update, and the
per-epoch validation (prediction, then the macro-F1 that selects the epoch), each as a share of the total.

    python benchmarks/pooled_steps.py --features /tmp/demo/features --model whisper-tiny.en
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from extract.cache import FeatureCache, find_caches
from probe.data.feeds import PooledFeed
from probe.train.config import TrainConfig
from probe.train.loop import SeedRun, _grouped, _loss_per_group, predict
from probe.train.metrics import selection_macro_f1


def pooled_step_shares(cache: FeatureCache, epochs: int = 10) -> tuple[dict[str, float], int]:
    """CPU seconds per part of ``epochs`` of the pooled Linear probe on every row of ``cache`` (80% trained, 10%
    validated), and the number of steps. The parts are those of :meth:`probe.train.loop.SeedRun.train_batch` and
    :meth:`~probe.train.loop.SeedRun.end_epoch`, timed one by one."""
    classes = sorted(cache.utterances["label"].unique())
    labels = cache.utterances["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    feed = PooledFeed(cache.pooled()[:, -1])
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(0.8 * len(order)), int(0.9 * len(order))
    parts = {"train": order[: cut[0]], "val": order[cut[0] : cut[1]], "test": order[cut[1] :]}
    run = SeedRun("linear", feed, labels, parts, len(classes),
                  TrainConfig(epochs=epochs, device="cpu"), 0)
    spent: dict[str, float] = defaultdict(float)
    steps = 0
    clock = time.process_time
    for epoch in range(1, epochs + 1):
        t = clock()
        batches = list(run.batches(epoch))
        spent["batches (plan, index)"] += clock() - t
        for batch, x, _ in batches:
            t0 = clock()
            run.head.train()
            loss = _loss_per_group(_grouped(run.head(x, None)), run.y_all[torch.from_numpy(batch)], run.weight)
            bool(torch.isfinite(loss).all())
            t1 = clock()
            run.optim.zero_grad()
            loss.sum().backward()
            t2 = clock()
            run.optim.step()
            t3 = clock()
            spent["forward, loss, finite check"] += t1 - t0
            spent["backward"] += t2 - t1
            spent["Adam update"] += t3 - t2
            steps += 1
        t = clock()
        val = predict(run.head, feed, run.val_rows, run.config.batch_size, "cpu")
        t1 = clock()
        selection_macro_f1(run.y_val.numpy(), val.pred()[:, 0])
        spent["validation: predict"] += t1 - t
        spent["validation: macro-F1"] += clock() - t1
    return dict(spent), steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, required=True, help="Folder of caches.")
    parser.add_argument("--model", default="whisper-tiny.en", help="Which cache of --features to use.")
    parser.add_argument("--epochs", type=int, default=10, help="Epochs timed.")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    paths = [p for p in find_caches(args.features) if p.stem in (args.model, f"{args.model}-random")]
    if not paths:
        print(f"no cache of {args.model} under {args.features}")
        return 2
    with FeatureCache(paths[0]) as cache:
        spent, steps = pooled_step_shares(cache, args.epochs)
    total = sum(spent.values())
    print(f"pooled Linear probe, {steps} steps: {1e3 * total / max(steps, 1):.2f} ms CPU per step, all in")
    for part, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {part:30s}{100 * seconds / total:6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
