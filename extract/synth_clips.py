"""The clips of a synthetic corpus: which ones (:func:`plan_corpus`), each one's prosody (class profile, speaker
offset, per-clip variation) and its rendering (:func:`render_clip`: speech, gain, padding, background noise).

All randomness is seeded per clip from the corpus seed and the clip's key, so a clip does not depend on which
other clips are made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from extract.espeak import speak
from extract.labels import FOUR_CLASS
from extract.synth_profiles import (
    CLIP_JITTER, DEFAULT_SENTENCES, DEFAULT_SPEAKERS, DEFAULT_TAKES, GAIN_DB, LANGUAGES, PAD_S, PROFILES,
    SAMPLE_RATE, SENTENCES, SNR_DB, SPEAKER_OFFSET, VOICE_POOL, Prosody,
)

if TYPE_CHECKING:  # numpy loads in the functions that render
    import numpy as np


@dataclass(frozen=True)
class Clip:
    """One clip of the corpus plan."""

    language: str
    variant: str
    emotion: str
    sentence: int
    take: int

    @property
    def speaker(self) -> str:
        return f"{self.language}-{self.variant}"

    @property
    def gender(self) -> str:
        return variant_gender(self.variant)

    @property
    def text(self) -> str:
        return SENTENCES[self.language][self.sentence]

    @property
    def relpath(self) -> str:
        return f"{self.language}/{self.speaker}/{self.emotion}_{self.sentence:02d}_{self.take}.wav"

    @property
    def key(self) -> str:
        return f"{self.speaker}|{self.emotion}|{self.sentence}|{self.take}"


def variant_gender(variant: str) -> str:
    """``"f"`` for eSpeak female variants (``f1``...), ``"m"`` for male ones (``m1``...), else ``""``."""
    head = variant[:1].lower()
    return head if head in ("f", "m") and variant[1:].isdigit() else ""


def voices_for(language: str, count: int) -> list[str]:
    """The ``count`` voice variants used as speakers of ``language`` (see :data:`VOICE_POOL`)."""
    unique = len(set(VOICE_POOL))
    if count < 1 or count > unique:
        raise ValueError(f"speakers per language must be between 1 and {unique}, got {count}")
    start, chosen = LANGUAGES.index(language), []
    for k in range(2 * len(VOICE_POOL)):
        voice = VOICE_POOL[(start + k) % len(VOICE_POOL)]
        if voice not in chosen:
            chosen.append(voice)
        if len(chosen) == count:
            break
    return chosen


def parse_languages(languages: str | Iterable[str]) -> tuple[str, ...]:
    """Validate a language list (``"it,de"`` or a sequence): a subset of :data:`LANGUAGES`, in that order."""
    items = languages.split(",") if isinstance(languages, str) else list(languages)
    chosen = {s.strip().lower() for s in items if s.strip()}
    unknown = sorted(chosen - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unsupported language(s) {unknown}; supported: {', '.join(LANGUAGES)}")
    if not chosen:
        raise ValueError("no language given")
    return tuple(lang for lang in LANGUAGES if lang in chosen)


def normalise_emotions(emotions: Sequence[str]) -> tuple[str, ...]:
    """Validate an emotion list: at least two, each with a prosody profile; sorted."""
    chosen = {e.strip().lower() for e in emotions if e.strip()}
    unknown = sorted(chosen - set(PROFILES))
    if unknown:
        raise ValueError(f"no prosody profile for emotion(s) {unknown}; available: {', '.join(sorted(PROFILES))}")
    if len(chosen) < 2:
        raise ValueError(f"a corpus needs at least two emotions, got {sorted(chosen)}")
    return tuple(sorted(chosen))


def plan_corpus(
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
) -> list[Clip]:
    """Every clip of a corpus with these settings, in rendering order (language, speaker, sentence, emotion, take)."""
    langs = parse_languages(languages)
    emos = normalise_emotions(emotions)
    max_sentences = min(len(SENTENCES[lang]) for lang in langs)
    if not 1 <= sentences_per_language <= max_sentences:
        raise ValueError(f"sentences per language must be between 1 and {max_sentences}, got {sentences_per_language}")
    if takes < 1:
        raise ValueError(f"takes must be at least 1, got {takes}")
    clips = []
    for lang in langs:
        for variant in voices_for(lang, speakers_per_language):
            for sentence in range(sentences_per_language):
                for emotion in emos:
                    for take in range(takes):
                        clips.append(Clip(lang, variant, emotion, sentence, take))
    return clips


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on the corpus seed and a key (stable across runs, platforms and subsets)."""
    import numpy as np

    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, *words]))


def _draw(rng: np.random.Generator, sd: Prosody) -> Prosody:
    return Prosody(*(float(rng.normal(0.0, s)) if s > 0 else 0.0 for s in asdict(sd).values()))


def clip_prosody(clip: Clip, seed: int) -> Prosody:
    """The eSpeak prosody of ``clip``: class profile + speaker offset + per-clip variation (before clipping)."""
    base = PROFILES[clip.emotion]
    offset = _draw(_rng(seed, f"speaker|{clip.speaker}"), SPEAKER_OFFSET)
    jitter = _draw(_rng(seed, f"prosody|{clip.key}"), CLIP_JITTER)
    parts = zip(asdict(base).values(), asdict(offset).values(), asdict(jitter).values())
    return Prosody(*(b + o + j for b, o, j in parts))


def _coloured_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS noise with a random spectral tilt between white and brown-ish."""
    import numpy as np

    alpha = rng.uniform(0.0, 1.6)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE)
    shaping = np.ones_like(freqs)
    shaping[1:] = (np.maximum(freqs[1:], 20.0) / 1000.0) ** (-alpha / 2.0)
    shaping[0] = 0.0
    noise = np.fft.irfft(spectrum * shaping, n)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def render_clip(clip: Clip, seed: int) -> np.ndarray:
    """Render ``clip``: float32 mono at :data:`SAMPLE_RATE` with padding, recording gain and background noise."""
    import numpy as np

    prosody = clip_prosody(clip, seed)
    speech, _ = speak(clip.text, clip.language, voice=clip.variant, **asdict(prosody), sample_rate=SAMPLE_RATE)
    rng = _rng(seed, f"channel|{clip.key}")
    speech = speech.astype(np.float64) * 10.0 ** (rng.uniform(*GAIN_DB) / 20.0)
    before, after = (int(rng.uniform(*PAD_S) * SAMPLE_RATE) for _ in range(2))
    audio = np.concatenate([np.zeros(before), speech, np.zeros(after)])
    frame = 320
    energies = [np.mean(speech[i : i + frame] ** 2) for i in range(0, max(len(speech) - frame, 1), frame)]
    active = np.asarray(energies)[np.asarray(energies) > 1e-3 * max(energies)] if energies else np.zeros(1)
    speech_power = float(np.mean(active)) if active.size else 1e-6
    snr = rng.uniform(*SNR_DB)
    audio = audio + _coloured_noise(rng, audio.size) * np.sqrt(speech_power / 10.0 ** (snr / 10.0))
    peak = float(np.max(np.abs(audio)))
    if peak > 0.98:
        audio *= 0.98 / peak
    return audio.astype(np.float32)
