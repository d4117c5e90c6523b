"""CREMA-D (English): ``AudioWAV/AAAA_SSS_EEE_LL.wav``, gender from ``VideoDemographics.csv``."""

from __future__ import annotations

import csv
import re
from functools import partial
from pathlib import Path

from extract.corpora._scan import Fields, Layout, Unusable, match, scan_files
from extract.corpora.base import CorpusInfo, Scan, is_lfs_pointer

DEMOGRAPHICS = "VideoDemographics.csv"
SEX = {"male": "m", "female": "f"}
SENTENCES: frozenset[str] = frozenset(
    {"IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"}
)
KNOWN_BROKEN: dict[str, str] = {
    "1076_MTI_NEU_XX": "known-broken: unplayable in the official distribution",
    "1076_MTI_SAD_XX": "known-broken: silent in the official distribution",
}

INFO = CorpusInfo(
    key="cremad",
    name="CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset)",
    language="en",
    labels={
        "ANG": "anger",
        "DIS": "disgust",
        "FEA": "fear",
        "HAP": "happiness",
        "NEU": "neutral",
        "SAD": "sadness",
    },
    expected_files=7440,
    expected_speakers=91,
    expected_per_label={
        "anger": 1271,
        "disgust": 1271,
        "fear": 1271,
        "happiness": 1271,
        "neutral": 1086,
        "sadness": 1270,
    },
    access="open",
    url="https://github.com/CheyneyComputerScience/CREMA-D",
    english=True,
    notes=(
        "7442 files in the official distribution, 7440 usable: 1076_MTI_NEU_XX.wav (unplayable) and "
        "1076_MTI_SAD_XX.wav (silent) are skipped. Speaker = actor AAAA (1001-1091). Gender is not in the "
        f"name: it comes only from {DEMOGRAPHICS} (48 M / 43 F) in the root or one folder below; without it "
        "gender is empty and the scan says so (a warning in its notes). A clone made without git-lfs holds tiny "
        "pointer files instead of audio: they are reported as skipped. Only .wav is read (AudioMP3/ is ignored). "
        "16 kHz."
    ),
)

NAME = re.compile(r"(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emo>[A-Z]{3})_(?P<level>LO|MD|HI|XX)")


def find_demographics(root: Path) -> Path | None:
    """``VideoDemographics.csv`` in ``root`` or one folder below (name matched case-insensitively)."""
    for pattern in ("*", "*/*"):
        for path in sorted(root.glob(pattern)):
            if path.name.lower() == DEMOGRAPHICS.lower() and path.is_file():
                return path
    return None


def read_demographics(path: Path) -> dict[str, str]:
    """Actor id (``"1001"``) -> ``"f"``/``"m"`` from the demographics CSV (columns ActorID, ..., Sex, ...)."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        rows = list(csv.DictReader(handle))
    genders: dict[str, str] = {}
    for row in rows:
        clean = {(key or "").strip(): value.strip() for key, value in row.items() if isinstance(value, str)}
        actor, sex = clean.get("ActorID", ""), SEX.get(clean.get("Sex", "").lower(), "")
        if actor.isdigit() and sex:
            genders[actor.zfill(4)] = sex
    return genders


def parse(uid: str, genders: dict[str, str]) -> Fields:
    """Emotion and actor of one CREMA-D utterance id from its file name; gender from ``genders`` (actor -> f/m)."""
    found = match(NAME, uid, "CREMA-D's AAAA_SSS_EEE_LL pattern")
    if found["sentence"] not in SENTENCES:
        raise Unusable(f"unknown sentence code {found['sentence']!r}")
    return Fields(code=found["emo"], speaker=found["actor"], gender=genders.get(found["actor"], ""))


def actor_genders(root: Path) -> tuple[dict[str, str], list[str]]:
    """Each actor's gender from the demographics CSV under ``root``, and a note where there is none."""
    path = find_demographics(root)
    if path is None:
        return {}, [f"{DEMOGRAPHICS} not found under {root}; gender left empty"]
    if is_lfs_pointer(path):
        return {}, [f"{path} is a git-lfs pointer, not the table; gender left empty"]
    genders = read_demographics(path)
    return genders, [] if genders else [f"no ActorID/Sex rows in {path}; gender left empty"]


LAYOUT = Layout(folders=(("audiowav",),), shown="AudioWAV/")


def scan(root: Path) -> Scan:
    """Every CREMA-D utterance under ``root`` (the repository folder holding ``AudioWAV/``)."""
    genders, notes = actor_genders(root)
    return scan_files(root, INFO, partial(parse, genders=genders), broken=KNOWN_BROKEN, unique_names=True, notes=notes,
                      layout=LAYOUT)
