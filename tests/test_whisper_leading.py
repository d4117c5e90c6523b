"""The encoder's last block run on the leading frames only (pad30 on the CPU) gives the plain block's values bit for
bit: random weights of the real Whisper widths (head size 64, as every Whisper model) and of a small test width."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, ResidualAttentionBlock, Whisper

from extract.backbones import MODELS
from extract.backbones.whisper import (
    LEADING_MIN_FRAMES, SAMPLES_PER_FRAME, WhisperBackbone, _windows, last_block_leading,
)


@pytest.mark.parametrize("state,heads", [(64, 2), (384, 6), (512, 8)])
def test_last_block_on_leading_frames_equals_the_whole_block(state: int, heads: int) -> None:
    torch.manual_seed(state)
    block = ResidualAttentionBlock(state, heads).eval()
    x = torch.randn(2, 1500, state)
    with torch.inference_mode():
        whole = block(x)
        for frames in (1, 75, 130, 191, 256, 300, 777, 1499, 1500):
            lead = last_block_leading(block, x, frames)
            n = min(1500, max(frames, LEADING_MIN_FRAMES))
            assert lead.shape == (2, n, state)
            assert torch.equal(lead, whole[:, :n]), frames


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * (120 + 30 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def test_pad30_extraction_equals_every_frame_through_every_block(monkeypatch: pytest.MonkeyPatch) -> None:
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=128, n_audio_head=2, n_audio_layer=2,
                           n_vocab=51864, n_text_ctx=8, n_text_state=128, n_text_head=2, n_text_layer=1)
    torch.manual_seed(0)
    backbone = WhisperBackbone(Whisper(dims).eval(), MODELS["whisper-tiny.en"], checkpoint="random(seed=0)",
                               weights="random", device="cpu")
    import extract.backbones.whisper as module

    led: list[int] = []

    def counted(block: torch.nn.Module, x: torch.Tensor, frames: int) -> torch.Tensor:
        led.append(frames)
        return last_block_leading(block, x, frames)

    monkeypatch.setattr(module, "last_block_leading", counted)
    short = [_clip(s, i) for i, s in enumerate((0.4, 2.9, 6.1))]
    long = np.concatenate([_clip(30.0, 7), _clip(1.2, 8)])
    waves = short + [long]
    got = backbone.extract(short) + backbone.extract([long])
    assert led == [305, 1500, 60]  # the short clips' call, then the long clip's full window and its 1.2 s one
    with torch.inference_mode():
        for wave, states in zip(waves, got):
            parts = []
            for window in _windows(wave):
                every = backbone.encoder_states(backbone.log_mel_batch([window]))  # no frames: every block whole
                real = math.ceil(len(window) / SAMPLES_PER_FRAME)
                parts.append(torch.stack([s[0, :real] for s in every]))
            want = torch.cat(parts, dim=1).float().numpy()
            assert states.shape == want.shape
            assert np.array_equal(states.view(np.int32), want.view(np.int32))
