"""Where the time of one extraction call goes: a ``torch.profiler`` table of a backbone's own work per batch.

Runs a random-weight backbone (real architecture) over synthetic clips of a fixed length, in the batches the
pipeline would use, through the path the pipeline takes (``Backbone.extract_for_cache``: states cast to the cache's
float16 on the device; ``Backbone.extract`` where a backbone predates it) and prints the wall time per batch (the
backbone call, and the host-side work the pipeline then does on its output) and the operators that took the most time on the CPU (self time, all calls), grouped as log-mel (STFT, mel filter
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
from extract.guards import state_problem

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


def _arrays(states: object) -> list[np.ndarray]:
    """The arrays of one clip's output (CacheStates' three, or the float32 array itself)."""
    if hasattr(states, "frames"):
        return [states.frames, states.pooled, states.peaks]  # type: ignore[attr-defined]
    return [states]  # type: ignore[list-item]


def host_work(out: list) -> None:  # noqa: ANN001 - CacheStates or float32 arrays
    """What the pipeline does on the host with a batch's output before writing it: the NaN/inf and float16
    range check, then (for float32 arrays, the old path) the means over frames and the float16 cast of the
    shard writer."""
    for states in out:
        if hasattr(states, "peaks"):
            state_problem(states.frames, "clip", peaks=states.peaks)
        else:
            state_problem(states, "clip")
            states.mean(axis=1)
            states.astype(np.float16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--rows", type=int, default=14, help="Operators listed.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed passes over the clips (the best counts).")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    backbone = load_backbone(args.model, weights="random", device=args.device, precision=args.precision)
    run = getattr(backbone, "extract_for_cache", backbone.extract)
    waves = clips(args.clips, args.seconds)
    batches = [waves[i : i + args.batch_size] for i in range(0, len(waves), args.batch_size)]
    run(batches[0])  # warm-up
    cuda = backbone.device.type == "cuda"
    calls, hosts = [], []
    for _ in range(args.repeats):  # the best of a few passes: the machine may be shared
        call_s = host_s = 0.0
        for batch in batches:
            t0 = time.perf_counter()
            out = run(batch)
            t1 = time.perf_counter()
            host_work(out)
            call_s, host_s = call_s + t1 - t0, host_s + time.perf_counter() - t1
        calls.append(call_s)
        hosts.append(host_s)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities, profile_memory=True) as prof:
        outputs = [run(batch) for batch in batches]
        if cuda:
            torch.cuda.synchronize()
    out_bytes = sum(a.nbytes for out in outputs for states in out for a in _arrays(states))
    report = Report(f"extract_profile: {backbone.name} on {backbone.device}, {args.precision}, through "
                    f"{run.__name__}")
    report(f"machine   {describe_machine(backbone.device)}")
    per = 1e3 / len(batches)
    report(f"clips     {args.clips} of {args.seconds:g} s in batches of {args.batch_size}; best of {args.repeats} "
           f"passes, per batch: backbone call {min(calls) * per:.0f} ms + the pipeline's host-side work on its "
           f"output {min(hosts) * per:.0f} ms (NaN/range check, float32 means, float16 cast) = "
           f"{min(c + h for c, h in zip(calls, hosts)) * per:.0f} ms; all passes: "
           + ", ".join(f"{(c + h) * per:.0f}" for c, h in zip(calls, hosts)) + " ms")
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    totals: dict[str, float] = defaultdict(float)
    allocated: dict[str, float] = defaultdict(float)
    for e in events:
        totals[category(e.key)] += e.self_cpu_time_total / 1e6
        allocated[category(e.key)] += max(0, e.self_cpu_memory_usage) / 2**20
    report(f"bytes     returned to the host {out_bytes / 2**20:.1f} MiB; allocated on the CPU by operators, by group: "
           + ", ".join(f"{k} {v:.0f} MiB" for k, v in sorted(allocated.items(), key=lambda kv: -kv[1])))
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
