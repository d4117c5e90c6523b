"""Training from a cache held on the GPU: ``probe run --all --probes all`` (the engine, :func:`probe.run.runner.run_all`)
on a cache of whisper-medium's shape (25 states × 1024) and a few thousand clips, then, per head, the frames (or
clips) per second of its training steps and the share of that time spent waiting for data, read back from the
records' ``throughput`` (:class:`probe.train.loop.TrainMeter`), and where the frames were held (``config.data``).

The cache is written with the suite's own writer (:func:`extract.cache_write.write_cache_columns`), layer by layer,
with random float16 frames: unit noise plus a class-dependent shift in the upper half of the states, so the heads
learn something and validation selects real epochs. Clip lengths are drawn between ``--seconds`` bounds (50 frames
per second, as Whisper's trim caches).

    python benchmarks/gpu_train.py --out benchmarks/results/gpu_train_<gpu>.txt   # 2000 clips, 3 seeds, 30 epochs
    python benchmarks/gpu_train.py --device cpu --smoke                            # the same code at CI size

Without CUDA (and without ``--device cpu``) it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from machine import Report, describe_machine

from extract.cache_write import write_cache_columns
from probe.data.cache_data import gpu_budget
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob, training_rate
from probe.train.presets import make_config

LABELS = ("anger", "happiness", "neutral", "sadness")


def write_synthetic_cache(path: Path, clips: int, states: int, dim: int, seconds: tuple[float, float],
                          speakers: int, seed: int = 0) -> tuple[int, float]:
    """A complete cache of ``clips`` utterances (``speakers`` speakers, four classes in turn) with ``states`` ×
    ``dim`` random float16 frames; returns (frames, seconds to write)."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    counts = rng.integers(int(seconds[0] * 50), int(seconds[1] * 50) + 1, size=clips)
    classes = (np.arange(clips) // speakers) % len(LABELS)  # every speaker says every class in turn
    labels = [LABELS[c] for c in classes]
    shifts = rng.standard_normal((len(LABELS), dim)).astype(np.float32) * 0.5
    owner = np.repeat(np.arange(clips), counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pooled = np.zeros((clips, states, dim), dtype=np.float32)

    def blocks():  # one layer at a time: memory holds one layer of frames, not the cache
        for layer in range(states):
            frames = rng.standard_normal((int(counts.sum()), dim), dtype=np.float32)
            if layer >= states // 2:
                frames += shifts[classes][owner]
            half = frames.astype(np.float16)
            pooled[:, layer] = np.add.reduceat(half.astype(np.float32), starts, axis=0) / counts[:, None]
            yield layer, half

    utterances = {"id": [f"spk{i % speakers:02d}/clip{i:05d}" for i in range(clips)], "label": labels,
                  "speaker": [f"spk{i % speakers:02d}" for i in range(clips)], "gender": [""] * clips,
                  "duration": counts / 50.0, "n_frames": counts}
    attrs = {"corpus": "synthetic", "language": "en", "model": "whisper-medium", "family": "whisper",
             "checkpoint": "synthetic frames", "weights": "random", "frame_rate": 50.0, "sample_rate": 16000,
             "whisper_input": "trim", "precision": "fp16", "created": "2026-01-01T00:00:00+00:00"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cache_columns(path, attrs, utterances, blocks(), pooled, {"id": [], "path": [], "reason": []},
                        n_states=states, dim=dim)
    return int(counts.sum()), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cuda (default when present) or cpu")
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--states", type=int, default=25, help="whisper-medium: 24 blocks + the input state")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--seconds", type=float, nargs=2, default=(1.0, 5.0), help="clip length bounds")
    parser.add_argument("--speakers", type=int, default=20)
    parser.add_argument("--seeds", default="3", help="as probe run --seeds")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--probes", default="all")
    parser.add_argument("--smoke", action="store_true", help="CI size: 48 clips, 5 states × 32, 2 epochs")
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.states, args.dim, args.epochs, args.seeds, args.speakers = 48, 5, 32, 2, "2", 8
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "none"
    if args.device == "none" or (args.device.startswith("cuda") and not torch.cuda.is_available()):
        print("no CUDA GPU here: run on a GPU machine, or pass --device cpu for the CPU")
        return 2
    report = Report("Training from a cache held on the device (probe run --all --probes all)")
    report(describe_machine(args.device))
    with tempfile.TemporaryDirectory() as scratch:
        features, results = Path(scratch) / "features", Path(scratch) / "results"
        frames, written = write_synthetic_cache(features / "synthetic" / "whisper-medium.h5", args.clips, args.states,
                                                args.dim, tuple(args.seconds), args.speakers)
        gib = frames * args.states * args.dim * 2 / 2**30
        report(f"cache     {args.clips} clips, {frames:,} frames × {args.states} states × {args.dim} float16 "
               f"({gib:.2f} GiB of frames), written in {written:.0f} s")
        held = "on the GPU" if gib * 2**30 <= gpu_budget(args.device) else "in RAM or streamed (not on a GPU)"
        report(f"frames    held {held} (probe.data.cache_data.gpu_budget: half the device's free memory)")
        config = make_config("paper", device=args.device, epochs=args.epochs)
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # torch imports torch._dynamo (~4 s) at the first
        # optimiser of a process: paid here, not by whichever run comes first ("s per run" is per run)
        started = time.perf_counter()
        summary = run_all(RunJob(features, results, seeds=args.seeds, config=config), RunSelection(probes=args.probes))
        wall = time.perf_counter() - started
        for issue in summary.issues:
            report(f"left out {issue.path}: {issue.reason}")
        report(f"probe run --all --probes {args.probes} --seeds {args.seeds} --epochs {args.epochs} --device "
               f"{args.device}: {summary.count('trained')} runs trained, {summary.count('failed')} failed in "
               f"{wall:.0f} s")
        per_probe: dict[str, list[dict]] = defaultdict(list)
        for path in sorted((results / "runs").rglob("seed*.json")):
            record = json.loads(path.read_text())
            per_probe[record["probe"]].append({**record["throughput"], "data": record["config"]["data"],
                                               "duration_s": record["duration_s"]})
        report(f"{'head':11s}{'runs':>5s}{'held':>8s}{'rate in training':>24s}{'waiting for data':>18s}"
               f"{'s per run':>11s}")
        for probe, meters in per_probe.items():
            per_s, unit, share = training_rate(meters)
            rate = f"{per_s:,.0f} {unit}/s"
            run_s = sum(m["duration_s"] for m in meters) / len(meters)
            report(f"{probe:11s}{len(meters):5d}{meters[0]['data']:>8s}{rate:>24s}{share:>17.1%} {run_s:10.1f}")
        for line in summary.throughput_lines():
            report(f"all       {line}")
    report.save(args.out)
    return 0 if summary.count("failed") == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
