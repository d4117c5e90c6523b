"""Planning extractions: frame counts as the backbones compute them, sizes as the caches turn out, the refusal to
start a cache that cannot fit, and ``probe plan`` end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import extract.plan as plan_module
from extract.backbones import get_spec, load_backbone
from extract.cache import FeatureCache
from extract.corpora import load as load_corpus
from extract.pipeline import extract_corpus
from extract.plan import cache_bytes, corpus_durations, frames_for, plan_cache, space_needed, space_refusal
from probe.cli import app

LENGTHS = [400, 401, 3199, 3200, 3201, 16000, 47123, 480000, 480001, 1_000_000]
EMODB_NAMES = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta", "10a04La", "11b01Ea"]


@pytest.fixture(scope="module")
def whisper():
    return load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")


def test_frames_match_the_backbones(whisper) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from extract.backbones.logmel import LOGMEL_SPEC, LogMelBackbone

    small = Wav2Vec2Model(Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, conv_dim=(8,) * 7))
    logmel = LogMelBackbone(LOGMEL_SPEC)
    for n in LENGTHS:
        assert frames_for(whisper.spec, n) == whisper.n_frames(n), n
        expected = int(small._get_feat_extract_output_lengths(torch.tensor(n)))
        assert frames_for(get_spec("wav2vec2-base"), n) == expected, n
        assert frames_for(get_spec("xls-r-300m"), n) == frames_for(get_spec("wav2vec2-base"), n)
        assert frames_for(LOGMEL_SPEC, n) == logmel.n_frames(n), n


def _emodb(root: Path, write_wav) -> Path:
    for i, name in enumerate(EMODB_NAMES):
        write_wav(root / "emodb" / "wav" / f"{name}.wav", seconds=0.7 + 0.3 * i, seed=i, sample_rate=22050)
    return root


def test_planned_size_is_the_cache_size(tmp_path: Path, write_wav, whisper) -> None:
    data = _emodb(tmp_path / "data", write_wav)
    manifest = load_corpus("emodb", data / "emodb")
    durations = corpus_durations("emodb", manifest)
    plan = plan_cache(whisper.spec, whisper.name, durations, tmp_path / "features")
    assert not plan.complete and plan.need_bytes == 2 * plan.bytes and plan.clips == len(EMODB_NAMES)
    summary = extract_corpus(manifest, whisper, tmp_path / "features", corpus="emodb", batch_size=2, log=lambda m: None)
    assert summary.path == plan.path
    with FeatureCache(plan.path) as cache:
        assert cache.total_frames == plan.frames
    actual = plan.path.stat().st_size
    assert plan.bytes * 0.9 < actual < plan.bytes * 1.1 + 64 * 1024, (plan.bytes, actual)
    again = plan_cache(whisper.spec, whisper.name, durations, tmp_path / "features")
    assert again.complete and again.need_bytes == 0 and space_needed([again]) == 0


def test_space_arithmetic() -> None:
    spec = get_spec("whisper-medium")
    # DEMoS-sized: 9697 clips of 2.9 s at 50 frames per second, 25 states × 1024 → about 67 GiB of frames
    assert 65 * 2**30 < cache_bytes(9697 * 145, 9697, spec.n_states, spec.dim) < 70 * 2**30
    durations = plan_module.Durations("x", torch.full((4,), 48000).numpy(), [])
    plan = plan_cache(spec, spec.name, durations, Path("/nonexistent/features"))
    assert plan.frames == 4 * 150 and space_refusal(plan, 10 * plan.bytes) is None
    refusal = space_refusal(plan, plan.bytes)
    assert refusal and "--force" in refusal and "free" in refusal


def test_extract_refuses_a_cache_that_cannot_fit(tmp_path: Path, write_wav, monkeypatch) -> None:
    """A nearly full disk cannot be made here, so the free space is the one thing replaced."""
    data = _emodb(tmp_path / "data", write_wav)
    args = ["extract", "--model", "whisper-tiny.en", "--weights", "random", "--device", "cpu", "--whisper-input",
            "trim", "--corpus", "emodb", "--data-root", str(data), "--out", str(tmp_path / "features")]
    monkeypatch.setattr(plan_module, "free_bytes", lambda folder: 100_000)
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "not started" in refused.output and "--force" in refused.output
    assert not (tmp_path / "features" / "emodb").exists() or not any((tmp_path / "features" / "emodb").iterdir())
    forced = CliRunner().invoke(app, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "features" / "emodb" / "whisper-tiny.en-random.h5").is_file()


def test_probe_plan_command(tmp_path: Path, write_wav) -> None:
    data = _emodb(tmp_path / "data", write_wav)
    done = CliRunner().invoke(app, ["plan", "--model", "whisper-tiny.en,wav2vec2-base", "--corpus", "emodb",
                                    "--data-root", str(data), "--out", str(tmp_path / "features"),
                                    "--time-clips", "2", "--device", "cpu", "--whisper-input", "trim"])
    assert done.exit_code == 0, done.output
    text = done.output
    assert "Extraction plan" in text and "emodb" in text and "fits" in text
    assert re.search(r"whisper-tiny\.en on cpu: [\d.]+ s per audio second", text)
    assert re.search(r"time estimate for what is still to do: \d", text)
    assert "caches in all:" in text
