"""EmoMatchSpanishDB loader: flat {SS}_{Emotion}_{NN}.WAV, Spanish words, tolerant of case and accents."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import emomatch
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

GOOD = [
    "01_Neutro_01.WAV",
    "01_Alegria_02.WAV",
    "12_Tristeza_10.WAV",
    "50_Ira_03.WAV",
    "07_Miedo_01.WAV",
    "07_Asco_02.WAV",
    "07_Sorpresa_03.WAV",
    unicodedata.normalize("NFD", "03_Alegría_04.WAV"),  # accented and decomposed on disk
    "03_sorpresa_05.wav",  # lower case
]
BAD = ["01_Alegria.WAV", "01_Enfado_01.WAV", "AB_Ira_01.WAV", "01_Ira_01_copy.WAV"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav, rates=(48000,))
    return tmp_path


def test_labels_and_speakers(root: Path) -> None:
    frame = corpora.load("emomatch", root)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "01_Neutro_01": "neutral",
        "01_Alegria_02": "happiness",
        "12_Tristeza_10": "sadness",
        "50_Ira_03": "anger",
        "07_Miedo_01": "fear",
        "07_Asco_02": "disgust",
        "07_Sorpresa_03": "surprise",
        "03_Alegría_04": "happiness",  # NFC id
        "03_sorpresa_05": "surprise",
    }
    assert set(frame["speaker"]) == {"emomatch-01", "emomatch-03", "emomatch-07", "emomatch-12", "emomatch-50"}
    assert set(frame["gender"]) == {""}
    assert rows["01_Neutro_01"]["id"] == "01_Neutro_01"  # flat: the id is the name without .WAV
    assert_ids_well_formed(frame)


def test_unexpected_names_are_reported(root: Path) -> None:
    why = reasons(corpora.scan("emomatch", root))
    assert set(why) == set(BAD)
    assert "3 '_'-separated fields" in why["01_Alegria.WAV"]
    assert "unknown emotion code 'Enfado'" in why["01_Enfado_01.WAV"]
    assert "speaker field 'AB'" in why["AB_Ira_01.WAV"]


def test_info() -> None:
    assert_info_coherent(emomatch.INFO, "emomatch", 7)
    assert emomatch.INFO.expected_files is None and emomatch.INFO.expected_speakers is None
    assert all(key.isascii() for key in emomatch.INFO.labels)  # unaccented Spanish words
