"""AESDD loader: names with spaces and parentheses, '(01)' == '(1)', takes, the known-broken file."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import aesdd
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
    "anger/a01 (1).wav",
    "anger/a01 (1)b.wav",  # extra take of the same utterance
    "anger/h07 (4).wav",  # misfiled: the name says happiness
    "disgust/d03 (01).wav",  # speaker written with a leading zero
    "disgust/d04 (1).wav",
    "fear/f18 (5)b.wav",
    "happiness/h02 (2)a.wav",
    "sadness/s01 (6).wav",
]
BAD = ["sadness/s05 (3).wav", "sadness/notes.wav", "sadness/x01 (2).wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav)
    write_text(tmp_path / "fear/f02 (3).wav", LFS_POINTER)
    return tmp_path


def test_labels_speakers_and_ids(root: Path) -> None:
    frame = corpora.load("aesdd", root)
    assert len(frame) == len(GOOD)
    rows = by_name(frame)
    assert rows["a01 (1)b"]["id"] == "anger/a01 (1)b"
    assert rows["h07 (4)"]["label"] == "happiness"  # label from the name, not the folder
    assert rows["f18 (5)b"]["label"] == "fear"
    assert "neutral" not in set(frame["label"])
    assert rows["d03 (01)"]["speaker"] == rows["d04 (1)"]["speaker"] == rows["a01 (1)"]["speaker"] == "aesdd-1"
    assert rows["a01 (1)b"]["speaker"] == rows["a01 (1)"]["speaker"]
    assert set(frame["speaker"]) == {"aesdd-1", "aesdd-2", "aesdd-4", "aesdd-5", "aesdd-6"}
    assert set(frame["gender"]) == {""}
    assert_ids_well_formed(frame)


def test_skipped_files_have_reasons(root: Path) -> None:
    scan = corpora.scan("aesdd", root)
    why = reasons(scan)
    assert set(why) == {"s05 (3).wav", "notes.wav", "x01 (2).wav", "f02 (3).wav"}
    assert "known-broken" in why["s05 (3).wav"]
    assert "unrecognised file name" in why["notes.wav"]
    assert "unknown emotion code 'x'" in why["x01 (2).wav"]
    assert "git-lfs" in why["f02 (3).wav"]
    assert not {it.id for it in scan.items} & {"sadness/s05 (3)", "fear/f02 (3)"}


def test_parse_tolerates_spacing_and_case() -> None:
    assert aesdd.parse("A12(03)") == aesdd.parse("a12 (3)")
    assert aesdd.parse("s20 ( 6 )a").speaker == "6"


def test_info() -> None:
    assert_info_coherent(aesdd.INFO, "aesdd", 5)
    assert (aesdd.INFO.expected_files, aesdd.INFO.expected_speakers) == (604, 6)
