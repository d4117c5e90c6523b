"""Whisper's encoder batch follows the extraction's batch size (no fixed cap on pad30 windows), and batched
extraction gives the states of one-at-a-time extraction: a tiny random-weight Whisper of the real architecture."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from extract.backbones import MODELS
from extract.backbones.base import to_device
from extract.backbones.whisper import WhisperBackbone
from extract.backbones.whisper_hf import HFWhisperBackbone, random_whisper_encoder
from extract.pipeline import default_batch_size, extract_corpus

TINY_DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                            n_vocab=51864, n_text_ctx=8, n_text_state=64, n_text_head=2, n_text_layer=1)
TINY_HF = {"d_model": 64, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 128,
           "num_mel_bins": 80, "max_source_positions": 1500, "vocab_size": 51864}


def _tiny(**options: object) -> WhisperBackbone:
    torch.manual_seed(0)
    return WhisperBackbone(Whisper(TINY_DIMS).eval(), MODELS["whisper-tiny.en"], checkpoint="random(seed=0)",
                           weights="random", device="cpu", **options)  # type: ignore[arg-type]


def _count_encoder_calls(backbone: WhisperBackbone) -> list[int]:
    """Wrap the backbone's real ``encoder_states`` so that each call records its batch size."""
    sizes: list[int] = []
    real = backbone.encoder_states

    def counted(mel: torch.Tensor, frames: int | None = None) -> list[torch.Tensor]:
        sizes.append(int(mel.shape[0]))
        return real(mel, frames)

    backbone.encoder_states = counted  # type: ignore[method-assign]
    return sizes


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * (130 + 35 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_default_window_batch_is_the_calls_clips_and_matches_one_at_a_time() -> None:
    backbone = _tiny()
    assert backbone.batch_windows is None
    waves = [_clip(s, i) for i, s in enumerate((0.5, 1.7, 0.9, 2.3, 1.1, 0.3, 1.4, 0.8, 2.0, 0.6, 1.2))]
    sizes = _count_encoder_calls(backbone)
    batched = backbone.extract(waves)
    assert sizes == [11]  # eleven clips under 30 s: one encoder call, not capped at 8 windows
    sizes.clear()
    single = [backbone.extract([w])[0] for w in waves]
    assert sizes == [1] * 11
    for wave, got, want in zip(waves, batched, single):
        assert got.shape == want.shape == (3, backbone.n_frames(len(wave)), 64)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_long_clips_run_their_windows_in_batches_of_the_calls_size() -> None:
    backbone = _tiny()
    long = np.concatenate([_clip(30.0, 1), _clip(1.5, 2)])  # two windows
    waves = [long, _clip(0.7, 3), _clip(1.0, 4)]
    sizes = _count_encoder_calls(backbone)
    batched = backbone.extract(waves)
    assert sizes == [3, 1]  # four windows, three clips per call
    for wave, got in zip(waves, batched):
        np.testing.assert_allclose(got, backbone.extract([wave])[0], atol=1e-4, rtol=1e-4)


def test_an_explicit_window_batch_caps_each_encoder_call() -> None:
    capped, free = _tiny(batch_windows=2), _tiny()
    waves = [_clip(0.4 + 0.3 * i, i) for i in range(5)]
    sizes = _count_encoder_calls(capped)
    got = capped.extract(waves)
    assert sizes == [2, 2, 1]
    for a, b in zip(got, free.extract(waves)):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="batch_windows must be at least 1"):
        _tiny(batch_windows=0)


def test_hf_whisper_follows_the_calls_batch_too() -> None:
    backbone = HFWhisperBackbone(random_whisper_encoder(TINY_HF), MODELS["whisper-large-v3-turbo"],
                                 checkpoint="random(seed=0)", weights="random", device="cpu")
    assert backbone.n_states == 3 and backbone.dim == 64 and backbone.batch_windows is None
    assert backbone.params == sum(p.numel() for p in backbone.encoder.parameters()) > 0
    waves = [_clip(0.3 + 0.2 * i, i) for i in range(10)]
    sizes = _count_encoder_calls(backbone)
    batched = backbone.extract(waves)
    assert sizes == [10]
    for wave, got in zip(waves, batched):
        np.testing.assert_allclose(got, backbone.extract([wave])[0], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="whisper_input must be one of"):
        HFWhisperBackbone(random_whisper_encoder(TINY_HF), MODELS["whisper-large-v3-turbo"], checkpoint="x",
                          weights="random", whisper_input="full")


def test_extraction_batch_size_sets_the_encoder_batch(tmp_path: Path, write_wav) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.4 + 0.15 * i, seed=i) for i in range(7)]
    manifest = pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths],
                             "label": ["anger", "neutral"] * 3 + ["anger"], "speaker": [f"s{i % 3}" for i in range(7)],
                             "gender": ["f"] * 7})
    caches = {}
    for batch_size, calls in ((5, [5, 2]), (1, [1] * 7), (None, [2, 2, 2, 1])):  # None: the CPU default, 2
        backbone = _tiny()
        sizes = _count_encoder_calls(backbone)
        summary = extract_corpus(manifest, backbone, tmp_path / f"b{batch_size}", corpus="demo",
                                 batch_size=batch_size, shard_size=32, log=lambda m: None)
        assert summary.n_done == 7 and sizes == calls
        caches[batch_size] = summary.path
    assert default_batch_size(_tiny()) == 2
    with h5py.File(caches[5], "r") as a, h5py.File(caches[1], "r") as b:
        for layer in a["layers"]:
            np.testing.assert_allclose(a[f"layers/{layer}"][()], b[f"layers/{layer}"][()], atol=2e-3, rtol=2e-3)
        np.testing.assert_allclose(a["pooled/mean"][()], b["pooled/mean"][()], atol=1e-4, rtol=1e-4)


def test_to_device_on_the_cpu_is_the_tensor_itself() -> None:
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    moved = to_device(tensor, torch.device("cpu"))
    assert moved is tensor and not moved.is_pinned()
