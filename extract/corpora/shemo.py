"""ShEMO, the Sharif Emotional Speech Database (Persian): ``female/GSSENN.wav``, ``male/GSSENN.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

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

NAME = re.compile(r"(?P<speaker>(?P<gender>[FM])\d{2})(?P<emo>[A-Z])(?P<index>\d{2})", re.IGNORECASE)


def parse(uid: str) -> Fields:
    """Emotion, speaker and gender of one ShEMO utterance id, from its file name only."""
    found = match(NAME, uid, "ShEMO's GSSENN pattern (e.g. F01A01)")
    return Fields(code=found["emo"].upper(), speaker=found["speaker"].upper(), gender=found["gender"].lower())


LAYOUT = Layout(folders=(("female",), ("male",)), shown="female/ and male/")


def scan(root: Path) -> Scan:
    """Every ShEMO utterance under ``root`` (the folder holding ``female/`` and ``male/``)."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
