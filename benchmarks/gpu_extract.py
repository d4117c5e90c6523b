"""Extraction on a GPU at the speed of the chip? Whisper ``pad30`` and Wav2Vec 2.0 (length-bucketed) over the demo
corpus, against the EmoBox-style loop on the same clips in the same run.

For each model (real architecture, random weights) and precision it runs the ordinary pipeline
(:func:`extract.pipeline.extract_corpus`: audio decoded ahead, batches as the pipeline forms them, states cast to
float16 on the device, shards written by a background thread) and prints clips/s, audio seconds per second, the
share of wall time outside the forward pass, the forward's FLOP rate and its share of the chip's matrix peak
(measured here: the best square bf16/fp16 product, :func:`gpu_rates.matmul_peak`), and the Multi-Layer training
rate with the cache held on the device. FLOPs: Whisper ``pad30`` runs one 30 s window per clip (the formula
:func:`gpu_rates.encoder_flops`, checked against torch's flop counter); Wav2Vec 2.0 models are counted by torch's
flop counter over the very batches the pipeline ran (padding included, its share printed). Then, once per model,
the EmoBox-style loop (one clip at a time, fp32, one .npy per clip: ``extract_vs_baseline.baseline_extract``) and
the ratio of the suite's clips/s to it, then the issue's goals (met / NOT met) and the paper's grid in device-hours
from these rates (:func:`gpu_rates.grid_lines`).

    python benchmarks/gpu_extract.py --out benchmarks/results/gpu_extract_<gpu>.txt
    python benchmarks/gpu_extract.py --models whisper-medium,wav2vec2-large --precisions bf16 --batch-size 32
    python benchmarks/gpu_extract.py --device cpu --smoke     # the same code on the CPU (no GPU numbers)

Without CUDA (and without ``--device cpu``) it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import torch

from extract_vs_baseline import baseline_extract
from gpu_rates import counted_flops, encoder_flops, grid_lines, matmul_peak, padding_share, pipeline_batches
from machine import SMOKE_CORPUS, Report, demo_manifest, describe_machine
from probe_throughput import multilayer_throughput

from extract.audio import read_clip
from extract.backbones import load_backbone
from extract.cache import FeatureCache
from extract.pipeline import extract_corpus
from probe.data.batching import BLOCK_BYTES

GOAL_CLIPS_PER_S, GOAL_LOOP_RATIO, GOAL_PEAK_SHARE, GOAL_OUTSIDE = 120.0, 5.0, 0.40, 0.20
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device(args: argparse.Namespace) -> torch.device | None:
    """The device asked for; None when CUDA is asked for (or ``auto``) and absent."""
    if args.device == "cpu" or (args.allow_cpu and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        return None
    return torch.device("cuda" if args.device == "auto" else args.device)


def _whisper_flops(backbone, durations: list[float]) -> tuple[float, str]:  # noqa: ANN001 - a WhisperBackbone
    """Forward FLOPs of these clips (one window per started 30 s) and a line checking the formula."""
    dims = backbone.model.dims
    per_window = encoder_flops(dims.n_mels, dims.n_audio_state, dims.n_audio_layer)
    windows = sum(max(1, math.ceil(d / 30.0 - 1e-9)) for d in durations)
    mel = torch.zeros((1, backbone.n_mels, 3000), device=backbone.device)
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        backbone.encode_states(mel)
    counted = float(counter.get_total_flops())
    return windows * per_window, (f"{windows} windows of {per_window / 1e12:.3f} TFLOP (torch's flop counter: "
                                  f"{counted / 1e12:.3f}, ratio {per_window / counted:.3f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="whisper-small,whisper-medium,wav2vec2-large,xls-r-300m")
    parser.add_argument("--precisions", default="fp16,bf16", help="Comma list of fp16, bf16, fp32 (CUDA).")
    parser.add_argument("--batch-size", type=int, default=32, help="Clips per forward pass.")
    parser.add_argument("--shard-size", type=int, default=64, help="Clips per shard (batches form within one).")
    parser.add_argument("--clips", type=int, default=384, help="How many clips of the demo corpus.")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs of the timed Multi-Layer training.")
    parser.add_argument("--no-loop", action="store_true", help="Skip the EmoBox-style loop.")
    parser.add_argument("--device", default="auto", help="auto (CUDA, else refuse), cuda, cuda:N or cpu.")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="A rendered demo corpus to reuse.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the report to this file.")
    parser.add_argument("--allow-cpu", action="store_true", help="Without CUDA, run on the CPU (= --device cpu).")
    parser.add_argument("--smoke", action="store_true", help="whisper-tiny.en, 3 clips, 1 epoch.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.models, args.clips, args.epochs, args.batch_size = "whisper-tiny.en", 3, 1, 2
    device = _device(args)
    if device is None:
        print("gpu_extract.py measures extraction on a CUDA GPU, and no CUDA device is available here "
              f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}). Run it on a machine with "
              "an NVIDIA GPU and a CUDA build of torch (make ... TORCH_INDEX=https://download.pytorch.org/whl/cu128), "
              "or pass --device cpu to check the script on the CPU.")
        return 2
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()] if device.type == "cuda" else ["fp32"]
    report = Report("gpu_extract: pad30 Whisper and length-bucketed Wav2Vec 2.0 extraction against the EmoBox-style "
                    "loop, with Multi-Layer training on the device")
    report(f"machine          {describe_machine(device)}")
    peaks = {p: matmul_peak(device, DTYPES[p]) for p in precisions}
    report("chip peak        " + ", ".join(f"{p} {v / 1e12:.1f} TFLOP/s" for p, v in peaks.items())
           + " (measured: best square matrix product)")
    clip_rates: dict[str, float] = {}
    audio_rates: dict[str, float] = {}
    train_rates: dict[str, float] = {}
    goals: list[str] = []
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        manifest = demo_manifest(args.corpus_dir, scratch, args.clips, **(SMOKE_CORPUS if args.smoke else {}))
        waves = [read_clip(p).wave for p in manifest["path"]]
        report(f"clips            {len(manifest)} of the demo corpus ({sum(map(len, waves)) / 16000:.0f} s of audio), "
               f"batch size {args.batch_size}, shards of {args.shard_size}")
        report("")
        report(f"{'model':24s}{'precision':>10s}{'clips/s':>9s}{'audio s/s':>11s}{'outside':>9s}{'TFLOP/s':>9s}"
               f"{'of peak':>9s}{'padding':>9s}{'ML frames/s':>13s}{'ML wait':>9s}")
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            suite_rate = 0.0
            for precision in precisions:
                backbone = load_backbone(model, weights="random", device=str(device), whisper_input="pad30",
                                         precision=precision)
                batches = pipeline_batches(backbone, waves, args.batch_size, args.shard_size)
                backbone.extract_for_cache([waves[p] for p in batches[0]])  # warm-up: context, kernels, allocator
                _sync(device)
                summary = extract_corpus(manifest, backbone, scratch / f"{model}-{precision}", corpus="synthetic",
                                         batch_size=args.batch_size, shard_size=args.shard_size, log=lambda m: None)
                with FeatureCache(summary.path) as cache:
                    durations = [float(d) for d in cache.utterances["duration"]]
                    ml = multilayer_throughput(cache, None, args.epochs, BLOCK_BYTES, str(device))
                if backbone.spec.family == "whisper":
                    flops, note = _whisper_flops(backbone, durations)
                    padding = 0.0
                else:
                    flops = sum(counted_flops(backbone, [waves[p] for p in b]) for b in batches)
                    padding = padding_share(batches, [len(w) for w in waves])
                    kind = "length-bucketed" if getattr(backbone, "padding_safe", False) else "equal-length"
                    note = f"{len(batches)} {kind} batches, FLOPs counted by torch over them (padding included)"
                rate, tflops = summary.n_done / summary.wall_s, flops / summary.forward_s / 1e12
                share = flops / summary.forward_s / peaks[precision]
                suite_rate = max(suite_rate, rate)
                report(f"{backbone.name:24s}{precision:>10s}{rate:>9.1f}{summary.audio_seconds / summary.wall_s:>11.1f}"
                       f"{summary.overhead_share:>9.1%}{tflops:>9.2f}{share:>9.1%}{padding:>9.1%}"
                       f"{ml.frames_per_s:>13,.0f}{ml.wait_share:>9.1%}")
                report(f"{'':24s}{note}; training frames held in {ml.where}")
                clip_rates[model] = max(clip_rates.get(model, 0.0), rate)
                audio_rates[model] = max(audio_rates.get(model, 0.0), summary.audio_seconds / summary.wall_s)
                train_rates[model] = max(train_rates.get(model, 0.0), ml.frames_per_s)
                if model in ("whisper-medium", "wav2vec2-large", "xls-r-300m"):
                    goals.append(f"{backbone.name} {precision}: {rate:.1f} clips/s (≥ {GOAL_CLIPS_PER_S:.0f}: "
                                 f"{'met' if rate >= GOAL_CLIPS_PER_S else 'NOT met'}), {share:.1%} of the {precision} "
                                 f"peak (≥ {GOAL_PEAK_SHARE:.0%}: {'met' if share >= GOAL_PEAK_SHARE else 'NOT met'}), "
                                 f"{summary.overhead_share:.1%} of wall outside the forward (≤ {GOAL_OUTSIDE:.0%}: "
                                 f"{'met' if summary.overhead_share <= GOAL_OUTSIDE else 'NOT met'})")
                del backbone
                if device.type == "cuda":
                    torch.cuda.empty_cache()
            if not args.no_loop:
                loop_backbone = load_backbone(model, weights="random", device=str(device), precision="fp32")
                loop_backbone.extract([waves[0]])
                _sync(device)
                wall, _ = baseline_extract(manifest, loop_backbone, scratch / f"loop-{model}")
                loop_rate = len(manifest) / wall
                ratio = suite_rate / loop_rate
                report(f"{'':24s}EmoBox-style loop (1 clip, fp32, .npy): {loop_rate:.1f} clips/s; suite's best "
                       f"{suite_rate:.1f} clips/s = {ratio:.2f}× the loop")
                if model in ("whisper-medium", "wav2vec2-large", "xls-r-300m"):
                    goals.append(f"{model}: {ratio:.2f}× the loop (≥ {GOAL_LOOP_RATIO:.0f}×: "
                                 f"{'met' if ratio >= GOAL_LOOP_RATIO else 'NOT met'})")
                del loop_backbone
    report("")
    report("issue 21's goals" + ("" if device.type == "cuda" else " (on a CPU: says nothing about a GPU)") + ":")
    for line in goals or ["  none of whisper-medium, wav2vec2-large, xls-r-300m was run"]:
        report(f"  {line}")
    report("")
    for line in grid_lines(clip_rates, audio_rates, train_rates):
        report(line)
    report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
