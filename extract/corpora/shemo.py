"""ShEMO, the Sharif Emotional Speech Database (Persian): ``female/GSSENN.wav``, ``male/GSSENN.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._collect import Fields, Unusable, collect, lookup, speaker_id, stem
from extract.corpora.base import CorpusInfo, Scan, find_audio

INFO = CorpusInfo(
    key="shemo",
    name="ShEMO (Sharif Emotional Speech Database)",
    language="fa",
    labels={"A": "anger", "F": "fear", "H": "happiness", "N": "neutral", "S": "sadness", "W": "surprise"},
    expected_files=3000,
    expected_speakers=87,
    expected_per_label={
        "anger": 1059,
        "neutral": 1028,
        "sadness": 449,
        "surprise": 225,
        "happiness": 201,
        "fear": 38,
    },
    access="open",
    url="https://github.com/mansourehk/ShEMO",
    notes=(
        "Names are GSSENN: G gender (F/M), SS speaker, E emotion, NN index; 'F' at position 0 means female, "
        "at position 3 fear. Speaker = first three characters (F01 and M01 are different people). Labels come "
        "from the file names: the corpus's label JSON disagrees with them for 162 items and is ignored. "
        "87 speakers (31 F / 56 M); mostly 44.1 kHz, 121 files at 22.05 kHz; clips up to 33.3 s, all kept."
    ),
)

NAME = re.compile(r"(?P<gender>[FM])(?P<spk>\d{2})(?P<emo>[A-Z])(?P<index>\d{2})")


def parse(uid: str) -> Fields:
    """Label, speaker and gender of one ShEMO utterance id, from its file name only."""
    name = stem(uid).upper()
    match = NAME.fullmatch(name)
    if match is None:
        raise Unusable(f"file name {stem(uid)!r} does not follow ShEMO's GSSENN pattern (e.g. F01A01)")
    return Fields(
        label=lookup(INFO.labels, match["emo"]),
        speaker=speaker_id(INFO.key, name[:3]),
        gender=match["gender"].lower(),
    )


def scan(root: Path) -> Scan:
    """Every ShEMO utterance under ``root`` (the folder holding ``female/`` and ``male/``)."""
    return collect(root, find_audio(root), parse, unique_names=True)
