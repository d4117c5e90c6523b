"""Extraction on a CUDA GPU: Whisper small and medium (real architectures, random weights) over the demo corpus.

For each model and precision: ``pad30`` input, batched (every input is 30 s of log-mel, so any clips batch),
fp16 or bf16 autocast, through the ordinary pipeline (:func:`extract.pipeline.extract_corpus`: audio decoded ahead,
shards written by a background thread). It prints clips per second, the share of wall time in the forward pass,
the achieved TFLOP/s against the encoder's FLOP count (:func:`encoder_flops`, matrix products and convolutions of
every 30 s window), and the Multi-Layer training throughput with the whole cache held on the GPU.

Without a CUDA device it says so and exits with status 2 (``--allow-cpu`` runs the same code on the CPU in fp32,
which the test suite uses to keep the script working; those numbers say nothing about a GPU).

    python benchmarks/gpu_extract.py --out benchmarks/results/gpu_extract_<gpu>.txt
    python benchmarks/gpu_extract.py --models whisper-medium --precisions bf16 --batch-size 32
    python benchmarks/gpu_extract.py --smoke          # tiny model, 3 clips (CUDA; add --allow-cpu without one)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

from machine import SMOKE_CORPUS, Report, demo_manifest, describe_machine
from probe_throughput import multilayer_throughput

from extract.audio import read_clip
from extract.backbones import load_backbone
from extract.cache import FeatureCache
from extract.pipeline import extract_corpus
from probe.batching import BLOCK_BYTES

WINDOW_SECONDS = 30.0
MEL_FRAMES, ENC_FRAMES = 3000, 1500


def encoder_flops(n_mels: int, dim: int, layers: int) -> float:
    """Floating-point operations (2 per multiply-add) of one Whisper encoder pass over a 30 s window: the two
    convolutions (kernel 3), and per block the four attention projections (8 T d²), the attention products
    (4 T² d) and the MLP (16 T d²). Norms, activations and softmax are left out (a few percent)."""
    t = ENC_FRAMES
    convs = 2 * MEL_FRAMES * n_mels * dim * 3 + 2 * t * dim * dim * 3
    return float(convs + layers * (24 * t * dim * dim + 4 * t * t * dim))


def counted_flops(backbone) -> float:  # noqa: ANN001 - a WhisperBackbone
    """FLOPs of one 30 s window through the encoder as counted by ``torch.utils.flop_counter`` (a check of
    :func:`encoder_flops`)."""
    from torch.utils.flop_counter import FlopCounterMode

    mel = torch.zeros((1, backbone.n_mels, MEL_FRAMES), device=backbone.device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        backbone.encode_states(mel)
    return float(counter.get_total_flops())


def windows_of(durations: list[float]) -> int:
    """30 s windows the encoder runs for clips of these durations (a clip is never dropped)."""
    return sum(max(1, math.ceil(d / WINDOW_SECONDS - 1e-9)) for d in durations)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="whisper-small,whisper-medium", help="Comma list of Whisper models.")
    parser.add_argument("--precisions", default="fp16,bf16", help="Comma list of fp16, bf16, fp32.")
    parser.add_argument("--batch-size", type=int, default=32, help="Clips per forward pass.")
    parser.add_argument("--clips", type=int, default=384, help="How many clips of the demo corpus.")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs of the timed Multi-Layer training.")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="A rendered demo corpus to reuse.")
    parser.add_argument("--out", type=Path, default=None, help="Also write the report to this file.")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="Without CUDA, run on the CPU in fp32 (checks the script; no GPU numbers).")
    parser.add_argument("--smoke", action="store_true", help="whisper-tiny.en, 3 clips, 1 epoch.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.models, args.clips, args.epochs, args.batch_size = "whisper-tiny.en", 3, 1, 2
    if torch.cuda.is_available():
        device, precisions = "cuda", [p.strip() for p in args.precisions.split(",") if p.strip()]
    elif args.allow_cpu:
        device, precisions = "cpu", ["fp32"]
    else:
        print("gpu_extract.py measures extraction on a CUDA GPU, and no CUDA device is available here "
              f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}). Run it on a machine with "
              "an NVIDIA GPU and a CUDA build of torch (make ... TORCH_INDEX=https://download.pytorch.org/whl/cu128), "
              "or pass --allow-cpu to check the script on the CPU.")
        return 2

    report = Report("gpu_extract: batched pad30 Whisper extraction and Multi-Layer training on the GPU")
    report(f"machine          {describe_machine(device)}")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        manifest = demo_manifest(args.corpus_dir, scratch, args.clips, **(SMOKE_CORPUS if args.smoke else {}))
        report(f"clips            {len(manifest)} of the demo corpus, pad30, batch size {args.batch_size}")
        report("")
        report(f"{'model':24s}{'precision':>10s}{'clips/s':>9s}{'audio s/s':>11s}{'forward':>9s}{'TFLOP/s':>9s}"
               f"{'of wall':>9s}{'ML frames/s':>13s}{'ML wait':>9s}")
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            for precision in precisions:
                backbone = load_backbone(model, weights="random", device=device, whisper_input="pad30",
                                         precision=precision)
                dims = backbone.model.dims
                formula = encoder_flops(dims.n_mels, dims.n_audio_state, dims.n_audio_layer)
                counted = counted_flops(backbone)
                waves = [read_clip(p).wave for p in manifest["path"].iloc[: args.batch_size]]
                backbone.extract(waves)  # warm-up: CUDA context, kernel selection, allocator
                if device == "cuda":
                    torch.cuda.synchronize()
                out = scratch / f"{model}-{precision}"
                start = time.perf_counter()
                summary = extract_corpus(manifest, backbone, out, corpus="synthetic", batch_size=args.batch_size,
                                         log=lambda m: None)
                wall = time.perf_counter() - start
                with FeatureCache(summary.path) as cache:
                    windows = windows_of([float(d) for d in cache.utterances["duration"]])
                    flops = windows * encoder_flops(dims.n_mels, dims.n_audio_state, dims.n_audio_layer)
                    ml = multilayer_throughput(cache, None, args.epochs, BLOCK_BYTES, device)
                report(f"{backbone.name:24s}{precision:>10s}{summary.n_done / wall:>9.1f}"
                       f"{summary.audio_seconds / wall:>11.1f}{summary.forward_s / summary.wall_s:>9.1%}"
                       f"{flops / summary.forward_s / 1e12:>9.2f}{flops / wall / 1e12:>9.2f}"
                       f"{ml.frames_per_s:>13,.0f}{ml.wait_share:>9.1%}")
                report(f"{'':24s}frames held in {ml.where} for training; {windows} windows of {formula / 1e12:.3f} "
                       f"TFLOP (torch's flop counter: {counted / 1e12:.3f}, ratio {formula / counted:.3f})")
                del backbone
                if device == "cuda":
                    torch.cuda.empty_cache()
    report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
