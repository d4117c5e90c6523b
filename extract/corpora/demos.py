"""DEMoS, the Database of Elicited Mood in Speech (Italian): ``DEMOS/PR_f_01_rab01a.wav``, ``NEU/m_02_neu01a.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="demos",
    name="DEMoS (Database of Elicited Mood in Speech)",
    language="it",
    labels={
        "rab": "anger",
        "tri": "sadness",
        "gio": "happiness",
        "pau": "fear",
        "dis": "disgust",
        "col": "guilt",
        "sor": "surprise",
        "neu": "neutral",
    },
    expected_files=9697,
    expected_speakers=68,
    access="restricted",
    url="https://zenodo.org/record/2544829",
    notes=(
        "Access on request with an End User License Agreement signed by a permanent university staff member. "
        "Emotional files are DEMOS/{PR|NP}_{f|m}_SS_eeeNNv.wav (PR: the 1564 'prototypical' files of 59 speakers), "
        "neutral files NEU/{f|m}_SS_neuNNv.wav without the prefix. Gender from the f/m letter. "
        "9697 files = 9365 emotional + 332 neutral; 68 speakers (23 F / 45 M)."
    ),
    expected_per_label={
        "disgust": 1678,
        "sadness": 1530,
        "anger": 1477,
        "happiness": 1395,
        "fear": 1156,
        "guilt": 1129,
        "surprise": 1000,
        "neutral": 332,
    },
)

# Optional PR/NP selection prefix, gender, speaker, emotion code, item number, take letter.
_NAME = re.compile(
    r"(?:(?P<selection>PR|NP)_)?(?P<gender>[fm])_(?P<speaker>\d+)_(?P<code>[a-z]{3})(?P<number>\d+)(?P<take>[a-z0-9]?)",
    re.IGNORECASE,
)


def parse(uid: str) -> Fields:
    """Fields of a DEMoS utterance id, from its file name such as ``PR_f_01_rab01a`` or ``m_02_neu03b``."""
    found = match(_NAME, uid, "'{PR|NP}_{f|m}_SS_eeeNNv' or '{f|m}_SS_neuNNv'")
    return Fields(code=found["code"].lower(), speaker=found["speaker"], gender=found["gender"].lower())


LAYOUT = Layout(folders=(("demos",), ("neu",)), shown="DEMOS/ and NEU/")


def scan(root: Path) -> Scan:
    """Every DEMoS recording under ``root`` (DEMOS/ and NEU/ alike; folders are not used)."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
