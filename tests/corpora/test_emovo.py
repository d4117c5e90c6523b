"""EMOVO loader: <spk>/<emo>-<spk>-<sentence>.wav, speaker from the name, read-only files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import emovo
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

GOOD = [
    "f1/dis-f1-b1.wav",
    "f1/neu-f1-l4.wav",
    "f2/sor-f2-d2.wav",
    "f3/tri-f3-n3.wav",
    "m1/gio-m1-b3.wav",
    "m2/pau-m2-l1.wav",
    "m2/tri-m1-n2.wav",  # misfiled: the name says speaker m1
    "m3/rab-m3-n5.wav",
]
BAD = ["f1/dis-x1-b1.wav", "f1/abc-f1-b1.wav", "f1/dis_f1_b1.wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav, rates=(48000,))
    for path in tmp_path.rglob("*.wav"):
        path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # extracted read-only
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("emovo", root)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "dis-f1-b1": "disgust",
        "neu-f1-l4": "neutral",
        "sor-f2-d2": "surprise",
        "tri-f3-n3": "sadness",
        "gio-m1-b3": "happiness",
        "pau-m2-l1": "fear",
        "tri-m1-n2": "sadness",
        "rab-m3-n5": "anger",
    }
    assert rows["tri-m1-n2"]["speaker"] == "emovo-m1"
    assert rows["tri-m1-n2"]["id"] == "m2/tri-m1-n2"
    assert {row["speaker"]: row["gender"] for row in rows.values()} == {
        "emovo-f1": "f",
        "emovo-f2": "f",
        "emovo-f3": "f",
        "emovo-m1": "m",
        "emovo-m2": "m",
        "emovo-m3": "m",
    }
    assert_ids_well_formed(frame)


def test_skipped(root: Path) -> None:
    why = reasons(corpora.scan("emovo", root))
    assert set(why) == {"dis-x1-b1.wav", "abc-f1-b1.wav", "dis_f1_b1.wav"}
    assert "unknown emotion code 'abc'" in why["abc-f1-b1.wav"]
    assert "unrecognised file name" in why["dis-x1-b1.wav"]


def test_info() -> None:
    assert_info_coherent(emovo.INFO, "emovo", 7)
    assert emovo.INFO.expected_files == 6 * 7 * 14
