"""EmoDB loader: only wav/*.wav is audio; speaker and gender from the SS field."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import emodb
from tests.corpora._parse_helpers import (
    assert_ids_well_formed,
    assert_info_coherent,
    build,
    by_name,
    reasons,
    write_text,
)

GOOD = [
    "wav/03a01Fa.wav",
    "wav/08b02Wb.wav",
    "wav/09a04Ac.wav",
    "wav/10a05Ld.wav",
    "wav/13b10Ea.wav",
    "wav/15a07Ta.wav",
    "wav/16b03Nb.WAV",  # upper-case extension
]
BAD = ["wav/03a01Xa.wav", "wav/05a01Fa.wav", "wav/readme.wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav, rates=(16000,))
    for other in ("lablaut/03a01Fa.lablaut", "labsilb/03a01Fa.labsilb", "silb/03a01Fa.silb"):
        write_text(tmp_path / other, "0.1 a\n")
    write_text(tmp_path / "erkennung.txt", "Erkennungsraten\n")
    write_text(tmp_path / "erklaerung.txt", "Erklaerung\n")
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("emodb", root)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "03a01Fa": "happiness",
        "08b02Wb": "anger",
        "09a04Ac": "fear",
        "10a05Ld": "boredom",
        "13b10Ea": "disgust",
        "15a07Ta": "sadness",
        "16b03Nb": "neutral",
    }
    assert rows["03a01Fa"]["id"] == "wav/03a01Fa"
    assert rows["16b03Nb"]["id"] == "wav/16b03Nb"
    assert {row["speaker"]: row["gender"] for row in rows.values()} == {
        "emodb-03": "m",
        "emodb-08": "f",
        "emodb-09": "f",
        "emodb-10": "m",
        "emodb-13": "f",
        "emodb-15": "m",
        "emodb-16": "f",
    }
    assert_ids_well_formed(frame)


def test_only_wav_files_are_seen_and_bad_ones_reported(root: Path) -> None:
    scan = corpora.scan("emodb", root)
    assert len(scan.items) == len(GOOD)
    why = reasons(scan)
    assert set(why) == {"03a01Xa.wav", "05a01Fa.wav", "readme.wav"}  # label files and .txt are not audio
    assert "unknown emotion code 'X'" in why["03a01Xa.wav"]
    assert "speaker 05" in why["05a01Fa.wav"]


def test_gender_lists_cover_the_ten_speakers() -> None:
    assert sorted(emodb.GENDER) == ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
    assert list(emodb.GENDER.values()).count("m") == 5


def test_info() -> None:
    assert_info_coherent(emodb.INFO, "emodb", 7)
    assert emodb.INFO.expected_per_label["anger"] == 127
