"""Reading any format, rate and channel count to 16 kHz mono, and one clear error type for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import struct
import time

from extract.audio import AudioError, check_audio, inspect_audio, load_audio, read_clip, truncation


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


def _pcm16(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, subtype="PCM_16")
    return path


def test_truncated_wav_is_read_as_far_as_it_goes_and_noted(tmp_path: Path) -> None:
    path = _pcm16(tmp_path / "t.wav", 1.0)
    data = path.read_bytes()
    path.write_bytes(data[: 44 + 16000])  # half of the 32000 data bytes the header declares
    clip = read_clip(path)
    assert clip.wave.shape == (8000,)
    assert clip.notes == ["truncated: the header declares 32000 bytes of audio, the file holds 16000; read as far "
                          "as it goes (0.50 s)"]
    assert truncation(_pcm16(tmp_path / "whole.wav", 1.0)) is None
    assert inspect_audio(path, decode=False)[0].startswith("truncated")


def test_absurd_header_is_refused_before_decoding(tmp_path: Path) -> None:
    path = _pcm16(tmp_path / "r.wav", 1.0)
    data = bytearray(path.read_bytes())
    struct.pack_into("<II", data, 24, 1, 2)  # 1 Hz: 16000 samples claim 4.4 hours
    path.write_bytes(bytes(data))
    started = time.perf_counter()
    with pytest.raises(AudioError, match="implausible sample rate 1 Hz"):
        load_audio(path)
    assert time.perf_counter() - started < 1.0
    with pytest.raises(AudioError, match=r"too long: the header claims 3 s, above the 2 s limit \(--max-duration\)"):
        check_audio(_pcm16(tmp_path / "long.wav", 3.0, rate=1000), max_seconds=2.0)


def test_inspect_decodes_every_sample_without_resampling(tmp_path: Path) -> None:
    silent = tmp_path / "s.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    assert inspect_audio(silent, decode=False) == []  # the header is fine
    with pytest.raises(AudioError, match="silent"):
        inspect_audio(silent)
    nan = tmp_path / "n.wav"
    wave = np.full(16000, 0.1, np.float32)
    wave[9000] = np.nan
    sf.write(nan, wave, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        inspect_audio(nan)
    assert inspect_audio(_pcm16(tmp_path / "ok.wav", 0.5)) == []


def test_directory_and_dangling_link_are_named(tmp_path: Path) -> None:
    (tmp_path / "d.wav").mkdir()
    (tmp_path / "l.wav").symlink_to(tmp_path / "missing.wav")
    with pytest.raises(AudioError, match="a directory, not an audio file"):
        check_audio(tmp_path / "d.wav")
    with pytest.raises(AudioError, match="dangling symbolic link"):
        check_audio(tmp_path / "l.wav")
