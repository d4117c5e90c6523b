"""EYASE loader: <g><SS>_<emo> (<n>).wav in the corpus folder, gender or speaker folders (copies differ);
broken copies reported, not fatal; audio in other folders named, not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import eyase
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

GOOD = [
    "ml02_hap (15).wav",  # in the corpus folder itself
    "Female/fm01/fm01_hap (3).wav",  # gender and speaker folders
    "Female/fm02/fm02_neu (2).wav",
    "Female/fm03_sad (10).wav",  # gender folder
    "ml03/ml03_ang (1).wav",  # speaker folder
    "Male/ml01_sad (7).wav",
]
OUTSIDE = ["a/b/c/ml03_ang (2).wav", "Female/fm01/old/fm01_hap (4).wav"]
BAD = ["fm01_hap.wav", "xx01_hap (1).wav", "fm01_exc (1).wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD + OUTSIDE, write_wav, rates=(44100, 16000))
    (tmp_path / "Female/fm01/fm01_sad (4).wav").touch()  # a broken, empty copy
    (tmp_path / "Male/ml01_ang (9).wav").write_bytes(b"not a RIFF header at all")  # unreadable, but not opened
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("eyase", root)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "ml02_hap (15)": "happiness",
        "fm01_hap (3)": "happiness",
        "fm02_neu (2)": "neutral",
        "fm03_sad (10)": "sadness",
        "ml03_ang (1)": "anger",
        "ml01_sad (7)": "sadness",
        "ml01_ang (9)": "anger",  # scan reads names only: readability is checked later
    }
    assert rows["fm01_hap (3)"]["id"] == "Female/fm01/fm01_hap (3)"
    assert rows["ml02_hap (15)"]["id"] == "ml02_hap (15)"
    assert {row["speaker"]: row["gender"] for row in rows.values()} == {
        "eyase-fm01": "f",
        "eyase-fm02": "f",
        "eyase-fm03": "f",
        "eyase-ml01": "m",
        "eyase-ml02": "m",
        "eyase-ml03": "m",
    }
    assert_ids_well_formed(frame)


def test_skipped(root: Path) -> None:
    why = reasons(corpora.scan("eyase", root))
    assert set(why) == {"fm01_hap.wav", "xx01_hap (1).wav", "fm01_exc (1).wav", "fm01_sad (4).wav",
                        "ml03_ang (2).wav", "fm01_hap (4).wav"}
    assert "empty file" in why["fm01_sad (4).wav"]
    assert "unknown emotion code 'exc'" in why["fm01_exc (1).wav"]
    assert why["ml03_ang (2).wav"] == why["fm01_hap (4).wav"] == (
        "ignored: outside the corpus's audio folders (the corpus folder, Female/ and Male/, <speaker>/ or "
        "<gender>/<speaker>/)")


def test_a_copy_one_folder_down_is_read_the_same(tmp_path: Path, write_wav) -> None:
    build(tmp_path / "EYASE", GOOD, write_wav)
    scan = corpora.scan("eyase", tmp_path)
    assert sorted(item.id for item in scan.items) == sorted(f"EYASE/{name.removesuffix('.wav')}" for name in GOOD)
    assert scan.skipped == []


def test_empty_root_raises(tmp_path: Path) -> None:
    with pytest.raises(corpora.CorpusError):
        corpora.load("eyase", tmp_path)
    with pytest.raises(corpora.CorpusError):
        corpora.scan("eyase", tmp_path / "missing")


def test_info() -> None:
    assert_info_coherent(eyase.INFO, "eyase", 4)
    assert eyase.INFO.expected_files is None and eyase.INFO.expected_speakers == 6
