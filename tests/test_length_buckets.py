"""Length-bucketed batches for padding-safe Wav2Vec 2.0 models (wav2vec2-large, xls-r-300m: layer-norm front end,
attention mask) equal one clip at a time within 1e-4; group-norm models (wav2vec2-base) batch equal lengths only.
Tiny random-init configs of the real architectures, on the CPU (chosen explicitly)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from extract.backbones import BASE_CONFIG, LARGE_CONFIG, MODELS
from extract.backbones.wav2vec2 import Wav2Vec2Backbone, random_transformers
from extract.pipeline import _batches

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
         "conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}


def _backbone(name: str) -> Wav2Vec2Backbone:
    norm = {k: v for k, v in (LARGE_CONFIG if name != "wav2vec2-base" else BASE_CONFIG).items()
            if k in ("feat_extract_norm", "do_stable_layer_norm", "conv_bias")}
    config = {**SMALL, **norm}
    spec = replace(MODELS[name], name=f"tiny-{name}", n_states=3, dim=32, extra=config)
    return Wav2Vec2Backbone(random_transformers("wav2vec2", config, 0), spec, checkpoint="random(seed=0)",
                            weights="random", device="cpu")


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32)


def _padding(plan: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[p] for p in batch) * len(batch) - sum(lengths[p] for p in batch) for batch in plan)


@pytest.mark.parametrize("name", ["wav2vec2-large", "xls-r-300m"])
def test_layer_norm_models_get_length_sorted_batches_equal_to_one_clip_at_a_time(name: str) -> None:
    backbone = _backbone(name)
    assert backbone.padding_safe
    waves = [_clip(s, i) for i, s in enumerate((1.9, 0.4, 1.2, 0.45, 1.85, 1.25, 0.5))]
    lengths = [len(w) for w in waves]
    plan = list(_batches(list(enumerate(waves)), backbone, 3))  # what the pipeline runs
    assert plan == [[1, 3, 6], [2, 5, 4], [0]]  # shortest first (1.85 s before 1.9 s)
    assert _padding(plan, lengths) * 3 <= _padding([[0, 1, 2], [3, 4, 5], [6]], lengths)  # a third
    for batch in plan:
        for p, got in zip(batch, backbone.extract_for_cache([waves[p] for p in batch])):
            alone = backbone.extract_for_cache([waves[p]])[0]
            assert got.frames.shape == alone.frames.shape == (3, backbone.n_frames(lengths[p]), 32)
            np.testing.assert_allclose(got.frames.astype(np.float32), alone.frames.astype(np.float32),
                                       atol=1e-4 + 2e-3 * np.abs(alone.frames).max())  # float16 steps at worst
            np.testing.assert_allclose(got.pooled, alone.pooled, atol=1e-4)


def test_group_norm_models_batch_only_equal_lengths() -> None:
    backbone = _backbone("wav2vec2-base")
    assert backbone.group_norm and not backbone.padding_safe
    lengths = [16000, 8000, 16000, 8000, 12000]
    plan = backbone.batch_plan(lengths, 4)
    assert sorted(map(sorted, plan)) == [[0, 2], [1, 3], [4]]
    assert all(len({lengths[p] for p in batch}) == 1 for batch in plan)
