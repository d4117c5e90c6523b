"""EmoMatchSpanishDB (Spanish): flat ``{SS}_{Emotion}_{NN}.WAV``, e.g. ``01_Alegria_02.WAV``."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from extract.corpora._scan import Fields, Layout, Unusable, scan_files, stem
from extract.corpora.base import CorpusInfo, Scan

INFO = CorpusInfo(
    key="emomatch",
    name="EmoMatchSpanishDB",
    language="es",
    labels={
        "Neutro": "neutral",
        "Alegria": "happiness",
        "Tristeza": "sadness",
        "Ira": "anger",
        "Miedo": "fear",
        "Asco": "disgust",
        "Sorpresa": "surprise",
    },
    expected_files=None,
    expected_speakers=None,
    access="request",
    url="",
    notes=(
        "Obtained from its authors (Garcia-Cuesta, Barba Salvador, Gachet Paez: 'EmoMatchSpanishDB', Multimedia "
        "Tools and Applications 83, 2024, doi:10.1007/s11042-023-15959-w); EmoMatchSpanishDB is the subset of "
        "EmoSpanishDB whose perceived emotion matches the elicited one. Flat folder of {SS}_{Emotion}_{NN}.WAV "
        "(upper-case extension), emotion as an unaccented Spanish word (matched here case- and accent-"
        "insensitively). About 2000 files and up to 50 speakers: no public file list exists, so counts are only "
        "reported. Gender is not in the name. 48 kHz."
    ),
)


def _plain(word: str) -> str:
    """Lower case without accents: ``Alegría`` -> ``alegria``."""
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


_CODES: dict[str, str] = {_plain(code): code for code in INFO.labels}


def parse(uid: str) -> Fields:
    """Fields of an EmoMatchSpanishDB utterance id, from its file name such as ``01_Alegria_02``."""
    parts = stem(uid).split("_")
    if len(parts) != 3:
        raise Unusable(f"expected 3 '_'-separated fields ('SS_Emotion_NN'), found {len(parts)}")
    speaker, emotion, number = (part.strip() for part in parts)
    if not (speaker.isdigit() and speaker.isascii()):
        raise Unusable(f"speaker field {speaker!r} is not a number")
    if not (number.isdigit() and number.isascii()):
        raise Unusable(f"index field {number!r} is not a number")
    return Fields(code=_CODES.get(_plain(emotion), emotion), speaker=speaker)


# Flat: the files sit directly in the corpus folder (the root, or a folder one or two levels below it).
LAYOUT = Layout(folders=((),), shown="the corpus folder itself, a flat corpus")


def scan(root: Path) -> Scan:
    """Every EmoMatchSpanishDB recording under ``root``; unknown names are listed in ``skipped``."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
