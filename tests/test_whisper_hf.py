"""Whisper in transformers format (``WhisperModel`` encoder) gives the same states as the openai-whisper path for
the same weights: random-init tiny dims, weights copied across with an independent key map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper
from transformers import WhisperConfig
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from extract.backbones import MODELS, load_backbone
from extract.backbones.whisper import WhisperBackbone, random_whisper
from extract.backbones.whisper_hf import HFWhisperBackbone

TINY = {"d_model": 384, "encoder_layers": 4, "encoder_attention_heads": 6, "encoder_ffn_dim": 1536,
        "num_mel_bins": 80, "max_source_positions": 1500, "vocab_size": 51864}
# openai-whisper encoder key → transformers WhisperEncoder key (per block: "blocks.{i}." → "layers.{i}.")
BLOCK_KEYS = {"attn.query": "self_attn.q_proj", "attn.key": "self_attn.k_proj", "attn.value": "self_attn.v_proj",
              "attn.out": "self_attn.out_proj", "attn_ln": "self_attn_layer_norm", "mlp.0": "fc1", "mlp.2": "fc2",
              "mlp_ln": "final_layer_norm"}


def hf_state(openai_encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in openai_encoder.state_dict().items():
        if key == "positional_embedding":
            out["embed_positions.weight"] = value
        elif key.startswith("ln_post."):
            out[key.replace("ln_post.", "layer_norm.")] = value
        elif key.startswith("blocks."):
            _, i, rest = key.split(".", 2)
            module, param = rest.rsplit(".", 1)
            out[f"layers.{i}.{BLOCK_KEYS[module]}.{param}"] = value
        else:
            out[key] = value  # conv1, conv2
    return out


@pytest.fixture(scope="module")
def pair() -> tuple[WhisperBackbone, HFWhisperBackbone]:
    ours = load_backbone("whisper-tiny.en", weights="random", device="cpu")
    encoder = WhisperEncoder(WhisperConfig(**TINY))
    encoder.load_state_dict(hf_state(ours.encoder), strict=True)
    spec = MODELS["whisper-large-v3-turbo"]
    hf = HFWhisperBackbone(encoder, spec, checkpoint="random(seed=0)", weights="random", device="cpu")
    return ours, hf


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * (140 + 30 * seed) * t) * (0.5 + 0.5 * np.sin(6 * t))
            + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("whisper_input", ["pad30", "trim"])
def test_same_states_as_openai_whisper(pair: tuple[WhisperBackbone, HFWhisperBackbone], whisper_input: str) -> None:
    ours, hf = pair
    ours.whisper_input = hf.whisper_input = whisper_input
    try:
        waves = [speechlike(1.4, 0), speechlike(0.9, 1)]
        batches = [waves] if whisper_input == "pad30" else [[w] for w in waves]  # trim: equal lengths only
        a = [s for batch in batches for s in ours.extract(batch)]
        b = [s for batch in batches for s in hf.extract(batch)]
        for x, y in zip(a, b):
            assert x.shape == y.shape == (5, x.shape[1], 384) and x.shape[1] in (70, 45)
            np.testing.assert_allclose(y, x, atol=1e-4, rtol=1e-4)
    finally:
        ours.whisper_input = hf.whisper_input = "pad30"


def test_layer_convention_against_transformers_forward(pair: tuple[WhisperBackbone, HFWhisperBackbone]) -> None:
    _, hf = pair
    wave = speechlike(2.0, 2)
    states = torch.from_numpy(hf.extract([wave])[0])
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(wave)), 80)[None]
    with torch.inference_mode():
        out = hf.encoder(mel, output_hidden_states=True)  # transformers' own encoder forward (3000 mel frames)
    hidden = [h[0, :100] for h in out.hidden_states]
    assert states.shape == (5, 100, 384) and len(hidden) == 5
    for l in range(4):  # state 0 = input of block 1 (conv front end + positions), state l = output of block l
        torch.testing.assert_close(states[l], hidden[l], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(states[-1], out.last_hidden_state[0, :100], atol=1e-4, rtol=1e-4)  # after layer_norm


def test_registered_random_encoder_and_metadata() -> None:
    spec = MODELS["whisper-large-v3-turbo"]
    assert (spec.model_type, spec.n_states, spec.dim, spec.extra["num_mel_bins"]) == ("whisper", 33, 1280, 128)
    small = {**TINY, "encoder_layers": 2}
    from extract.backbones.whisper_hf import random_whisper_encoder

    a, b = random_whisper_encoder(small, seed=3), random_whisper_encoder(small, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    bb = HFWhisperBackbone(a, spec, checkpoint="random(seed=3)", weights="random", device="cpu")
    assert bb.n_states == 3 and bb.attrs()["model_type"] == "whisper" and bb.attrs()["family"] == "whisper"
    assert bb.params == sum(p.numel() for p in a.parameters())
    wave = speechlike(0.5, 3)
    first = bb.extract([wave])[0]
    bb.encoder.train()  # training mode switched back on by a caller: still deterministic, same states
    np.testing.assert_array_equal(bb.extract([wave])[0], first)
    assert random_whisper("tiny.en").dims.n_audio_state == 384
