"""An EmoDB-shaped corpus folder holding every kind of bad or odd file the suite must survive, with real audio.

:func:`build` writes it and returns what a correct extraction must do with each file: ``used`` (utterance ids
that must be extracted), ``noted`` (ids used with a note, e.g. truncated) and ``named`` (path relative to the
root → a word its skip reason must contain). Formats and header quirks are written by soundfile/libsndfile.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
CODES = "WLEAFTN"


@dataclass
class Expected:
    """What extraction must make of the corpus."""

    used: set[str] = field(default_factory=set)
    noted: dict[str, str] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)
    permission: set[str] = field(default_factory=set)  # named entries that need an unprivileged process


def _names() -> Iterator[str]:
    """Valid EmoDB names, all distinct: speaker, text, emotion, take."""
    for i in itertools.count():
        yield f"{SPEAKERS[i % 10]}{'ab'[i // 70 % 2]}{i % 99 + 1:02d}{CODES[i % 7]}{'abcdefgh'[i // 140 % 8]}"


def tone(seconds: float, rate: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A tone plus noise, ``(frames, channels)`` float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    mono = 0.3 * np.sin(2 * np.pi * (180 + 10 * seed) * t) + 0.02 * rng.standard_normal(t.size)
    return np.stack([mono * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(np.float32)


def _write(path: Path, data: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        sf.write(handle, data, rate, format=fmt, subtype=subtype)
    return path


# Good clips in every container and sample format libsndfile reads, all named .wav: (format, subtype, rate, ch).
GOOD_VARIANTS: tuple[tuple[str, str | None, int, int], ...] = (
    ("WAV", "PCM_16", 16000, 1), ("WAV", "PCM_24", 16000, 1), ("WAV", "PCM_32", 16000, 1),
    ("WAV", "PCM_U8", 16000, 1), ("WAV", "FLOAT", 16000, 1), ("WAV", "DOUBLE", 16000, 1),
    ("WAV", "ULAW", 8000, 1), ("WAV", "ALAW", 8000, 1), ("WAV", "IMA_ADPCM", 16000, 1),
    ("WAV", "MS_ADPCM", 16000, 1), ("WAV", "GSM610", 8000, 1), ("WAV", "PCM_16", 44100, 2),
    ("WAV", "PCM_16", 48000, 6), ("WAV", "PCM_16", 96000, 1), ("WAV", "PCM_16", 11025, 1),
    ("WAV", "PCM_16", 22050, 1), ("WAVEX", "PCM_16", 16000, 2), ("RF64", "PCM_16", 16000, 1),
    ("W64", "PCM_16", 16000, 1), ("AIFF", "PCM_16", 16000, 1), ("FLAC", "PCM_16", 16000, 1),
    ("FLAC", "PCM_24", 48000, 2), ("CAF", "PCM_16", 16000, 1), ("AU", "PCM_16", 16000, 1),
    ("OGG", "VORBIS", 16000, 1),
)


def build(root: Path, seconds: float = 0.35, permissions: bool = True) -> Expected:
    """Write the corpus under ``root`` (the EmoDB folder) and return what extraction must do. ``permissions``
    adds a file and a folder without read permission (they only fail for a process without CAP_DAC_OVERRIDE)."""
    wav = root / "wav"
    names = _names()
    exp = Expected()
    for i, (fmt, subtype, rate, channels) in enumerate(GOOD_VARIANTS):
        name = next(names)
        _write(wav / f"{name}.wav", tone(seconds, rate, channels, seed=i), rate, fmt, subtype)
        exp.used.add(f"wav/{name}")
    name = next(names)  # upper-case extension
    _write(wav / f"{name}.WAV", tone(seconds, 16000), 16000, "WAV")
    exp.used.add(f"wav/{name}")
    name = next(names)  # a LIST/INFO chunk before the data
    with open(wav / f"{name}.wav", "wb") as handle, sf.SoundFile(handle, "w", 16000, 1, format="WAV") as sound:
        sound.title, sound.artist = "take 1", "speaker"
        sound.write(tone(seconds, 16000))
    exp.used.add(f"wav/{name}")
    outside = root.parent / f"{root.name}-elsewhere.wav"  # a valid symbolic link to audio outside the folder
    _write(outside, tone(seconds, 16000), 16000, "WAV")
    name = next(names)
    (wav / f"{name}.wav").symlink_to(outside)
    exp.used.add(f"wav/{name}")
    name = next(names)  # truncated: the header promises twice the data the file holds
    full = _write(wav / f"{name}.wav", tone(2 * seconds, 16000), 16000, "WAV", "PCM_16")
    data = full.read_bytes()
    full.write_bytes(data[: 44 + (len(data) - 44) // 2])
    exp.used.add(f"wav/{name}")
    exp.noted[f"wav/{name}"] = "truncated"

    def bad(rel: str, word: str, content: bytes | None = None) -> Path:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        exp.named[rel] = word
        return path

    good = tone(seconds, 16000)
    bad(f"wav/{next(names)}.wav", "empty", b"")
    bad(f"wav/{next(names)}.wav", "git-lfs", b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n")
    bad(f"wav/{next(names)}.wav", "unreadable audio", b"RIFF junk that is not a wave file at all" * 8)
    bad(f"wav/{next(names)}.wav", "unreadable audio", b"These are the label notes of speaker 03.\n" * 10)
    _write(bad("wav/readme.wav", "unrecognised file name"), good, 16000, "WAV")
    _write(bad("wav/05a01Fa.wav", "not one of the ten"), good, 16000, "WAV")
    _write(bad("wav/03a01Xa.wav", "unknown emotion code"), good, 16000, "WAV")
    _write(bad("wav/.03a01Wa.wav", "unrecognised file name"), good, 16000, "WAV")
    _write(bad("wav/03a01Wa .wav", "unrecognised file name"), good, 16000, "WAV")
    _write(bad("wav/03a01Fä.wav", "unrecognised file name"), good, 16000, "WAV")
    kept = next(names)  # two files of one id: the first in name order (.Wav sorts before .wav) is kept
    _write(wav / f"{kept}.Wav", good, 16000, "WAV")
    exp.used.add(f"wav/{kept}")
    _write(bad(f"wav/{kept}.wav", "duplicate"), good, 16000, "WAV")
    _write(bad(f"wav/._{kept}.wav", "AppleDouble"), good, 16000, "WAV")
    _write(bad(f"__MACOSX/wav/{kept}.wav", "macOS metadata"), good, 16000, "WAV")
    _write(bad(f"wav_copy/{kept}.wav", "outside the corpus's audio folders (wav/)"), good, 16000, "WAV")
    _write(bad(f"silb/{next(names)}.wav", "outside the corpus's audio folders (wav/)"), good, 16000, "WAV")
    _write(bad(f"wav/{next(names)}.flac", "not .wav"), good, 16000, "FLAC")
    _write(bad(f"wav/{next(names)}.aiff", "not .wav"), good, 16000, "AIFF")
    _write(bad(f"wav/{next(names)}.ogg", "not .wav"), good, 16000, "OGG", "VORBIS")
    bad(f"wav/{next(names)}.mp3", "not .wav", b"ID3\x03\x00\x00\x00\x00\x00\x00 not decoded")
    bad(f"wav/{next(names)}.wav", "dangling symbolic link").symlink_to(root / "gone" / "missing.wav")
    bad(f"wav/{next(names)}.wav", "directory named like an audio file").mkdir()
    _write(bad(f"wav/{next(names)}.wav", "silent"), np.zeros((8000, 1), np.float32), 16000, "WAV", "PCM_16")
    nan = good.copy()
    nan[100:120] = np.nan
    _write(bad(f"wav/{next(names)}.wav", "NaN"), nan, 16000, "WAV", "FLOAT")
    _write(bad(f"wav/{next(names)}.wav", "too short"), tone(0.03, 16000), 16000, "WAV")
    header_only = _write(root / "tmp-header.wav", good, 16000, "WAV", "PCM_16").read_bytes()[:44]
    (root / "tmp-header.wav").unlink()
    bad(f"wav/{next(names)}.wav", "no audio samples", header_only[:40] + struct.pack("<I", 0))
    one_hz = bytearray(_write(root / "tmp-rate.wav", tone(1.0, 16000), 16000, "WAV", "PCM_16").read_bytes())
    (root / "tmp-rate.wav").unlink()
    struct.pack_into("<II", one_hz, 24, 1, 2)  # sample rate 1 Hz, byte rate 2: 16000 samples last 4.4 hours
    bad(f"wav/{next(names)}.wav", "implausible sample rate", bytes(one_hz))
    huge = bytearray(header_only)
    struct.pack_into("<II", huge, 24, 384000, 768000)
    bad(f"wav/{next(names)}.wav", "no audio samples", bytes(huge))
    _write(bad(f"wav/{next(names)}.wav", "too long"), tone(30.0, 1000), 1000, "WAV", "PCM_16")  # > --max-duration
    (root / "wav" / "notes.txt").write_text("not audio: never listed")
    (root / "lablaut").mkdir(exist_ok=True)
    (root / "lablaut" / "03a01Fa.lab").write_text("label file, not audio")
    if not permissions:
        return exp
    locked = _write(bad(f"wav/{next(names)}.wav", "Permission denied"), good, 16000, "WAV")
    os.chmod(locked, 0)
    exp.permission.add(str(locked.relative_to(root)))
    folder = bad("wav/locked", "unreadable folder")
    _write(folder / f"{next(names)}.wav", good, 16000, "WAV")
    os.chmod(folder, 0)
    exp.permission.add("wav/locked")
    return exp
