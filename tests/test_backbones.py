"""Layer convention, batching and long clips, on real architectures built from configs with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import whisper

from extract.backbones import MODELS, get_spec, load_backbone
from extract.backbones.base import ModelSpec
from extract.backbones.wav2vec2 import Wav2Vec2Backbone, random_wav2vec2
from extract.backbones.whisper import WhisperBackbone, random_whisper

TINY_W2V = {
    "hidden_size": 32,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (16,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 2,
}


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.2 * env * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _w2v(stable: bool) -> Wav2Vec2Backbone:
    norm = "layer" if stable else "group"
    model = random_wav2vec2({**TINY_W2V, "feat_extract_norm": norm, "do_stable_layer_norm": stable})
    spec = ModelSpec("tiny-w2v", "wav2vec2", "config", "self-supervised", "en", 4, 32)
    return Wav2Vec2Backbone(model, spec, checkpoint="random", weights="random", device="cpu")


@pytest.fixture(scope="module")
def tiny_whisper() -> WhisperBackbone:
    return load_backbone("whisper-tiny.en", weights="random", device="cpu")


@pytest.mark.parametrize("stable", [False, True], ids=["group-norm-base", "stable-layer-norm-large"])
def test_wav2vec2_layer_convention(stable: bool) -> None:
    bb = _w2v(stable)
    wave = _speechlike(1.0, 0)
    states = torch.from_numpy(bb.extract([wave])[0])
    assert states.shape == (4, bb.n_frames(len(wave)), 32)
    model, enc = bb.model, bb.model.encoder
    x = torch.from_numpy(bb.extractor([wave], sampling_rate=16000, return_tensors="np")["input_values"])
    with torch.inference_mode():
        feats = model.feature_extractor(x).transpose(1, 2)
        hidden, _ = model.feature_projection(feats)
        state0 = hidden + enc.pos_conv_embed(hidden)
        if not stable:  # base: LayerNorm before the first block; large/XLS-R: final LayerNorm after the last
            state0 = enc.layer_norm(state0)
        torch.testing.assert_close(states[0], state0[0], atol=1e-5, rtol=1e-4)
        for l, layer in enumerate(enc.layers[:-1], start=1):  # state l is the output of block l
            out = layer(states[l - 1][None])
            out = out[0] if isinstance(out, tuple) else out
            torch.testing.assert_close(states[l], out[0], atol=1e-5, rtol=1e-4)
        last = enc.layers[-1](states[-2][None])
        last = last[0] if isinstance(last, tuple) else last
        if stable:  # the model's own final hidden state is after the encoder's final LayerNorm
            last = enc.layer_norm(last)
        torch.testing.assert_close(states[-1], last[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(states[-1], model(x).last_hidden_state[0], atol=1e-5, rtol=1e-4)


def test_whisper_layer_convention(tiny_whisper: WhisperBackbone) -> None:
    wave = _speechlike(2.0, 1)
    states = torch.from_numpy(tiny_whisper.extract([wave])[0])
    assert states.shape == (5, 100, 384)  # 4 blocks + input; 50 frames per second of real audio
    enc = tiny_whisper.encoder
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(wave)), 80)[None]
    with torch.inference_mode():
        x = F.gelu(enc.conv2(F.gelu(enc.conv1(mel)))).permute(0, 2, 1) + enc.positional_embedding
        torch.testing.assert_close(states[0], x[0, :100], atol=1e-5, rtol=1e-4)
        full = [x]
        for block in enc.blocks:
            full.append(block(full[-1]))
        for l in range(1, 4):
            torch.testing.assert_close(states[l], full[l][0, :100], atol=1e-4, rtol=1e-4)
        own = enc(mel)  # openai-whisper's own encoder output, after ln_post
        torch.testing.assert_close(states[-1], own[0, :100], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(states[-1], enc.ln_post(full[-1])[0, :100], atol=1e-4, rtol=1e-4)


def test_whisper_trim_differs_but_correlates(tiny_whisper: WhisperBackbone) -> None:
    wave = _speechlike(1.3, 2)
    trim = WhisperBackbone(tiny_whisper.model, tiny_whisper.spec, checkpoint="random", weights="random",
                           whisper_input="trim", device="cpu")
    a, b = tiny_whisper.extract([wave])[0], trim.extract([wave])[0]
    assert a.shape == b.shape == (5, 65, 384)
    assert not np.allclose(a[-1], b[-1], atol=1e-3)  # the positional context differs...
    np.testing.assert_allclose(a[0, :60], b[0, :60], atol=1e-3)  # ...but the input state matches on real audio


def test_whisper_clip_over_30s_is_windowed_not_dropped(tiny_whisper: WhisperBackbone) -> None:
    wave = np.concatenate([_speechlike(30.0, 3), _speechlike(3.5, 4)])
    states = tiny_whisper.extract([wave])[0]
    assert states.shape == (5, 1500 + 175, 384) == (5, tiny_whisper.n_frames(len(wave)), 384)
    first = tiny_whisper.extract([wave[:480000]])[0]
    tail = tiny_whisper.extract([wave[480000:]])[0]
    np.testing.assert_allclose(states[:, :1500], first, atol=1e-4)
    np.testing.assert_allclose(states[:, 1500:], tail, atol=1e-4)


def test_whisper_batched_equals_one_by_one(tiny_whisper: WhisperBackbone) -> None:
    waves = [_speechlike(s, i) for i, s in enumerate((0.7, 1.9, 1.2))]
    batched = tiny_whisper.extract(waves)
    for wave, got in zip(waves, batched):
        np.testing.assert_allclose(got, tiny_whisper.extract([wave])[0], atol=1e-4)


def test_group_norm_wav2vec2_batches_equal_lengths_only() -> None:
    bb = _w2v(stable=False)
    waves = [_speechlike(1.0, i) for i in range(3)]
    batched = bb.extract(waves)
    for wave, got in zip(waves, batched):
        np.testing.assert_allclose(got, bb.extract([wave])[0], atol=1e-5)
    assert bb.group_key(16000) != bb.group_key(12000)
    with pytest.raises(ValueError, match="group keys"):
        bb.extract([waves[0], waves[1][:12000]])


def test_layer_norm_wav2vec2_padded_batch_equals_one_by_one() -> None:
    bb = _w2v(stable=True)
    waves = [_speechlike(s, i) for i, s in enumerate((0.6, 1.4, 1.0))]
    batched = bb.extract(waves)
    for wave, got in zip(waves, batched):
        single = bb.extract([wave])[0]
        assert got.shape == single.shape
        np.testing.assert_allclose(got, single, atol=1e-4)


def test_registry_names_and_dimensions() -> None:
    expected = {"wav2vec2-base": (13, 768), "wav2vec2-large": (25, 1024), "xls-r-300m": (25, 1024),
                "whisper-small.en": (13, 768), "whisper-small": (13, 768), "whisper-medium": (25, 1024),
                "whisper-tiny": (5, 384), "whisper-tiny.en": (5, 384), "whisper-base": (7, 512),
                "whisper-large-v3": (33, 1280)}
    for name, dims in expected.items():
        assert (MODELS[name].n_states, MODELS[name].dim) == dims, name
    assert MODELS["xls-r-300m"].languages == "multi" and MODELS["whisper-small.en"].languages == "en"
    with pytest.raises(KeyError, match="unknown model"):
        get_spec("not-a-model")


def test_random_weights_are_seeded(tiny_whisper: WhisperBackbone) -> None:
    again = random_whisper("tiny.en", seed=0)
    for (name, a), (_, b) in zip(tiny_whisper.model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
