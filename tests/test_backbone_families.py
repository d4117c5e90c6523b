"""Every transformers encoder family on random-init tiny configs: the layer convention, a fixed number of states
with training-time randomness off, batching, and a real cache of synthetic speech that `probe run` trains on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from extract.backbones import MODELS
from extract.backbones.base import ModelSpec
from extract.backbones.wav2vec2 import Wav2Vec2Backbone, random_transformers
from extract.backbones.whisper_hf import HFWhisperBackbone, random_whisper_encoder

TINY = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64,
        "layerdrop": 0.9}  # layer drop on in the config: extraction must switch it off
CONV = {"conv_dim": (16,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2}
STABLE = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
# name: (model_type, tiny config, final LayerNorm after the last block, padded batches allowed)
FAMILIES: dict[str, tuple[str, dict[str, object], bool, bool]] = {
    "hubert-base": ("hubert", {**TINY, **CONV}, False, False),
    "hubert-large": ("hubert", {**TINY, **CONV, **STABLE}, True, True),
    "wavlm-base-plus": ("wavlm", {**TINY, **CONV, "num_buckets": 16, "max_bucket_distance": 32}, False, False),
    "wavlm-large": ("wavlm", {**TINY, **CONV, **STABLE, "num_buckets": 16, "max_bucket_distance": 32}, True, True),
    "data2vec-audio-base": ("data2vec-audio", {**TINY, **CONV, "num_conv_pos_embeddings": 5, "conv_pos_kernel_size": 3},
                            False, False),
    "unispeech-sat-large": ("unispeech-sat", {**TINY, **CONV, **STABLE}, True, True),
    "wav2vec2-conformer-large": ("wav2vec2-conformer", {**TINY, **CONV, "feat_extract_norm": "layer",
                                                  "position_embeddings_type": "relative",
                                                  "conv_depthwise_kernel_size": 3}, True, False),
    "w2v-bert-2.0": ("wav2vec2-bert", {**TINY, "conv_depthwise_kernel_size": 3}, False, True),
    "mms-300m": ("wav2vec2", {**TINY, **CONV, **STABLE}, True, True),
}


TINY_WHISPER = {"d_model": 32, "encoder_layers": 3, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
                "num_mel_bins": 80, "max_source_positions": 1500, "vocab_size": 51866}


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    wave = 0.2 * env * np.sin(2 * np.pi * (150 + 40 * seed) * t) + 0.02 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def tiny_backbone(name: str, seed: int = 0) -> Wav2Vec2Backbone:
    """The registered family of ``name`` at tiny size, random weights, named ``tiny-<name>``."""
    model_type, config, _, _ = FAMILIES[name]
    spec = replace(MODELS[name], name=f"tiny-{name}", n_states=4, dim=32, extra=config)
    assert spec.model_type == model_type
    return Wav2Vec2Backbone(random_transformers(model_type, config, seed), spec, checkpoint=f"random(seed={seed})",
                            weights="random", device="cpu")


@pytest.mark.parametrize("name", FAMILIES)
def test_layer_convention(name: str) -> None:
    bb = tiny_backbone(name)
    _, _, final_norm, _ = FAMILIES[name]
    wave = speechlike(1.0, 0)
    states = torch.from_numpy(bb.extract([wave])[0])
    n = bb.n_frames(len(wave))
    assert states.shape == (4, n, 32) and n == 49  # 20 ms frames
    values, mask = bb._inputs([wave])
    with torch.inference_mode():
        out = bb.model(values, attention_mask=mask, output_hidden_states=True)
        hidden = [h[0, :n] for h in out.hidden_states]  # transformers: the input of each block, then the last output
        assert len(hidden) == 4
        for l in range(3):  # state 0 = input of block 1; state l = output of block l = input of block l+1
            torch.testing.assert_close(states[l], hidden[l], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(states[-1], out.last_hidden_state[0, :n], atol=1e-5, rtol=1e-4)  # model's own
        block_out = hidden[-1]
        if final_norm and bb.config.model_type != "wav2vec2-conformer":  # transformers 5: hidden_states[-1] pre-norm
            assert not torch.allclose(states[-1], block_out, atol=1e-3)
            torch.testing.assert_close(states[-1], bb.model.encoder.layer_norm(block_out), atol=1e-5, rtol=1e-4)
        elif not final_norm:
            torch.testing.assert_close(states[-1], block_out, atol=1e-5, rtol=1e-4)
        if bb.config.model_type in ("hubert", "data2vec-audio") and not final_norm:
            layer_out = bb.model.encoder.layers[0](states[0][None])  # recompute block 1 from state 0
            layer_out = layer_out[0] if isinstance(layer_out, tuple) else layer_out
            torch.testing.assert_close(states[1], layer_out[0], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_same_states_every_forward_even_after_train(name: str) -> None:
    bb = tiny_backbone(name)
    assert bb.config.layerdrop == 0.0 and not bb.model.training
    wave = speechlike(0.8, 1)
    first = bb.extract([wave])[0]
    bb.model.train()  # a caller switching training mode back on must not bring layer drop or dropout back
    for _ in range(3):
        again = bb.extract([wave])[0]
        assert again.shape == first.shape == (4, bb.n_frames(len(wave)), 32)
        np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize("name", FAMILIES)
def test_batching(name: str) -> None:
    bb = tiny_backbone(name)
    _, _, _, padded = FAMILIES[name]
    waves = [speechlike(s, i) for i, s in enumerate((0.6, 1.3, 0.95))]
    assert (bb.group_key(9600) == bb.group_key(20800)) == padded
    if padded:
        for wave, got in zip(waves, bb.extract(waves)):
            np.testing.assert_allclose(got, bb.extract([wave])[0], atol=1e-4)
    else:  # padding would change the features: equal lengths only
        with pytest.raises(ValueError, match="group keys"):
            bb.extract(waves)
        same = [speechlike(1.0, i) for i in range(2)]
        for wave, got in zip(same, bb.extract(same)):
            np.testing.assert_allclose(got, bb.extract([wave])[0], atol=1e-5)


def test_w2v_bert_takes_stacked_filterbanks() -> None:
    bb = tiny_backbone("w2v-bert-2.0")
    values, _ = bb._inputs([speechlike(1.0, 0)])
    assert values.shape == (1, 49, 160)  # 80 log-mel bins, pairs of 10 ms windows stacked
    assert bb.model.feature_projection.projection.in_features == 160
    for n in (16000, 16123, 8000, 720, 560):  # frame count formula = what the feature extractor gives
        frames = int(bb._inputs([speechlike(n / 16000, 1)])[1].sum())
        assert bb.n_frames(n) == frames, n


def test_registry_entries() -> None:
    expected = {
        "hubert-large": ("hubert", "facebook/hubert-large-ll60k", 25, 1024, "en"),
        "wavlm-large": ("wavlm", "microsoft/wavlm-large", 25, 1024, "en"),
        "wavlm-base-plus": ("wavlm", "microsoft/wavlm-base-plus", 13, 768, "en"),
        "data2vec-audio-base": ("data2vec-audio", "facebook/data2vec-audio-base", 13, 768, "en"),
        "unispeech-sat-base-plus": ("unispeech-sat", "microsoft/unispeech-sat-base-plus", 13, 768, "en"),
        "wav2vec2-conformer-large": ("wav2vec2-conformer", "facebook/wav2vec2-conformer-rel-pos-large", 25, 1024,
                                     "en"),
        "w2v-bert-2.0": ("w2v-bert-2.0", "facebook/w2v-bert-2.0", 25, 1024, "multi"),
        "mms-300m": ("wav2vec2", "facebook/mms-300m", 25, 1024, "multi"),
        "mms-1b": ("wav2vec2", "facebook/mms-1b", 49, 1280, "multi"),
        "whisper-large-v3-turbo": ("whisper", "openai/whisper-large-v3-turbo", 33, 1280, "multi"),
    }
    for name, (family, checkpoint, states, dim, languages) in expected.items():
        spec = MODELS[name]
        assert (spec.family, spec.checkpoint, spec.n_states, spec.dim, spec.languages) == (
            family, checkpoint, states, dim, languages), name
        assert spec.pretraining == ("weakly supervised" if family == "whisper" else "self-supervised")


@pytest.mark.slow
def test_family_caches_train_with_probe_run(tmp_path: Path) -> None:
    """Random-weight caches of synthetic eSpeak speech, one per family, that `probe run` trains on."""
    from extract import corpora
    from extract.pipeline import extract_corpus
    from extract.synth import render_corpus
    from probe.cli import app
    from probe.results.records import read_record

    root = tmp_path / "synthetic"
    render_corpus(root, languages="en,it", speakers_per_language=3, sentences_per_language=1, takes=1)
    manifest = corpora.scan("synthetic", root).to_frame()  # what `probe extract` reads: the corpus loader
    assert len(manifest) == 24
    features = tmp_path / "features"
    whisper_spec = replace(MODELS["whisper-large-v3-turbo"], name="tiny-whisper-large-v3-turbo", n_states=4, dim=32)
    hf_whisper = HFWhisperBackbone(random_whisper_encoder(TINY_WHISPER), whisper_spec,
                                   checkpoint="random(seed=0)", weights="random", device="cpu")
    for name, bb in [*((n, tiny_backbone(n)) for n in FAMILIES), ("whisper-large-v3-turbo", hf_whisper)]:
        summary = extract_corpus(manifest, bb, features, corpus="synthetic", batch_size=4, workers=1,
                                 log=lambda m: None)
        assert summary.status == "written" and summary.n_done == 24, name
        with h5py.File(summary.path, "r") as h5:
            assert (h5.attrs["family"], h5.attrs["n_layers"], h5.attrs["dim"]) == (MODELS[name].family, 4, 32)
            assert h5.attrs["params"] == bb.params > 0 and h5.attrs["languages"] == MODELS[name].languages
            assert h5.attrs["pretraining"] == MODELS[name].pretraining
            assert h5.attrs["model_type"] == MODELS[name].model_type
    result = CliRunner().invoke(app, ["run", "--all", "--features", str(features), "--results",
                                      str(tmp_path / "results"), "--probes", "linear,multilayer", "--seeds", "1",
                                      "--epochs", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    records = [read_record(p) for p in (tmp_path / "results" / "runs").rglob("seed*.json")]
    names = {f"tiny-{name}-random" for name in [*FAMILIES, "whisper-large-v3-turbo"]}
    assert {r["model"] for r in records} == names and len(records) == 2 * len(names)
    families = {r["model"]: r["family"] for r in records}
    assert families["tiny-w2v-bert-2.0-random"] == "w2v-bert-2.0"
    assert families["tiny-whisper-large-v3-turbo-random"] == "whisper"
    assert all(0.0 <= r["metrics"]["test"]["macro_f1"] <= 100.0 for r in records)


def test_load_backbone_dispatches_by_model_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_backbone(name, weights="random")`` builds each registered family's own architecture from its config
    (registered here at tiny size: the full-size configs are the same code path)."""
    from transformers import Wav2Vec2BertModel, WavLMModel

    from extract.backbones import load_backbone

    monkeypatch.setitem(MODELS, "tiny-wavlm", replace(MODELS["wavlm-large"], name="tiny-wavlm",
                                                      extra=FAMILIES["wavlm-large"][1]))
    monkeypatch.setitem(MODELS, "tiny-w2v-bert", replace(MODELS["w2v-bert-2.0"], name="tiny-w2v-bert",
                                                         extra=FAMILIES["w2v-bert-2.0"][1]))
    monkeypatch.setitem(MODELS, "tiny-turbo", replace(MODELS["whisper-large-v3-turbo"], name="tiny-turbo",
                                                      extra=TINY_WHISPER))
    wavlm = load_backbone("tiny-wavlm", weights="random", device="cpu", seed=1)
    assert isinstance(wavlm.model, WavLMModel) and wavlm.name == "tiny-wavlm-random"
    assert wavlm.checkpoint == "random(seed=1)" and wavlm.n_states == 4
    bert = load_backbone("tiny-w2v-bert", weights="random", device="cpu")
    assert isinstance(bert.model, Wav2Vec2BertModel) and bert.features
    turbo = load_backbone("tiny-turbo", weights="random", device="cpu", whisper_input="trim")
    assert isinstance(turbo, HFWhisperBackbone) and turbo.n_states == 4 and turbo.whisper_input == "trim"
    with pytest.raises(ValueError, match="ct2 exists only for whisper-tiny.en, whisper-base"):
        load_backbone("tiny-wavlm", weights="ct2", device="cpu")
