"""Reading audio: any of WAV/FLAC/AIFF, any bit depth, rate and channel count, to 16 kHz mono float32.

Every failure raises :class:`AudioError`, which names the file and the reason, so that a caller can report
and skip one clip without losing the rest of a corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from extract.corpora.base import is_lfs_pointer

SAMPLE_RATE = 16000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # a clip whose absolute peak stays below this is "silent-only"


class AudioError(Exception):
    """A clip that cannot be used; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """Header facts about a clip."""

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def check_audio(path: str | Path) -> AudioInfo:
    """Read only the header of ``path``; raise :class:`AudioError` if it is missing, a pointer, unreadable,
    empty or shorter than :data:`MIN_SECONDS`."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    if is_lfs_pointer(path):
        raise AudioError(path, "git-lfs pointer file, not audio (clone with git-lfs, or `git lfs pull`)")
    try:  # through a file object: soundfile cannot open names with undecodable bytes (damaged zip names)
        with open(path, "rb") as handle:
            header = sf.info(handle)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(path, f"unreadable audio ({exc})") from None
    info = AudioInfo(path, int(header.samplerate), int(header.channels), int(header.frames))
    if info.frames == 0:
        raise AudioError(path, "no audio samples")
    if info.seconds < MIN_SECONDS:
        raise AudioError(path, f"too short ({info.seconds:.3f} s < {MIN_SECONDS} s)")
    return info


def to_mono_16k(data: np.ndarray, sample_rate: int) -> np.ndarray:
    """Downmix ``(frames,)`` or ``(frames, channels)`` audio to mono and resample it to 16 kHz with soxr."""
    wave = np.asarray(data, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        wave = soxr.resample(wave, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(wave)


def load_audio(path: str | Path) -> np.ndarray:
    """The clip at ``path`` as 16 kHz mono float32 in [-1, 1]; :class:`AudioError` if it cannot be used."""
    info = check_audio(path)
    try:
        with open(info.path, "rb") as handle:
            data, sample_rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(info.path, f"unreadable audio ({exc})") from None
    if data.size == 0:
        raise AudioError(info.path, "no audio samples")
    if not np.all(np.isfinite(data)):
        raise AudioError(info.path, "audio contains NaN or infinite samples")
    if float(np.max(np.abs(data))) < SILENCE_PEAK:
        raise AudioError(info.path, "silent: every sample is (near) zero")
    wave = to_mono_16k(data, sample_rate)
    if wave.size < MIN_SECONDS * SAMPLE_RATE:
        raise AudioError(info.path, f"too short ({wave.size / SAMPLE_RATE:.3f} s < {MIN_SECONDS} s)")
    return wave
