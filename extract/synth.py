"""A deterministic synthetic emotional-speech corpus rendered with eSpeak NG (for tests and the demo).

eSpeak NG (:mod:`extract.espeak`, from the ``espeakng-loader`` wheel) synthesises each utterance in a freshly
forked copy of a pristine engine, so the same call always gives the same samples.

Emotion classes are prosody profiles (pitch, pitch range, speaking rate, loudness, pauses between words). Every clip
draws its own variation of each parameter around its class profile, every speaker (an eSpeak voice variant such as
``it+m3``) has fixed offsets, and each clip gets a recording gain and coloured background noise at a random SNR, so
the classes overlap: a fair, non-trivial task. All randomness is seeded per clip from the corpus seed and the clip's
key, so the same arguments give byte-identical WAV files, and a clip does not depend on which other clips are made.

The parts: :mod:`extract.synth_profiles` (languages, sentences, voices, prosody profiles and variation ranges),
:mod:`extract.synth_clips` (the plan of clips and the rendering of one), :mod:`extract.espeak` (speech), and this
module (the corpus on disk: resumable rendering, manifest, ``corpus.json``).

Layout under ``out``::

    <lang>/<lang>-<variant>/<emotion>_<sentence:02d>_<take>.wav   16 kHz mono PCM-16
    manifest.csv    id, path (relative), label, speaker, gender, language, text, seconds
    corpus.json     generator, parameters (incl. seed and profiles), voices, totals

>>> from extract.synth import render_corpus
>>> frame = render_corpus(Path("data/synthetic"))          # DEFAULT_CLIPS clips, ~10 s on 2 cores
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from extract.espeak import SynthError, espeak_version
from extract.labels import FOUR_CLASS
from extract.synth_clips import Clip, normalise_emotions, parse_languages, plan_corpus, render_clip, voices_for
from extract.synth_profiles import (
    CLIP_JITTER, DEFAULT_SENTENCES, DEFAULT_SPEAKERS, DEFAULT_TAKES, GAIN_DB, LANGUAGES, PAD_S, PROFILES,
    SAMPLE_RATE, SNR_DB, SPEAKER_OFFSET, SYNTH_VERSION,
)

if TYPE_CHECKING:  # numpy, pandas and soundfile load in the functions that render: `probe --help` needs none
    import numpy as np
    import pandas as pd

_FILE_RE = re.compile(r"^(?P<emotion>[a-z]+)_(?P<sentence>\d{2})_(?P<take>\d+)\.wav$")

MANIFEST_FIELDS: tuple[str, ...] = ("id", "path", "label", "speaker", "gender", "language", "text", "seconds")


def corpus_parameters(
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
    seed: int = 0,
) -> dict:
    """Everything that determines the audio of a corpus (stored in ``corpus.json``; a resume needs a match)."""
    return json.loads(
        json.dumps(
            {
                "synth_version": SYNTH_VERSION,
                "espeak_ng": espeak_version(),
                "seed": int(seed),
                "languages": list(parse_languages(languages)),
                "speakers_per_language": int(speakers_per_language),
                "sentences_per_language": int(sentences_per_language),
                "takes": int(takes),
                "emotions": list(normalise_emotions(emotions)),
                "sample_rate": SAMPLE_RATE,
                "profiles": {k: asdict(v) for k, v in sorted(PROFILES.items())},
                "clip_jitter_sd": asdict(CLIP_JITTER),
                "speaker_offset_sd": asdict(SPEAKER_OFFSET),
                "snr_db": list(SNR_DB),
                "gain_db": list(GAIN_DB),
                "pad_s": list(PAD_S),
            }
        )
    )


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_wav_atomic(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _existing_wavs(out: Path) -> list[Path]:
    """WAV files under ``out`` that sit where this module writes (``<lang>/<lang>-<variant>/<name>.wav``)."""
    found = []
    for lang in LANGUAGES:
        folder = out / lang
        if folder.is_dir():
            found += [p for p in folder.glob(f"{lang}-*/*.wav") if _FILE_RE.match(p.name)]
    return sorted(found)


def _existing_seconds(path: Path) -> float | None:
    """Duration of an already rendered clip, or ``None`` when it is missing or not a readable 16 kHz mono WAV."""
    import soundfile as sf

    if not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.frames == 0:
        return None
    return info.frames / SAMPLE_RATE


def render_corpus(
    out: Path,
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
    seed: int = 0,
    force: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_clip: Callable[[Clip, bool], None] | None = None,
) -> pd.DataFrame:
    """Render the synthetic corpus under ``out`` and return its manifest (columns :data:`MANIFEST_FIELDS`).

    Resumable: when ``out/corpus.json`` holds the same parameters, clips already on disk are kept (unreadable ones
    are rendered again). Different
    parameters raise :class:`SynthError` unless ``force``, which re-renders everything and removes clips that are
    not part of the new corpus. ``on_start(n)`` is called once with the number of clips, ``on_clip(clip, rendered)``
    after each clip (the commands draw their progress bar from them; the engine prints nothing).
    """
    import pandas as pd

    out = Path(out)
    clips = plan_corpus(
        languages=languages,
        speakers_per_language=speakers_per_language,
        sentences_per_language=sentences_per_language,
        takes=takes,
        emotions=emotions,
    )
    params = corpus_parameters(
        languages=languages,
        speakers_per_language=speakers_per_language,
        sentences_per_language=sentences_per_language,
        takes=takes,
        emotions=emotions,
        seed=seed,
    )
    meta_path = out / "corpus.json"
    resume = False
    if meta_path.is_file() and not force:
        try:
            previous = json.loads(meta_path.read_text(encoding="utf-8")).get("parameters")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise SynthError(f"{meta_path} is unreadable ({exc}); use force to re-render") from exc
        if previous != params:
            changed = sorted(k for k in set(params) | set(previous or {}) if (previous or {}).get(k) != params.get(k))
            raise SynthError(
                f"{out} holds a synthetic corpus rendered with other parameters (differs in: {', '.join(changed)}); "
                "re-render it with force (--force) or choose another output folder"
            )
        resume = True
    elif not meta_path.is_file() and not force and _existing_wavs(out):
        raise SynthError(f"{out} already holds WAV files but no corpus.json; use force (--force) to render over them")

    wanted = {clip.relpath for clip in clips}
    if force:
        for stale in _existing_wavs(out):
            if stale.relative_to(out).as_posix() not in wanted:
                stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    voices = {lang: [f"{lang}+{v}" for v in voices_for(lang, speakers_per_language)] for lang in params["languages"]}
    meta = {
        "name": "ser-probe synthetic emotional speech (eSpeak NG prosody profiles)",
        "generator": "extract.synth.render_corpus",
        "layout": "<lang>/<lang>-<variant>/<emotion>_<sentence:02d>_<take>.wav, 16 kHz mono PCM-16",
        "parameters": params,
        "voices": voices,
        "complete": False,
    }
    _write_atomic_bytes(meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    rows = []
    if on_start is not None:
        on_start(len(clips))
    for clip in clips:
        path = out / clip.relpath
        seconds = _existing_seconds(path) if resume else None
        rendered = seconds is None
        if seconds is None:
            audio = render_clip(clip, seed)
            _write_wav_atomic(path, audio)
            seconds = audio.size / SAMPLE_RATE
        rows.append(
            {
                "id": clip.relpath[: -len(".wav")],
                "path": clip.relpath,
                "label": clip.emotion,
                "speaker": clip.speaker,
                "gender": clip.gender,
                "language": clip.language,
                "text": clip.text,
                "seconds": round(seconds, 4),
            }
        )
        if on_clip is not None:
            on_clip(clip, rendered)

    frame = pd.DataFrame(rows, columns=list(MANIFEST_FIELDS))
    frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
    _write_atomic_bytes(out / "manifest.csv", frame.to_csv(index=False).encode("utf-8"))
    meta.update(
        {
            "complete": True,
            "clips": len(frame),
            "seconds": round(float(frame["seconds"].sum()), 2),
            "per_label": {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()},
        }
    )
    _write_atomic_bytes(meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return frame
