"""How long does the paper's AST baseline (trained from scratch on each of the nine corpora) take on a GPU?

An estimate, not a measurement (no GPU was available where this was written): FLOPs of one clip's training step,
from the AST configuration and the token count of the input, × clips seen (30 epochs over the 80% training part,
plus validation after every epoch and one test pass) per corpus and seed, ÷ a stated sustained GPU throughput.
A real training step of the same model is timed on this machine's CPU, both to check the FLOP count against a
measured rate and to give the CPU time for comparison.

    python benchmarks/ast_gpu_estimate.py                     # full-size AST (12 × 768), 3 seeds
    python benchmarks/ast_gpu_estimate.py --size ast-small --gpu-tflops 40 --seeds 1
    python benchmarks/ast_gpu_estimate.py --measure-batch 0    # skip the CPU measurement

Clip counts: the corpora's official counts (extract.corpora registry; EmoMatch and EYASE, where sources disagree,
at the upper figures of docs/corpora: 2000 and 580). Input length: 128 mel bins × the target length, which covers
the longest clip capped at 1024 frames (10.24 s); the corpora's longest clips (AESDD 12.7 s, ShEMO 33 s, ...)
reach the cap, so 1024 frames is used for every corpus, an upper bound for those with shorter clips (EmoDB: 9 s).
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import torch

from extract import corpora
from probe.train.baselines import INPUT, SCRATCH
from probe.train.scratch_heads import AST_SIZES, ASTHead, ASTSize

NINE = ("aesdd", "cafe", "demos", "emodb", "emomatch", "emovo", "eyase", "oreau", "shemo")
FALLBACK_FILES = {"emomatch": 2000, "eyase": 580}
"""Clip counts where the registry has none (sources disagree): the upper figures of docs/corpora."""


def n_tokens(frames: int, n_mels: int = 128) -> int:
    """Patches (16 × 16, stride 10 on both axes) plus the CLS and distillation tokens."""
    return ((n_mels - 16) // 10 + 1) * ((frames - 16) // 10 + 1) + 2


def forward_flops(size: ASTSize, frames: int, n_mels: int = 128) -> float:
    """Forward FLOPs (multiply-add = 2) of one clip: patch embedding, and per block QKV/output projections
    (8·n·h²), MLP (4·n·h·i), attention scores and weighted sum (4·n²·h)."""
    n, h, i = n_tokens(frames, n_mels), size.hidden, size.intermediate
    patches = 2 * (n - 2) * 256 * h
    block = 8 * n * h * h + 4 * n * h * i + 4 * n * n * h
    return patches + size.layers * block


def measure_cpu_step(size: ASTSize, frames: int, batch: int, repeats: int) -> float:
    """Seconds of one real training step (forward, backward, Adam) of the AST on ``batch`` clips, on this CPU."""
    torch.manual_seed(0)
    head = ASTHead(128, 7, frames, size, INPUT["freqm"], INPUT["timem"])
    head.train()
    optimizer = torch.optim.Adam(head.parameters(), lr=2.5e-4)
    x = torch.randn(batch, frames, 128)
    y = torch.randint(0, 7, (batch,))
    times = []
    for _ in range(repeats + 1):  # the first step warms up allocators
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(head(x, None), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="ast", choices=sorted(AST_SIZES), help="AST configuration")
    parser.add_argument("--frames", type=int, default=INPUT["max_frames"], help="target length in frames")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per corpus")
    parser.add_argument("--gpu-tflops", type=float, default=60.0,
                        help="sustained training throughput assumed for the GPU, TFLOP/s (default 60: about "
                             "30%% of an H100/H200's dense BF16 peak under autocast, or near its FP32/TF32 "
                             "rate; plain FP32 without TF32 sustains roughly 30)")
    parser.add_argument("--measure-batch", type=int, default=2, help="clips per measured CPU step (0: skip)")
    parser.add_argument("--repeats", type=int, default=2, help="measured CPU steps (the fastest is kept)")
    args = parser.parse_args()

    size = AST_SIZES[args.size]
    epochs, batch = SCRATCH[args.size]["epochs"], SCRATCH[args.size]["batch_size"]
    fwd = forward_flops(size, args.frames)
    train_clip = 3 * fwd  # forward + backward (about twice the forward)
    params = sum(p.numel() for p in ASTHead(128, 7, args.frames, size, 0, 0).parameters())
    print(f"AST '{args.size}': {size.layers} blocks × {size.hidden} (MLP {size.intermediate}), {params / 1e6:.1f} M "
          f"parameters; input 128 × {args.frames} frames → {n_tokens(args.frames)} tokens")
    print(f"per clip: forward {fwd / 1e9:.0f} GFLOP, training step {train_clip / 1e9:.0f} GFLOP; {epochs} epochs, "
          f"batch {batch}, {args.seeds} seed(s); GPU assumed at {args.gpu_tflops:.0f} TFLOP/s sustained\n")
    print(f"{'corpus':10} {'clips':>6} {'steps/seed':>10} {'PFLOP':>8} {'GPU h':>7}")
    total_flops = 0.0
    for key in NINE:
        clips = corpora.info(key).expected_files or FALLBACK_FILES[key]
        n_train, n_eval = round(0.8 * clips), clips - round(0.8 * clips)
        steps = epochs * math.ceil(n_train / batch)
        flops = args.seeds * (epochs * n_train * train_clip + epochs * (n_eval / 2) * fwd + (n_eval / 2) * fwd)
        total_flops += flops
        print(f"{key:10} {clips:>6} {steps:>10} {flops / 1e15:>8.1f} {flops / (args.gpu_tflops * 1e12) / 3600:>7.2f}")
    gpu_hours = total_flops / (args.gpu_tflops * 1e12) / 3600
    print(f"{'total':10} {'':>6} {'':>10} {total_flops / 1e15:>8.1f} {gpu_hours:>7.2f}")
    print(f"\nGPU estimate: {gpu_hours:.1f} h for the nine corpora × {args.seeds} seed(s) "
          f"(± a factor of 2 for the assumed throughput; data loading is negligible: the log-mel cache is small).")
    if args.measure_batch > 0:
        step = measure_cpu_step(size, args.frames, args.measure_batch, args.repeats)
        rate = args.measure_batch * train_clip / step
        print(f"measured on this CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} "
              f"threads): {step:.2f} s per training step of {args.measure_batch} clips = {rate / 1e9:.0f} GFLOP/s; "
              f"the same work on this CPU: {total_flops / rate / 3600:.0f} h")
    print("No GPU was available where this script was written: the GPU figure is an estimate, not a measurement.")


if __name__ == "__main__":
    main()
