"""TESS loader: two female speakers, 'ps' = surprise, flat or per-emotion folders, a nested copy not read."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import tess
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

GOOD = [
    "OAF_back_angry.wav",
    "OAF_back_ps.wav",
    "OAF_youth_fear.wav",
    "OAF_neutral/OAF_bar_neutral.wav",  # a copy with one folder per speaker and emotion
    "YAF_back_happy.wav",
    "YAF_date_disgust.wav",
    "YAF_pleasant_surprised/YAF_youth_ps.wav",
    "YAF_germ_sad.wav",
]
BAD = ["OAF_back.wav", "XAF_back_angry.wav", "OAF_back_bored.wav"]
MIRROR = "TESS Toronto emotional speech set data/YAF_pleasant_surprised/YAF_youth_ps.wav"


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD + [MIRROR], write_wav)
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("tess", root)
    rows = by_name(frame)
    assert len(frame) == len(GOOD)
    assert rows["OAF_back_ps"]["label"] == rows["YAF_youth_ps"]["label"] == "surprise"
    assert rows["OAF_back_angry"]["label"] == "anger"
    assert rows["YAF_back_happy"]["label"] == "happiness"
    assert rows["YAF_germ_sad"]["label"] == "sadness"
    assert set(frame["label"]) == set(tess.INFO.classes)
    assert set(frame["speaker"]) == {"tess-OAF", "tess-YAF"}
    assert rows["OAF_bar_neutral"]["speaker"] == "tess-OAF"
    assert set(frame["gender"]) == {"f"}
    # Of two copies the one in the shallowest corpus folder is read; the nested copy is not.
    assert rows["YAF_youth_ps"]["id"] == "YAF_pleasant_surprised/YAF_youth_ps"
    assert_ids_well_formed(frame)


def test_skipped_files_have_reasons(root: Path) -> None:
    scan = corpora.scan("tess", root)
    why = reasons(scan)
    assert set(why) == {"OAF_back.wav", "XAF_back_angry.wav", "OAF_back_bored.wav", "YAF_youth_ps.wav"}
    assert "<SPK>_<word>_<emotion>" in why["OAF_back.wav"]
    assert "unknown TESS speaker 'XAF'" in why["XAF_back_angry.wav"]
    assert "unknown emotion code 'bored'" in why["OAF_back_bored.wav"]
    mirrored = [s for s in scan.skipped if s.path.name == "YAF_youth_ps.wav"]
    assert [s.path.relative_to(root).as_posix() for s in mirrored] == [MIRROR]
    assert mirrored[0].reason == ("ignored: outside the corpus's audio folders (the corpus folder, or "
                                  "<SPK>_<emotion>/ such as OAF_angry/)")


def test_a_copy_inside_the_zip_folder_is_read(tmp_path: Path, write_wav) -> None:
    build(tmp_path, [MIRROR, "TESS Toronto emotional speech set data/OAF_Fear/OAF_youth_fear.wav"], write_wav)
    scan = corpora.scan("tess", tmp_path)
    assert sorted(item.id.rsplit("/", 1)[-1] for item in scan.items) == ["OAF_youth_fear", "YAF_youth_ps"]
    assert scan.skipped == [] and scan.notes == []


def test_info_says_speaker_splits_are_degenerate() -> None:
    info = corpora.info("tess")
    assert_info_coherent(info, "tess", 7)
    assert info.english and info.language == "en"
    assert info.labels["ps"] == "surprise"
    assert (info.expected_files, info.expected_speakers) == (2800, 2)
    assert "degenerate" in info.notes and "TWO SPEAKERS" in info.notes
