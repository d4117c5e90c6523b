"""Measurements behind ``gpu_extract.py``: FLOPs of the batches an extraction runs, the chip's measured matrix
peak, and the paper's grid in device-hours from rates measured in the same run."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import torch

from extract.backbones.base import Backbone
from probe.report.reference import load_reference
from probe.run import train_plan

MEL_FRAMES, ENC_FRAMES = 3000, 1500
WINDOW_SECONDS = 30.0
PAPER_BACKBONES: tuple[str, ...] = tuple(load_reference("paper").by_corpus.columns)
"""The backbones of the paper's Table 3 (``probe/reference/dasaro2024_table3.csv``; its other column is the AST
baseline, trained from scratch, nothing to extract), as ``probe plan --paper`` reads them. Each measured in the run
gets its rate; the others are named as not measured."""
PAPER_PROBES = len(train_plan.PAPER_PROBES.split(","))  # Linear, Non-Linear, Multi-Layer (probe plan --paper's)
PAPER_SEEDS = int(train_plan.PAPER_SEEDS)


def encoder_flops(n_mels: int, dim: int, layers: int) -> float:
    """Floating-point operations (2 per multiply-add) of one Whisper encoder pass over a 30 s window: the two
    convolutions (kernel 3), and per block the four attention projections (8 T d²), the attention products
    (4 T² d) and the MLP (16 T d²). Norms, activations and softmax are left out (a few percent)."""
    t = ENC_FRAMES
    convs = 2 * MEL_FRAMES * n_mels * dim * 3 + 2 * t * dim * dim * 3
    return float(convs + layers * (24 * t * dim * dim + 4 * t * t * dim))


def counted_flops(backbone: Backbone, waves: Sequence[np.ndarray]) -> float:
    """FLOPs of ``backbone``'s forward over ``waves`` as one batch, as torch's flop counter sees them (on the CPU
    it does not see the fused attention kernel). Under ``no_grad``, not ``inference_mode``: the counter cannot
    trace weight-normed convolutions (Wav2Vec 2.0's positional convolution) in inference mode."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), backbone._autocast(), FlopCounterMode(display=False) as counter:
        backbone._forward(list(waves))
    return float(counter.get_total_flops())


def pipeline_batches(backbone: Backbone, waves: Sequence[np.ndarray], batch_size: int,
                     shard_size: int) -> list[list[int]]:
    """The batches :func:`extract.pipeline.extract_corpus` runs: per shard of ``shard_size`` clips, the
    backbone's :meth:`~extract.backbones.base.Backbone.batch_plan` (length-bucketed where it pads)."""
    plan: list[list[int]] = []
    for start in range(0, len(waves), shard_size):
        lengths = [len(w) for w in waves[start : start + shard_size]]
        plan += [[start + p for p in batch] for batch in backbone.batch_plan(lengths, batch_size)]
    return plan


def padding_share(batches: list[list[int]], lengths: Sequence[int]) -> float:
    """Share of the samples fed to the model that are padding."""
    fed = sum(max(lengths[p] for p in b) * len(b) for b in batches)
    return 1.0 - sum(lengths) / fed if fed else 0.0


def matmul_peak(device: torch.device, dtype: torch.dtype, repeats: int = 20) -> float:
    """Measured dense matrix-product rate of this chip in FLOP/s (square products, the best of ``repeats``): the
    yardstick a forward pass's rate is a share of (8192² bf16/fp16 on CUDA, 1024² fp32 on a CPU)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


def paper_corpora() -> list[tuple[str, int | None]]:
    """The nine corpora of the cross-lingual benchmark with their official usable file counts (registry; None
    where the sources disagree)."""
    from extract import corpora

    return [(key, corpora.info(key).expected_files) for key in corpora.BENCHMARK]


def grid_lines(clip_rates: dict[str, float], audio_rates: dict[str, float],
               train_frames_per_s: dict[str, float]) -> list[str]:
    """The paper's grid in device-hours from this run's rates: Whisper ``pad30`` extraction costs one 30 s
    window per clip (clips under 30 s), so clips ÷ clips/s is exact; the other parts scale with the corpora's
    audio hours, which only their files tell (``probe plan`` reads them), so they are given as rates."""
    corpora = paper_corpora()
    unknown = [k for k, n in corpora if not n]
    clips = sum(n or 0 for _, n in corpora)
    lines = [f"paper grid: {len(PAPER_BACKBONES)} backbones × {len(corpora)} corpora ({clips:,} clips: "
             + ", ".join(f"{k} {n or '?'}" for k, n in corpora) + f") × {PAPER_PROBES} probes × {PAPER_SEEDS} seeds"
             + (f"; {', '.join(unknown)}: no official count, left out of the clip total" if unknown else "")]
    total, measured = 0.0, []
    for model in PAPER_BACKBONES:
        rate = clip_rates.get(model)
        if model.startswith("whisper") and rate:
            hours = clips / rate / 3600
            total += hours
            measured.append(model)
            lines.append(f"  extract {model:20s}{hours:8.3f} device-h  ({clips:,} clips at {rate:.1f} clips/s, "
                         "one pad30 window each)")
        elif model in audio_rates:
            lines.append(f"  extract {model:20s}{1 / audio_rates[model]:8.4f} device-s per audio second "
                         f"({audio_rates[model]:.0f}× real time, batched as the pipeline does); × the corpora's hours")
        else:
            lines.append(f"  extract {model:20s}  not measured in this run")
    if measured:
        lines.append(f"  extraction of the measured Whisper backbones ({', '.join(measured)}): {total:.3f} device-h")
    for model, fps in train_frames_per_s.items():
        runs = len(corpora) * PAPER_PROBES * PAPER_SEEDS
        lines.append(f"  train {model}: Multi-Layer {fps:,.0f} frames/s per epoch pass; {runs} runs per backbone "
                     "× epochs × the corpora's frames (50 per audio second)")
    return lines
