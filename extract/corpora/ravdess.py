"""RAVDESS, speech part (English): ``Actor_XX/03-01-EE-II-SS-RR-XX.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, Unusable, match, scan_files, stem
from extract.corpora.base import CorpusInfo, Scan

AUDIO_ONLY = "03"
SPEECH = "01"

INFO = CorpusInfo(
    key="ravdess",
    name="RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song), speech",
    language="en",
    labels={
        "01": "neutral",
        "02": "calm",
        "03": "happiness",
        "04": "sadness",
        "05": "anger",
        "06": "fear",
        "07": "disgust",
        "08": "surprise",
    },
    expected_files=1440,
    expected_speakers=24,
    # Per actor: neutral 1 intensity x 2 statements x 2 repetitions, the other emotions 2 x 2 x 2.
    expected_per_label={
        "neutral": 96,
        "calm": 192,
        "happiness": 192,
        "sadness": 192,
        "anger": 192,
        "fear": 192,
        "disgust": 192,
        "surprise": 192,
    },
    access="open",
    url="https://zenodo.org/record/1188976",
    english=True,
    notes=(
        "Names are modality-channel-emotion-intensity-statement-repetition-actor. Only the audio-only speech "
        "files (03-01-...) are used; song files (vocal channel 02) are a separate set and are reported as "
        "skipped. Actor = speaker, odd = male. Some mirrors hold every actor folder twice: files are "
        "de-duplicated by name and the copies reported. 48 kHz."
    ),
)

NAME = re.compile(r"\d{2}(?:-\d{2}){6}")


def parse(uid: str) -> Fields:
    """Emotion, speaker and gender of one RAVDESS utterance id, from its file name only."""
    match(NAME, uid, "RAVDESS's pattern (e.g. 03-01-05-01-02-01-12)")
    modality, channel, emotion, _intensity, _statement, _repetition, actor = stem(uid).split("-")
    if channel != SPEECH:
        raise Unusable(f"vocal channel {channel} (song): the song files are a separate set, not used")
    if modality != AUDIO_ONLY:
        raise Unusable(f"modality {modality} is not audio-only ({AUDIO_ONLY})")
    return Fields(code=emotion, speaker=actor, gender="m" if int(actor) % 2 else "f")


# ``Actor_01/`` ... ``Actor_24/``, possibly under ``Audio_Speech_Actors_01-24/`` (the shallowest copy is read).
LAYOUT = Layout(folders=((r"actor_\d+",),), shown="Actor_NN/")


def scan(root: Path) -> Scan:
    """Every RAVDESS speech utterance under ``root``, mirrored copies reported as skipped."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
