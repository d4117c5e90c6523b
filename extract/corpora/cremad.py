"""CREMA-D (English): ``AudioWAV/AAAA_SSS_EEE_LL.wav``, gender from ``VideoDemographics.csv``."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from extract.corpora._collect import Fields, Parser, Unusable, collect, lookup, speaker_id, stem
from extract.corpora.base import CorpusInfo, Scan, find_audio, is_lfs_pointer

log = logging.getLogger(__name__)

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
        "gender is empty and a warning is logged. A clone made without git-lfs holds tiny pointer files "
        "instead of audio: they are reported as skipped. Only .wav is read (AudioMP3/ is ignored). 16 kHz."
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


def make_parser(genders: dict[str, str]) -> Parser:
    """A parser of CREMA-D utterance ids that takes each actor's gender from ``genders``."""

    def parse(uid: str) -> Fields:
        name = stem(uid)
        match = NAME.fullmatch(name)
        if match is None:
            raise Unusable(f"file name {name!r} does not follow CREMA-D's AAAA_SSS_EEE_LL pattern")
        if match["sentence"] not in SENTENCES:
            raise Unusable(f"unknown sentence code {match['sentence']!r}")
        if name in KNOWN_BROKEN:
            raise Unusable(KNOWN_BROKEN[name])
        actor = match["actor"]
        return Fields(lookup(INFO.labels, match["emo"]), speaker_id(INFO.key, actor), genders.get(actor, ""))

    return parse


def actor_genders(root: Path) -> dict[str, str]:
    """Each actor's gender from the demographics CSV under ``root``; empty (with a warning) without it."""
    path = find_demographics(root)
    if path is None:
        log.warning("CREMA-D: %s not found under %s; gender left empty", DEMOGRAPHICS, root)
        return {}
    if is_lfs_pointer(path):
        log.warning("CREMA-D: %s is a git-lfs pointer, not the table; gender left empty", path)
        return {}
    genders = read_demographics(path)
    if not genders:
        log.warning("CREMA-D: no ActorID/Sex rows in %s; gender left empty", path)
    return genders


def scan(root: Path) -> Scan:
    """Every CREMA-D utterance under ``root`` (the repository folder holding ``AudioWAV/``)."""
    files = find_audio(root)
    return collect(root, files, make_parser(actor_genders(root)), unique_names=True)
