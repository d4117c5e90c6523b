"""Reading audio: any of WAV/FLAC/AIFF, any bit depth, rate and channel count, to 16 kHz mono float32.

Every failure raises :class:`AudioError`, which names the file and the reason, so that a caller can report
and skip one clip without losing the rest of a corpus. The header is checked before any decoding: a sample rate
outside :data:`MIN_RATE`..:data:`MAX_RATE` or a duration above ``max_seconds`` (default :data:`MAX_SECONDS`) is
refused, so a corrupt header can never make a run decode or resample for hours. A WAV or AIFF file whose header
declares more audio than the file holds is read as far as it goes and reported as truncated (:class:`Clip`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from extract.corpora.base import is_lfs_pointer

SAMPLE_RATE = 16000
MIN_SECONDS = 0.1
SILENCE_PEAK = 1e-4  # a clip whose absolute peak stays below this is "silent-only"
MIN_RATE = 1000  # Hz: a header claiming less is corrupt
MAX_RATE = 384000
MAX_SECONDS = 3600.0  # default limit on one clip's duration (probe extract --max-duration)
_BLOCK = 1 << 16


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


@dataclass
class Clip:
    """A decoded clip and what was odd about it although it could be used (e.g. a truncated file)."""

    wave: np.ndarray
    notes: list[str] = field(default_factory=list)


def _open(path: Path) -> BinaryIO:
    """Open ``path`` for reading, or :class:`AudioError` naming the OS's reason (permission denied, ...)."""
    try:  # through a file object: soundfile cannot open names with undecodable bytes (damaged zip names)
        return open(path, "rb")
    except OSError as exc:
        raise AudioError(path, f"cannot open the file ({exc.strerror or exc})") from None


def check_audio(path: str | Path, max_seconds: float = MAX_SECONDS) -> AudioInfo:
    """Read only the header of ``path``; raise :class:`AudioError` if it is missing, a pointer, unreadable,
    empty, shorter than :data:`MIN_SECONDS`, longer than ``max_seconds`` or at an absurd sample rate."""
    path = Path(path)
    if path.is_dir():
        raise AudioError(path, "a directory, not an audio file")
    if not path.is_file():
        raise AudioError(path, "dangling symbolic link" if path.is_symlink() else "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    if is_lfs_pointer(path):
        raise AudioError(path, "git-lfs pointer file, not audio (clone with git-lfs, or `git lfs pull`)")
    with _open(path) as handle:
        try:
            header = sf.info(handle)
        except (sf.LibsndfileError, RuntimeError, TypeError, OSError) as exc:
            raise AudioError(path, f"unreadable audio ({exc})") from None
    info = AudioInfo(path, int(header.samplerate), int(header.channels), int(header.frames))
    if not MIN_RATE <= info.sample_rate <= MAX_RATE:
        raise AudioError(path, f"implausible sample rate {info.sample_rate} Hz in the header (accepted: "
                               f"{MIN_RATE}-{MAX_RATE} Hz); the file is corrupt")
    if info.channels < 1:
        raise AudioError(path, f"implausible channel count {info.channels} in the header")
    if info.frames == 0:
        raise AudioError(path, "no audio samples")
    if info.seconds < MIN_SECONDS:
        raise AudioError(path, f"too short ({info.seconds:.3f} s < {MIN_SECONDS} s)")
    if info.seconds > max_seconds:
        raise AudioError(path, f"too long: the header claims {info.seconds:.0f} s, above the {max_seconds:.0f} s "
                               "limit (--max-duration)")
    return info


def truncation(path: str | Path) -> str | None:
    """A note when the WAV/AIFF header of ``path`` declares more audio bytes than the file holds, else None."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(12)
            if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
                order, data_id, extra = ("<" if head[:4] == b"RIFF" else ">"), b"data", 0
            elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                order, data_id, extra = ">", b"SSND", 8  # SSND starts with 8 bytes of offset and block size
            else:
                return None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    return None
                (length,) = struct.unpack(order + "I", chunk[4:])
                if chunk[:4] == data_id:
                    if length in (0, 0xFFFFFFFF):  # streaming writers and RF64 leave the size open
                        return None
                    available = size - handle.tell()
                    if length <= available:
                        return None
                    return (f"truncated: the header declares {length - extra} bytes of audio, the file holds "
                            f"{max(available - extra, 0)}; read as far as it goes")
                handle.seek(length + (length & 1), 1)
    except OSError:
        return None


def to_mono_16k(data: np.ndarray, sample_rate: int) -> np.ndarray:
    """Downmix ``(frames,)`` or ``(frames, channels)`` audio to mono and resample it to 16 kHz with soxr."""
    wave = np.asarray(data, dtype=np.float32)
    if wave.ndim == 2:
        wave = wave.mean(axis=1, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        wave = soxr.resample(wave, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(wave)


def load_audio(path: str | Path, max_seconds: float = MAX_SECONDS) -> np.ndarray:
    """The clip at ``path`` as 16 kHz mono float32 in [-1, 1]; :class:`AudioError` if it cannot be used."""
    return read_clip(path, max_seconds).wave


def read_clip(path: str | Path, max_seconds: float = MAX_SECONDS) -> Clip:
    """:func:`load_audio` plus the notes on a clip that is used although odd (truncated)."""
    info = check_audio(path, max_seconds)
    try:
        with _open(info.path) as handle:
            data, sample_rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
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
    note = truncation(info.path)
    return Clip(wave, [f"{note} ({wave.size / SAMPLE_RATE:.2f} s)"] if note else [])


def inspect_audio(path: str | Path, decode: bool = True, max_seconds: float = MAX_SECONDS) -> list[str]:
    """Check ``path`` as extraction would, without resampling: the header, and with ``decode`` every sample in
    blocks (NaN/inf, silence). Returns notes on a usable clip (truncated); :class:`AudioError` if unusable."""
    info = check_audio(path, max_seconds)
    note = truncation(info.path)
    if not decode:
        return [note] if note else []
    peak, frames = 0.0, 0
    try:
        with _open(info.path) as handle, sf.SoundFile(handle) as sound:
            while len(block := sound.read(_BLOCK, dtype="float32", always_2d=True)):
                if not np.all(np.isfinite(block)):
                    raise AudioError(info.path, "audio contains NaN or infinite samples")
                frames += len(block)
                peak = max(peak, float(np.max(np.abs(block))))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioError(info.path, f"unreadable audio ({exc})") from None
    if frames == 0:
        raise AudioError(info.path, "no audio samples")
    if peak < SILENCE_PEAK:
        raise AudioError(info.path, "silent: every sample is (near) zero")
    if frames / info.sample_rate < MIN_SECONDS:
        raise AudioError(info.path, f"too short ({frames / info.sample_rate:.3f} s < {MIN_SECONDS} s)")
    return [note] if note else []
