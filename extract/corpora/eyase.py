"""EYASE, the Egyptian Arabic semi-natural emotion speech corpus: ``<g><SS>_<emo> (<n>).wav`` at any depth."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="eyase",
    name="EYASE (Egyptian Arabic Semi-natural Emotion speech)",
    language="ar-EG",
    labels={"ang": "anger", "hap": "happiness", "neu": "neutral", "sad": "sadness"},
    expected_files=None,
    expected_speakers=6,
    access="request",
    url="",
    notes=(
        "Semi-natural speech cut from an Egyptian TV series (Abdel-Hamid, 2020). No official download page could "
        "be confirmed; copies circulate (e.g. on Kaggle) and differ: about 500-580 files, some broken, and the "
        "folder depth varies, so the scan is recursive and reads only file names. Names <g><SS>_<emo> (<n>): "
        "g = fm (female) / ml (male); speaker = the part before '_' (fm01 ... ml03)."
    ),
)

# "fm01_hap (3)": gender, speaker number, emotion code, clip number in parentheses.
_NAME = re.compile(r"(?P<speaker>(?P<gender>fm|ml)\d+)_(?P<code>[a-z]{3})\s*\(\s*(?P<number>\d+)\s*\)", re.IGNORECASE)

_GENDER = {"fm": "f", "ml": "m"}


def parse(uid: str) -> Fields:
    """Fields of an EYASE utterance id, from its file name such as ``fm01_hap (3)``."""
    found = match(_NAME, uid, "'<g><SS>_<emo> (<n>)' (e.g. 'fm01_hap (3)')")
    gender = _GENDER[found["gender"].lower()]
    return Fields(code=found["code"].lower(), speaker=found["speaker"].lower(), gender=gender)


_GENDER_FOLDER = r"females?|males?"
_SPEAKER_FOLDER = r"(fm|ml)\d+"
# Copies differ in their folder levels: the files sit in the corpus folder, in Female/ Male/, in speaker folders
# (fm01/ ... ml03/), or in speaker folders inside the gender folders.
LAYOUT = Layout(
    folders=((), (_GENDER_FOLDER,), (_SPEAKER_FOLDER,), (_GENDER_FOLDER, _SPEAKER_FOLDER)),
    shown="the corpus folder, Female/ and Male/, <speaker>/ or <gender>/<speaker>/",
)


def scan(root: Path) -> Scan:
    """Every EYASE recording under ``root``, at whatever folder depth."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
