"""EMOVO (Italian): ``<spk>/<emo>-<spk>-<sentence>.wav``, e.g. ``f1/dis-f1-b1.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="emovo",
    name="EMOVO (Italian emotional speech corpus)",
    language="it",
    labels={
        "dis": "disgust",
        "gio": "happiness",
        "neu": "neutral",
        "pau": "fear",
        "rab": "anger",
        "sor": "surprise",
        "tri": "sadness",
    },
    expected_files=588,
    expected_speakers=6,
    access="open",
    url="http://voice.fub.it/activities/corpora/emovo/index.html",
    notes=(
        "Recorded at Fondazione Ugo Bordoni (Costantini et al., LREC 2014). Speakers f1 f2 f3 m1 m2 m3; the speaker "
        "and its gender come from the file name, not the folder. 588 = 6 speakers x 7 emotions x 14 sentences. "
        "48 kHz. Extracted files may be read-only (only read, never written)."
    ),
    expected_per_label={  # 6 speakers x 14 sentences per emotion
        label: 84 for label in ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
    },
)

# "dis-f1-b1": emotion code, speaker (gender letter and number), sentence code.
_NAME = re.compile(r"(?P<code>[a-z]{3})-(?P<speaker>(?P<gender>[fm])\d+)-(?P<sentence>[a-z]+\d+)", re.IGNORECASE)


def parse(uid: str) -> Fields:
    """Fields of an EMOVO utterance id, from its file name such as ``dis-f1-b1``."""
    found = match(_NAME, uid, "'<emo>-<spk>-<sentence>' (e.g. 'dis-f1-b1')")
    return Fields(code=found["code"].lower(), speaker=found["speaker"].lower(), gender=found["gender"].lower())


# One folder per speaker: f1 f2 f3 m1 m2 m3.
LAYOUT = Layout(folders=((r"[fm]\d",),), shown="<speaker>/ such as f1/ or m3/")


def scan(root: Path) -> Scan:
    """Every EMOVO recording under ``root``."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
