"""Shared test fixtures: real audio files written on the fly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

WavWriter = Callable[..., Path]


def write_tone(
    path: Path,
    seconds: float = 0.5,
    sample_rate: int = 16000,
    channels: int = 1,
    freq: float = 220.0,
    subtype: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a short real audio file (a tone plus a little noise) in the format implied by the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    data = np.stack([mono * (1.0 - 0.2 * c) for c in range(channels)], axis=1) if channels > 1 else mono
    fmt = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF"}[path.suffix.lower()]
    with open(path, "wb") as handle:  # a file object, so names with undecodable bytes work too
        sf.write(handle, data.astype(np.float32), sample_rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def write_wav() -> WavWriter:
    """``write_wav(path, seconds=0.5, sample_rate=16000, channels=1, freq=220.0, subtype=None, seed=0)``."""
    return write_tone
