"""Probe training throughput, measured side by side on one feature cache.

1. The Linear probe trained from ``pooled/mean`` against the same probe trained frame-wise (ℓ1 on every frame,
   then the masked mean): the same function, so identical initial weights give the same logits (up to the cache's
   float16 frames); the time ratio of training (target ≥ 100×).
2. Multi-Layer training with the frames held in memory against streamed from the HDF5 file block by block (each
   epoch's pages dropped from the OS cache first, as for a cache larger than RAM): frames per second, and the share
   of step time spent waiting for data (target ≤ 10% in memory, ≤ 30% streamed). Both sources give the same
   batches (the blocked plan of :mod:`probe.data.batching`), so the losses must agree exactly.
3. Three seeds of the Multi-Layer head on the streamed cache, side by side (one read of each block per epoch for
   all three) against one after the other: bytes read from the cache and wall time; the predictions must agree.
4. One ``probe run --all`` of the caches, end to end, in a child process.

    python benchmarks/probe_throughput.py --features /tmp/demo/features --out benchmarks/results/throughput.txt
    python benchmarks/probe_throughput.py --smoke        # a 24-clip cache of random tiny weights (CI)
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from machine import SMOKE_CORPUS, Report, demo_manifest, describe_machine, evict
from pooled_steps import pooled_step_shares
from streamed_seeds import labels_of, side_by_side, stream_budget

from extract.cache import FeatureCache, find_caches
from probe.data.batching import BLOCK_BYTES
from probe.data.cache_data import CacheData, training_batches
from probe.data.feeds import PooledFeed
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.heads import build_head
from probe.train.loop import predict


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def linear_side_by_side(cache: FeatureCache, epochs: int, device: str) -> dict[str, float]:
    """Logit agreement and training seconds of the Linear probe from pooled vectors and from frames."""
    data = CacheData(cache, device="cpu")
    labels, k = labels_of(cache)
    rows = np.arange(len(cache))
    parts = {"train": rows, "val": rows[:16], "test": rows[:16]}
    pooled, frames = PooledFeed(data.pooled()[:, -1]), data.frames(False)
    torch.manual_seed(0)
    head = build_head("linear", cache.n_states, cache.dim, k)
    a = predict(copy.deepcopy(head), pooled, rows, 32, "cpu").logits
    b = predict(copy.deepcopy(head), frames, rows, 32, "cpu").logits
    for feed in (pooled, frames):  # warm-up: first-call imports and allocations stay out of the timing
        fit_probe("linear", feed, labels, parts, k, TrainConfig(epochs=1, device=device), 0,
                  head=copy.deepcopy(head))
    config = TrainConfig(epochs=epochs, device=device)
    fits = [fit_probe("linear", feed, labels, parts, k, config, 0, head=copy.deepcopy(head))
            for feed in (pooled, frames)]
    return {"max_dlogit": float(np.abs(a - b).max()), "logit_scale": float(np.abs(a).max()),
            "pooled_s": fits[0].seconds, "frames_s": fits[1].seconds,
            "loss_pooled": fits[0].curves["train_loss"][-1], "loss_frames": fits[1].curves["train_loss"][-1]}


@dataclass
class Throughput:
    """Multi-Layer training measured step by step."""

    mode: str
    where: str
    load_s: float
    wait_s: float
    compute_s: float
    frames: int
    losses: list[float]

    @property
    def frames_per_s(self) -> float:
        return self.frames / max(self.wait_s + self.compute_s, 1e-12)

    @property
    def wait_share(self) -> float:
        return self.wait_s / max(self.wait_s + self.compute_s, 1e-12)


def block_size(cache: FeatureCache, block_bytes: int | None) -> int:
    """``block_bytes``, or by default the protocol's :data:`~probe.data.batching.BLOCK_BYTES` capped at an eighth of the
    cache's frames (so that a small cache is still streamed in several blocks)."""
    return int(block_bytes) if block_bytes else min(BLOCK_BYTES, max(cache.nbytes() // 8, 1))


def multilayer_throughput(cache: FeatureCache, budget: int | None, epochs: int, block_bytes: int,
                          device: str = "cpu", batch_size: int = 32, cold: bool = True) -> Throughput:
    """Train the Multi-Layer head on every row for ``epochs``: time waiting for each batch (the feed's reads and
    padding) against the step itself (transfer, forward, backward, update). A ``budget`` under the frames' size
    streams; with ``cold``, a streamed cache's pages are dropped from the OS cache before each epoch."""
    labels, k = labels_of(cache)
    y_all = torch.from_numpy(labels.copy())
    start = time.perf_counter()
    data = CacheData(cache, memory_budget=budget, device=device)
    data.prepare(frames_last=False, frames_all=True)
    feed = data.frames(True)
    load_s = time.perf_counter() - start
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    head = build_head("multilayer", cache.n_states, cache.dim, k).to(device)
    optimizer = torch.optim.Adam(head.parameters(), lr=5e-4)
    rows = np.arange(len(cache))
    wait = compute = 0.0
    frames, losses = 0, []
    for epoch in range(1, epochs + 1):
        if cold and feed.mode == "stream":
            evict(cache.path)
        batches = training_batches(feed, rows, batch_size, rng, epoch, block_bytes)
        while True:
            t0 = time.perf_counter()
            item = next(batches, None)
            t1 = time.perf_counter()
            wait += t1 - t0
            if item is None:
                break
            batch, x, mask = item
            x, mask = x.to(device, non_blocking=True), mask.to(device, non_blocking=True)
            loss = torch.nn.functional.cross_entropy(head(x, mask), y_all[torch.from_numpy(batch)].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            _sync(device)
            compute += time.perf_counter() - t1
            frames += int(mask.sum())
    held = getattr(feed, "data", None)
    where = (str(held.device) if isinstance(held, torch.Tensor) else "RAM") if feed.mode == "memory" else "disk"
    return Throughput(feed.mode, where, load_s, wait, compute, frames, losses)


def run_all_end_to_end(features: Path, results: Path, extra: list[str]) -> tuple[float, int, str]:
    """Seconds, exit status and last output line of ``probe run --all`` in a child process."""
    command = [sys.executable, "-m", "probe.cli", "run", "--all", "--features", str(features), "--results",
               str(results), *extra]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [l.strip() for l in (done.stdout + done.stderr).splitlines() if l.strip()]
    return time.perf_counter() - start, done.returncode, "\n  ".join(lines[-1:] if done.returncode == 0 else lines[-8:])


def smoke_features(scratch: Path, corpus_dir: Path | None) -> Path:
    """A small real cache: the 24-clip corpus extracted with random whisper-tiny.en weights (trim input)."""
    from extract.backbones import load_backbone
    from extract.pipeline import extract_corpus

    manifest = demo_manifest(corpus_dir, scratch, 24, **SMOKE_CORPUS)
    backbone = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")
    extract_corpus(manifest, backbone, scratch / "features", corpus="synthetic", batch_size=4, log=lambda m: None)
    return scratch / "features"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, default=None, help="Folder of caches (the demo's features).")
    parser.add_argument("--model", default="whisper-tiny.en", help="Which cache of --features the probes read.")
    parser.add_argument("--epochs", type=int, default=5, help="Epochs of each timed training.")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the training device).")
    parser.add_argument("--block-mb", type=float, default=None,
                        help="MiB per block of the blocked batch plan (default: the protocol's 1024, capped at an "
                             "eighth of the cache so that it streams in several blocks).")
    parser.add_argument("--run-args", default="--seeds 3",
                        help="Extra arguments of the end-to-end `probe run --all` (one string).")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is often faster on a busy machine).")
    parser.add_argument("--no-run", action="store_true", help="Skip the end-to-end `probe run --all`.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the report to this file.")
    parser.add_argument("--corpus-dir", type=Path, default=None,
                        help="--smoke only: a rendered smoke corpus to reuse (else rendered in a temporary folder).")
    parser.add_argument("--smoke", action="store_true", help="CI size: a 24-clip cache, 1 epoch, 1 seed.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.run_args = 1, "--seeds 1 --epochs 1 --probes linear,multilayer"
    if args.threads:
        torch.set_num_threads(args.threads)
        args.run_args += f" --threads {args.threads}"

    report = Report("probe_throughput: pooled vs frame-wise Linear, Multi-Layer in memory vs streamed, probe run")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        features = smoke_features(scratch, args.corpus_dir) if args.smoke or args.features is None else args.features
        paths = [p for p in find_caches(features) if p.stem in (args.model, f"{args.model}-random")]
        if not paths:
            report(f"no cache of {args.model} under {features}")
            return 2
        with FeatureCache(paths[0]) as cache:
            report(f"machine          {describe_machine(args.device)}")
            report(f"cache            {paths[0]}: {len(cache)} clips, {cache.total_frames} frames, "
                   f"{cache.n_states} states × {cache.dim}, {cache.nbytes() / 2**20:.0f} MB of frames")
            lin = linear_side_by_side(cache, args.epochs, args.device)
            ratio = lin["frames_s"] / max(lin["pooled_s"], 1e-12)
            report("")
            report(f"Linear probe, {args.epochs} epochs   {'pooled/mean':>14s}{'frame-wise':>14s}{'ratio':>10s}"
                   "   target")
            report(f"{'training time':30s}{lin['pooled_s']:>12.3f} s{lin['frames_s']:>12.3f} s{ratio:>9.1f}×   "
                   f"≥ 100×: {'met' if ratio >= 100 else 'NOT met'}")
            report(f"{'final train loss':30s}{lin['loss_pooled']:>14.4f}{lin['loss_frames']:>14.4f}")
            report(f"{'same logits, same weights':30s}largest |Δ| {lin['max_dlogit']:.1e} (logits up to "
                   f"{lin['logit_scale']:.2f}; frames are float16)")
            spent, steps = pooled_step_shares(cache, max(args.epochs, 2))
            total = sum(spent.values())
            report(f"{'pooled step, CPU time':30s}{1e3 * total / max(steps, 1):>10.2f} ms: " + ", ".join(
                f"{part} {100 * s / total:.0f}%" for part, s in sorted(spent.items(), key=lambda kv: -kv[1])))
            blocks = block_size(cache, None if args.block_mb is None else int(args.block_mb * 2**20))
            held = multilayer_throughput(cache, None, args.epochs, blocks, args.device)
            streamed = multilayer_throughput(cache, stream_budget(cache), args.epochs, blocks, args.device)
            shared = side_by_side(cache, args.epochs, blocks)
        report("")
        report(f"Multi-Layer, {args.epochs} epochs     {'in memory':>14s}{'streamed':>14s}")
        report(f"{'frames held in':30s}{held.where:>14s}{streamed.where:>14s}")
        report(f"{'load before training':30s}{held.load_s:>12.2f} s{streamed.load_s:>12.2f} s")
        report(f"{'frames per second':30s}{held.frames_per_s:>14,.0f}{streamed.frames_per_s:>14,.0f}")
        verdicts = ["met" if share <= limit else "NOT met"
                    for share, limit in ((held.wait_share, 0.10), (streamed.wait_share, 0.30))]
        report(f"{'waiting for data':30s}{held.wait_share:>14.1%}{streamed.wait_share:>14.1%}   target ≤ 10% / ≤ 30%: "
               f"{verdicts[0]} / {verdicts[1]}")
        report(f"{'same batches, same losses':30s}{str(held.losses == streamed.losses):>14s}")
        report(f"{'blocks of':30s}{blocks / 2**20:>10.2f} MiB")
        report("")
        mb = 2**20
        report(f"3 seeds streamed, {args.epochs} epochs {'side by side':>14s}{'one by one':>14s}{'ratio':>10s}")
        report(f"{'bytes read, whole runs':30s}{shared['together_bytes'] / mb:>10.1f} MB"
               f"{shared['separate_bytes'] / mb:>11.1f} MB"
               f"{shared['together_bytes'] / max(shared['separate_bytes'], 1):>9.2f}×")
        report(f"{'one epoch training pass':30s}{shared['pass_together'] / mb:>10.1f} MB"
               f"{shared['pass_separate'] / mb:>11.1f} MB"
               f"{shared['pass_together'] / max(shared['pass_separate'], 1):>9.2f}×   (one seed's training rows: "
               f"{shared['train_bytes'] / mb:.1f} MB)")
        report(f"{'wall time':30s}{shared['together_s']:>12.2f} s{shared['separate_s']:>12.2f} s"
               f"{shared['together_s'] / max(shared['separate_s'], 1e-12):>9.2f}×")
        report(f"{'same predictions':30s}{str(shared['same']):>14s}")
        if not args.no_run:
            extra = args.run_args.split() + ["--device", args.device]
            seconds, code, last = run_all_end_to_end(features, scratch / "results", extra)
            report("")
            report(f"probe run --all {' '.join(extra)}: {seconds:.1f} s, exit {code}; {last.strip()}")
    report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
