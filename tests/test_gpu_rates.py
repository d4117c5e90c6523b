"""The measuring helpers of benchmarks/gpu_extract.py on a tiny Wav2Vec 2.0 (CPU, chosen explicitly): the batches it
counts are the pipeline's, FLOPs are counted through the weight-normed positional convolution, and the grid uses
the registry's corpora."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from gpu_rates import counted_flops, grid_lines, matmul_peak, padding_share, pipeline_batches  # noqa: E402

from extract.pipeline import _batches  # noqa: E402
from tests.test_length_buckets import _backbone, _clip  # noqa: E402


def test_counted_batches_are_the_pipelines_and_their_flops_are_counted() -> None:
    backbone = _backbone("wav2vec2-large")
    waves = [_clip(s, i) for i, s in enumerate((0.9, 0.3, 0.6, 0.35, 0.85))]
    plan = pipeline_batches(backbone, waves, batch_size=2, shard_size=3)  # shards [0..2], [3, 4]
    first = list(_batches(list(enumerate(waves[:3])), backbone, 2))
    second = [[3 + p for p in b] for b in _batches(list(enumerate(waves[3:])), backbone, 2)]
    assert plan == first + second == [[1, 2], [0], [3, 4]]
    assert padding_share(plan, [len(w) for w in waves]) == 1 - 48000 / (9600 * 2 + 14400 + 13600 * 2)
    alone = counted_flops(backbone, waves[:1])
    assert alone > 0 and counted_flops(backbone, [waves[0], waves[0]]) == 2 * alone


def test_peak_and_grid_lines() -> None:
    assert matmul_peak(torch.device("cpu"), torch.float32, repeats=2) > 1e8
    lines = grid_lines({"whisper-medium": 100.0}, {"xls-r-300m": 400.0}, {})
    assert lines[0].startswith("paper grid: 6 backbones × 9 corpora")
    medium = next(line for line in lines if "whisper-medium " in line)
    clips = int(lines[0].split("(")[1].split(" clips")[0].replace(",", ""))
    assert f"{clips / 100.0 / 3600:.3f} device-h" in medium
    assert any("xls-r-300m" in line and "per audio second" in line for line in lines)
    assert any("wav2vec2-base" in line and "not measured" in line for line in lines)
    assert np.isfinite(clips)
