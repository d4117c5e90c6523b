"""EmoDB, the Berlin Database of Emotional Speech (German): ``wav/SSTTTEV.wav``, e.g. ``wav/03a01Fa.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, Unusable, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="emodb",
    name="EmoDB (Berlin Database of Emotional Speech)",
    language="de",
    labels={
        "W": "anger",
        "L": "boredom",
        "E": "disgust",
        "A": "fear",
        "F": "happiness",
        "T": "sadness",
        "N": "neutral",
    },
    expected_files=535,
    expected_speakers=10,
    access="open",
    url="http://emodb.bilderbar.info/",
    notes=(
        "Only wav/*.wav is audio (lablaut/, labsilb/, silb/ and the .txt files are ignored). Name SSTTTEV: "
        "speaker, text code, emotion letter (German initial), take. Male speakers 03 10 11 12 15, female "
        "08 09 13 14 16. 16 kHz mono, 1.2-9 s."
    ),
    expected_per_label={
        "anger": 127,
        "boredom": 81,
        "neutral": 79,
        "happiness": 71,
        "fear": 69,
        "sadness": 62,
        "disgust": 46,
    },
)

GENDER: dict[str, str] = {
    **{speaker: "m" for speaker in ("03", "10", "11", "12", "15")},
    **{speaker: "f" for speaker in ("08", "09", "13", "14", "16")},
}

# "03a01Fa": speaker, text (a letter and two digits), emotion letter, take letter.
_NAME = re.compile(r"(?P<speaker>\d{2})(?P<text>[a-z]\d{2})(?P<code>[A-Z])(?P<take>[a-z])")


def parse(uid: str) -> Fields:
    """Fields of an EmoDB utterance id, from its file name such as ``03a01Fa``."""
    found = match(_NAME, uid, "'SSTTTEV' (e.g. '03a01Fa')")
    speaker = found["speaker"]
    if speaker not in GENDER:
        raise Unusable(f"speaker {speaker} is not one of the ten EmoDB speakers")
    return Fields(code=found["code"], speaker=speaker, gender=GENDER[speaker])


LAYOUT = Layout(folders=(("wav",),), shown="wav/")


def scan(root: Path) -> Scan:
    """Every EmoDB recording under ``root``: the .wav files of ``wav/`` (other folders, such as ``silb/`` or a
    mirror copy ``wav_copy/``, are named as skipped, not read); ``root`` may also be the ``wav/`` folder itself."""
    return scan_files(root, INFO, parse, suffixes=(".wav",), layout=LAYOUT)
