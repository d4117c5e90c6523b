"""Low-level feature caches (``logmel-128``, ``egemaps``, ``egemaps-lld``): checked against independent
computations of the same features on the same audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from extract.audio import load_audio
from extract.backbones import MODELS, load_backbone
from extract.cache import FeatureCache
from extract.pipeline import extract_corpus


def _manifest(paths: list[Path]) -> pd.DataFrame:
    return pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths],
                         "label": ["anger", "sadness", "neutral"][: len(paths)],
                         "speaker": [f"s{i}" for i in range(len(paths))], "gender": ["f"] * len(paths)})


def _clips(tmp_path: Path, write_wav) -> list[Path]:
    return [write_wav(tmp_path / f"c{i}.wav", seconds=s, sample_rate=sr, freq=f, seed=i)
            for i, (s, sr, f) in enumerate([(0.73, 16000, 180.0), (1.21, 44100, 260.0), (0.15, 16000, 300.0)])]


# -- an independent log-mel: NumPy STFT and a Slaney mel filter bank written out here ---------------------------


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def _slaney_filters(sr: int = 16000, n_fft: int = 400, n_mels: int = 128) -> np.ndarray:
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def _numpy_logmel(wave: np.ndarray) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float64)
    if wave.size < 400:
        wave = np.pad(wave, (0, 400 - wave.size))
    padded = np.pad(wave, (200, 200), mode="reflect")
    n_frames = 1 + wave.size // 160
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    frames = np.stack([padded[i * 160 : i * 160 + 400] * window for i in range(n_frames)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = power[:-1] @ _slaney_filters().T  # Whisper drops the last STFT frame
    log = np.log10(np.maximum(mel, 1e-10))
    log = np.maximum(log, log.max() - 8.0)
    return (log + 4.0) / 4.0


def test_logmel_cache_matches_an_independent_numpy_computation(tmp_path: Path, write_wav) -> None:
    paths = _clips(tmp_path, write_wav)
    backbone = load_backbone("logmel-128")
    assert MODELS["logmel-128"].n_states == 1 and backbone.frame_rate == 100.0
    summary = extract_corpus(_manifest(paths), backbone, tmp_path / "features", corpus="demo", log=lambda m: None)
    assert summary.n_done == 3 and summary.path.name == "logmel-128.h5"
    with FeatureCache(summary.path) as cache:
        assert cache.n_states == 1 and cache.dim == 128 and cache.attrs["family"] == "spectrogram"
        pooled = cache.pooled()
        for i, path in enumerate(paths):
            wave = load_audio(str(path))
            expected = _numpy_logmel(wave)
            frames = cache.frames(i, 0).astype(np.float32)
            assert frames.shape == expected.shape == (max(wave.size, 400) // 160, 128)
            np.testing.assert_allclose(frames, expected, atol=4e-3)  # float16 storage of values in about [-1, 2]
            np.testing.assert_allclose(pooled[i, 0], expected.mean(axis=0), atol=2e-4)


def test_feature_transforms_refuse_weight_options() -> None:
    with pytest.raises(ValueError, match="without weights"):
        load_backbone("logmel-128", weights="random")


# -- eGeMAPS against opensmile's own file API ---------------------------------------------------------------------


def test_egemaps_caches_match_opensmile(tmp_path: Path, write_wav) -> None:
    opensmile = pytest.importorskip("opensmile", reason="optional extra ser-probe[opensmile] is not installed")
    paths = [write_wav(tmp_path / f"e{i}.wav", seconds=s, freq=f, seed=i)
             for i, (s, f) in enumerate([(0.9, 140.0), (1.4, 210.0), (0.6, 330.0)])]
    functionals = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    lld = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.LowLevelDescriptors)
    out = tmp_path / "features"
    for name in ("egemaps", "egemaps-lld"):
        extract_corpus(_manifest(paths), load_backbone(name), out, corpus="demo", log=lambda m: None)
    with FeatureCache(out / "demo" / "egemaps.h5") as cache:
        assert (cache.n_states, cache.dim) == (1, 88)
        assert list(cache.utterances["n_frames"]) == [1, 1, 1]
        assert cache.attrs["feature_names"] == list(functionals.feature_names)
        expected = np.concatenate([functionals.process_file(str(p)).to_numpy(np.float32) for p in paths])
        np.testing.assert_allclose(cache.pooled()[:, 0], expected, rtol=1e-5, atol=1e-5)
    with FeatureCache(out / "demo" / "egemaps-lld.h5") as cache:
        assert (cache.n_states, cache.dim) == (1, 25) and cache.attrs["frame_rate"] == 100.0
        for i, path in enumerate(paths):
            ref = lld.process_file(str(path)).to_numpy(np.float32)
            assert cache.frames(i, 0).shape == ref.shape
            np.testing.assert_allclose(cache.frames(i, 0).astype(np.float32),
                                       ref.astype(np.float16).astype(np.float32), rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(cache.pooled()[i, 0], ref.mean(axis=0), rtol=1e-4, atol=1e-4)
