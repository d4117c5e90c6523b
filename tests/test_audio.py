"""Reading any format, rate and channel count to 16 kHz mono, and one clear error type for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from extract.audio import AudioError, check_audio, load_audio


@pytest.mark.parametrize(
    ("name", "rate", "channels", "subtype"),
    [
        ("a.wav", 16000, 1, "PCM_16"),
        ("b.wav", 44100, 2, "PCM_24"),
        ("c.wav", 48000, 1, "FLOAT"),
        ("d.flac", 22050, 2, "PCM_16"),
        ("e.aiff", 192000, 1, "PCM_32"),
        ("f.WAV", 8000, 4, "PCM_U8"),
    ],
)
def test_formats_rates_and_channels_become_16k_mono(tmp_path: Path, write_wav, name, rate, channels, subtype) -> None:
    path = write_wav(tmp_path / name, seconds=0.75, sample_rate=rate, channels=channels, subtype=subtype, freq=300.0)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 12000) <= 2
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) * 16000 / wave.size - 300.0) < 5.0  # the tone survives resampling


def test_stereo_is_downmixed_by_averaging(tmp_path: Path) -> None:
    t = np.arange(16000) / 16000
    left = 0.5 * np.sin(2 * np.pi * 200 * t)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, -left + 0.2], axis=1).astype(np.float32), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), 0.1, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"RIFF\x00\x00garbage that is not a wave file at all" * 4, "unreadable audio"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12345\n", "git-lfs pointer"),
    ],
)
def test_broken_files_raise_audio_error_naming_file_and_reason(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=reason) as err:
        load_audio(path)
    assert err.value.path == path and str(path) in str(err.value)


def test_silent_and_too_short_clips_are_refused(tmp_path: Path, write_wav) -> None:
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="silent"):
        load_audio(silent)
    short = write_wav(tmp_path / "short.wav", seconds=0.05)
    with pytest.raises(AudioError, match="too short"):
        check_audio(short)
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")


def test_undecodable_file_names_are_readable(tmp_path: Path, write_wav) -> None:
    folder = tmp_path / b"Col\x8are".decode("utf-8", "surrogateescape")
    path = write_wav(folder / "01-C-1-1.wav", seconds=0.3)
    assert load_audio(path).size == 4800
