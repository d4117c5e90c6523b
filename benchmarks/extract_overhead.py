"""How much of an extraction's wall time is spent outside the model's forward pass?

Runs one real extraction (``extract.pipeline.extract_corpus``) of a model over the synthetic demo corpus and
prints the measured split of wall time: forward pass (log-mel / input normalisation + the encoder) against
everything else (waiting for audio decoding and resampling, HDF5 shard writing, the final merge). Target: the
share outside the forward pass under 5%.

    python benchmarks/extract_overhead.py --model whisper-tiny.en --clips 96
    python benchmarks/extract_overhead.py --model wav2vec2-base --weights random --device cuda
    python benchmarks/extract_overhead.py --smoke       # 3 clips, random tiny weights (CI)

With ``--fixed-cost`` it also measures what a whole ``probe extract`` of ``--fixed-clips`` clips (48 by default)
spends outside the extraction, phase by phase in fresh processes (``benchmarks/fixed_cost.py``), for this tree
and for each ``--compare`` tree (another checkout of the project, e.g. ``git worktree add /tmp/before HEAD~3``),
side by side:

    python benchmarks/extract_overhead.py --weights random --whisper-input trim --clips 48 --fixed-cost \
        --compare before=/tmp/before
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from fixed_cost import corpus_folder, measure, median_phases, report_side_by_side
from machine import SMOKE_CORPUS, Report, demo_manifest, describe_machine

from extract.backbones import load_backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="whisper-tiny.en")
    parser.add_argument("--weights", default="pretrained", choices=("pretrained", "random", "ct2"))
    parser.add_argument("--whisper-input", default="pad30", choices=("pad30", "trim"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    parser.add_argument("--batch-size", type=int, default=None, help="default: the suite's (2 on CPU, 8 on GPU)")
    parser.add_argument("--clips", type=int, default=96, help="how many clips of the demo corpus to extract")
    parser.add_argument("--corpus-dir", type=Path, default=None, help="reuse a rendered demo corpus here")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--smoke", action="store_true", help="CI size: 3 clips, random whisper-tiny.en, trim input")
    parser.add_argument("--fixed-cost", action="store_true", help="also time a whole `probe extract`, phase by phase")
    parser.add_argument("--fixed-clips", type=int, default=48, help="clips of that `probe extract`")
    parser.add_argument("--repeats", type=int, default=1, help="times each tree is timed (medians reported)")
    parser.add_argument("--compare", action="append", default=[], metavar="[LABEL=]PATH",
                        help="another tree of the project to time the same way, in its own column (repeatable)")
    args = parser.parse_args()
    if args.smoke:
        args.clips, args.weights, args.whisper_input, args.device = min(args.clips, 3), "random", "trim", "cpu"
        args.fixed_clips = min(args.fixed_clips, 3)
    report = Report("extract_overhead: share of extraction wall time outside the forward pass")

    with tempfile.TemporaryDirectory() as scratch:
        manifest = demo_manifest(args.corpus_dir, Path(scratch), args.clips, **(SMOKE_CORPUS if args.smoke else {}))
        backbone = load_backbone(args.model, weights=args.weights, device=args.device,
                                 whisper_input=args.whisper_input, precision=args.precision)
        from extract.audio import load_audio
        from extract.pipeline import default_batch_size, extract_corpus

        args.batch_size = args.batch_size or default_batch_size(backbone)
        # Warm-up outside the measurement (first-call allocations, CUDA context, kernel selection).

        backbone.extract([load_audio(manifest["path"].iloc[0])])
        if backbone.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        summary = extract_corpus(manifest, backbone, Path(scratch) / "features", corpus="synthetic",
                                 batch_size=args.batch_size, log=lambda m: None)
        wall = time.perf_counter() - start
        cache_mb = summary.path.stat().st_size / 2**20
        if args.fixed_cost:
            fixed = demo_manifest(args.corpus_dir, Path(scratch), args.fixed_clips)
            data_root = Path(scratch) / "fixed"
            corpus_folder(fixed, args.corpus_dir or Path(scratch) / "synthetic", data_root)
            trees = {"this tree": Path(__file__).resolve().parents[1]}
            trees.update((c.partition("=")[0], Path(c.partition("=")[2])) if "=" in c else (c, Path(c))
                         for c in args.compare)
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for r in range(args.repeats):  # the trees in turn, so a busy spell of the machine hits them alike
                for i, (name, tree) in enumerate(trees.items()):
                    runs[name].append(measure(tree, data_root, Path(scratch) / f"fixed-{i}-{r}", args))
            columns = {name: median_phases(found) for name, found in runs.items()}
    t0 = time.perf_counter()  # what starting the merge process costs: its interpreter and imports, no work
    subprocess.run([sys.executable, "-c", "import extract.merge_child"], check=True)
    child_start = time.perf_counter() - t0

    device = torch.cuda.get_device_name(backbone.device) if backbone.device.type == "cuda" else (
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    outside = 1.0 - summary.forward_s / summary.wall_s
    report(f"machine          {describe_machine(backbone.device)}")
    report(f"model            {backbone.name} ({backbone.checkpoint}), {args.whisper_input if backbone.spec.family == 'whisper' else ''}")
    report(f"device           {device}, precision {backbone.precision}, batch size {args.batch_size}")
    report(f"clips            {summary.n_done} done, {len(summary.skipped)} skipped, {summary.audio_seconds:.1f} s of audio")
    report(f"wall time        {summary.wall_s:.2f} s  (harness: {wall:.2f} s)")
    report(f"  forward pass   {summary.forward_s:.2f} s  ({summary.forward_s / summary.wall_s:6.1%})")
    report(f"  audio wait     {summary.load_wait_s:.2f} s  ({summary.load_wait_s / summary.wall_s:6.1%})  decoding + resampling not hidden by prefetch")
    report(f"  shard writes   {summary.write_s:.2f} s  ({summary.write_s / summary.wall_s:6.1%})  waiting on the writer thread")
    report(f"  final merge    {summary.merge_s:.2f} s  ({summary.merge_s / summary.wall_s:6.1%})  {cache_mb:.1f} MB "
           f"written and fsynced, in a child process that starts in {child_start:.2f} s")
    report(f"throughput       {summary.audio_seconds / summary.wall_s:.1f} s of audio per second")
    report(f"outside forward  {outside:.1%}  (target < 5%: {'met' if outside < 0.05 else 'NOT met'})")
    if args.fixed_cost:
        report()
        report_side_by_side(columns, args.fixed_clips, report)
    report.save(args.out)


if __name__ == "__main__":
    main()
