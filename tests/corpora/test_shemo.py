"""ShEMO loader: 'F' female at position 0 but fear at position 3, labels from names, long clips kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import shemo
from tests.corpora._parse_helpers import (
    LFS_POINTER,
    assert_ids_well_formed,
    assert_info_coherent,
    build,
    by_name,
    reasons,
    write_text,
)

GOOD = [
    "female/F01A01.wav",
    "female/F01F02.wav",  # female speaker F01, fear
    "female/F12H03.wav",
    "male/M01N04.wav",  # M01 is not F01
    "male/M36S02.wav",
    "male/M05W01.wav",
    "male/M05F07.wav",  # male, fear
]
BAD = ["female/F01X01.wav", "male/notes.wav", "male/M5A01.wav"]
LONG = "male/M02A05.wav"  # over 30 s


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav)
    write_wav(tmp_path / LONG, seconds=31.0, sample_rate=8000)
    write_text(tmp_path / "female/F02S01.wav", LFS_POINTER)
    # The corpus's own label file disagrees with the names: it must be ignored.
    write_text(tmp_path / "shemo.json", json.dumps({"F01A01": {"emotion": "sadness"}}))
    return tmp_path


def test_labels_speakers_gender_from_names(root: Path) -> None:
    frame = corpora.load("shemo", root)
    rows = by_name(frame)
    assert len(frame) == len(GOOD) + 1
    assert rows["F01F02"]["label"] == "fear" and rows["F01F02"]["gender"] == "f"
    assert rows["M05F07"]["label"] == "fear" and rows["M05F07"]["gender"] == "m"
    assert rows["F01A01"]["label"] == "anger"  # the name wins over the JSON
    assert rows["M05W01"]["label"] == "surprise"
    assert rows["M01N04"]["label"] == "neutral"
    assert rows["F01A01"]["speaker"] == rows["F01F02"]["speaker"] == "shemo-F01"
    assert rows["M01N04"]["speaker"] == "shemo-M01"
    assert set(frame["speaker"]) == {"shemo-F01", "shemo-F12", "shemo-M01", "shemo-M36", "shemo-M05", "shemo-M02"}
    assert rows["M36S02"]["id"] == "male/M36S02"
    assert_ids_well_formed(frame)


def test_clips_over_30_seconds_are_kept(root: Path) -> None:
    frame = corpora.load("shemo", root)
    assert "male/M02A05" in set(frame["id"])


def test_skipped_files_have_reasons(root: Path) -> None:
    why = reasons(corpora.scan("shemo", root))
    assert set(why) == {"F01X01.wav", "notes.wav", "M5A01.wav", "F02S01.wav"}
    assert "unknown emotion code 'X'" in why["F01X01.wav"]
    assert "GSSENN" in why["notes.wav"] and "GSSENN" in why["M5A01.wav"]
    assert "git-lfs" in why["F02S01.wav"]


def test_four_class_selection(root: Path) -> None:
    frame = corpora.load("shemo", root, classes="4")
    assert set(frame["label"]) == {"anger", "happiness", "neutral", "sadness"}


def test_info() -> None:
    assert corpora.info("shemo") is shemo.INFO
    assert_info_coherent(shemo.INFO, "shemo", 6)
    assert shemo.INFO.language == "fa" and not shemo.INFO.english
    assert (shemo.INFO.expected_files, shemo.INFO.expected_speakers) == (3000, 87)
    assert shemo.INFO.expected_per_label["fear"] == 38
