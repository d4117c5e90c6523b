"""AESDD, the Acted Emotional Speech Dynamic Database (Greek): ``<emotion>/<x><NN> (<S>)[a|b].wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="aesdd",
    name="AESDD (Acted Emotional Speech Dynamic Database)",
    language="el",
    labels={"a": "anger", "d": "disgust", "f": "fear", "h": "happiness", "s": "sadness"},
    expected_files=604,
    expected_speakers=6,
    access="open",
    url="http://m3c.web.auth.gr/research/aesdd-speech-emotion-recognition/",
    notes=(
        "Free for research from the M3C group (Aristotle University of Thessaloniki). No neutral class. "
        "Label = first letter of the file name; speaker = the number in parentheses read as an integer "
        "('(01)' and '(1)' are the same speaker). Trailing a/b are extra takes of the same utterance and are kept. "
        "Gender is left empty (sources contradict each other). 'sadness/s05 (3).wav' is unreadable in the "
        "official archive (605 files, 604 usable). 44.1 kHz, 1-12.7 s."
    ),
)

# e.g. "a01 (1)", "f18 (5)b", "d03 (01)": emotion letter, utterance number, speaker in parentheses, take.
_NAME = re.compile(r"(?P<code>[a-z])(?P<utterance>\d+)\s*\(\s*(?P<speaker>\d+)\s*\)\s*(?P<take>[ab]?)", re.IGNORECASE)

BROKEN = {"s05 (3)": "known-broken file: unreadable in the official AESDD archive"}


def parse(uid: str) -> Fields:
    """Fields of an AESDD utterance id, from its file name such as ``f18 (5)b``."""
    found = match(_NAME, uid, "'<x><NN> (<S>)[a|b]' (e.g. 'a01 (1)')")
    return Fields(code=found["code"].lower(), speaker=str(int(found["speaker"])))


# The five emotion folders, e.g. ``anger/a01 (1).wav``.
LAYOUT = Layout(
    folders=((r"anger|disgust|fear|happiness|sadness",),), shown="anger/, disgust/, fear/, happiness/, sadness/"
)


def scan(root: Path) -> Scan:
    """Every AESDD recording under ``root``; the emotion folders are not used."""
    return scan_files(root, INFO, parse, broken=BROKEN, unique_names=True, layout=LAYOUT)
