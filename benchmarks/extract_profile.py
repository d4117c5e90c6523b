"""Where the time of one extraction call goes: a ``torch.profiler`` table of a backbone's own work per batch.

Runs a random-weight backbone (real architecture) over synthetic clips of a fixed length, in the batches the
pipeline would use, through the path the pipeline takes (``Backbone.extract_for_cache``: states cast to the cache's
float16 on the device; ``Backbone.extract`` where a backbone predates it) and prints the wall time per batch and
the operators that took the most time on the CPU (self time, all calls), grouped as log-mel (STFT, mel filter
bank), stacking/slicing/copying of states, and the rest (the forward pass). On a GPU the same table lists the
CPU side of each operator (kernel launches), with CUDA time beside it.

    python benchmarks/extract_profile.py --model whisper-tiny --clips 4 --seconds 3 --batch-size 2
    python benchmarks/extract_profile.py --model whisper-small --device cuda --precision fp16 --batch-size 32
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from machine import Report, describe_machine

from extract.backbones import load_backbone

MEL_OPS = ("stft", "fft", "mel", "log10", "clamp", "maximum", "reflection_pad", "abs", "pow")
COPY_OPS = ("stack", "cat", "copy_", "_to_copy", "contiguous", "clone", "pin_memory", "slice", "select", "mean",
            "amax", "_local_scalar_dense", "to")


def category(op: str) -> str:
    """``log-mel``, ``states`` (stack, slice, cast, copy, pool) or ``forward`` for a profiler operator name."""
    name = op.removeprefix("aten::")
    if any(key in name for key in MEL_OPS):
        return "log-mel"
    if name in COPY_OPS or any(name.startswith(key) for key in ("stack", "cat", "copy", "_to_copy", "pin")):
        return "states"
    return "forward"


def clips(n: int, seconds: float) -> list[np.ndarray]:
    """``n`` clips of noisy tones, ``seconds`` long each (content does not change the cost)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    return [(0.2 * np.sin(2 * np.pi * (120 + 30 * i) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
            for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--rows", type=int, default=14, help="Operators listed.")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    backbone = load_backbone(args.model, weights="random", device=args.device, precision=args.precision)
    run = getattr(backbone, "extract_for_cache", backbone.extract)
    waves = clips(args.clips, args.seconds)
    batches = [waves[i : i + args.batch_size] for i in range(0, len(waves), args.batch_size)]
    run(batches[0])  # warm-up
    cuda = backbone.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    start = time.perf_counter()
    with profile(activities=activities) as prof:
        for batch in batches:
            run(batch)
        if cuda:
            torch.cuda.synchronize()
    wall = time.perf_counter() - start
    report = Report(f"extract_profile: {backbone.name} on {backbone.device}, {args.precision}, through "
                    f"{run.__name__}")
    report(f"machine   {describe_machine(backbone.device)}")
    report(f"clips     {args.clips} of {args.seconds:g} s in batches of {args.batch_size}; wall under the profiler "
           f"{wall:.2f} s ({wall / len(batches) * 1e3:.0f} ms per batch)")
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    totals: dict[str, float] = defaultdict(float)
    for e in events:
        totals[category(e.key)] += e.self_cpu_time_total / 1e6
    cpu_total = sum(totals.values())
    report("self CPU time by group: " + ", ".join(f"{k} {v:.3f} s ({v / cpu_total:.1%})" for k, v in
                                                  sorted(totals.items(), key=lambda kv: -kv[1])))
    report("")
    report(f"{'operator':34s}{'group':>9s}{'calls':>7s}{'self CPU s':>12s}" + (f"{'CUDA s':>10s}" if cuda else ""))
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        line = f"{e.key:34s}{category(e.key):>9s}{e.count:>7d}{e.self_cpu_time_total / 1e6:>12.3f}"
        if cuda:
            line += f"{getattr(e, 'self_device_time_total', 0) / 1e6:>10.3f}"
        report(line)
    report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
