"""TESS, the Toronto Emotional Speech Set (English): flat ``<SPK>_<word>_<emotion>.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, Unusable, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

SPEAKERS: tuple[str, ...] = ("OAF", "YAF")  # the older and the younger actress

INFO = CorpusInfo(
    key="tess",
    name="TESS (Toronto Emotional Speech Set)",
    language="en",
    labels={
        "angry": "anger",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "happiness",
        "neutral": "neutral",
        "ps": "surprise",
        "sad": "sadness",
    },
    expected_files=2800,
    expected_speakers=2,
    expected_per_label={
        label: 400 for label in ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
    },
    access="open",
    url="https://doi.org/10.5683/SP2/E8H2MF",
    english=True,
    notes=(
        "TWO SPEAKERS ONLY (OAF and YAF, both female): a speaker-independent split puts one speaker on each "
        "side and leaves none for validation, so speaker-independent results on TESS are degenerate and must "
        "be reported as such. 200 target words x 7 emotions x 2 speakers; 'ps' is pleasant surprise. "
        "24 414 Hz (one file at 96 kHz). Copies differ in folders (flat or one folder per speaker and "
        "emotion): only file names are read."
    ),
)


NAME = re.compile(r"(?P<speaker>[^_]*)_(?P<word>[^_]*)_(?P<emo>[^_]*)")


def parse(uid: str) -> Fields:
    """Emotion and speaker of one TESS utterance id, from its file name only."""
    found = match(NAME, uid, "TESS's <SPK>_<word>_<emotion> pattern")
    speaker = found["speaker"].upper()
    if speaker not in SPEAKERS:
        raise Unusable(f"unknown TESS speaker {speaker!r} (known: {', '.join(SPEAKERS)})")
    return Fields(code=found["emo"].lower(), speaker=speaker, gender="f")


# Flat, or one folder per speaker and emotion (``OAF_angry/``, ``YAF_pleasant_surprised/``).
LAYOUT = Layout(
    folders=((), (r"(oaf|yaf)_[a-z_ ]+",)), shown="the corpus folder, or <SPK>_<emotion>/ such as OAF_angry/"
)


def scan(root: Path) -> Scan:
    """Every TESS utterance under ``root``, whatever the folders."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
