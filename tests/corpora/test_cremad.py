"""CREMA-D loader: gender only from VideoDemographics.csv, known-broken files, git-lfs pointer files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import CorpusError, cremad
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
    "AudioWAV/1001_DFA_ANG_XX.wav",
    "AudioWAV/1001_IEO_HAP_HI.wav",
    "AudioWAV/1002_IEO_SAD_LO.wav",
    "AudioWAV/1002_TIE_NEU_XX.wav",
    "AudioWAV/1076_MTI_FEA_XX.wav",
    "AudioWAV/1091_WSI_DIS_XX.wav",
    "AudioWAV/1050_ITS_ANG_MD.wav",  # actor missing from the demographics table
]
BROKEN = ["AudioWAV/1076_MTI_NEU_XX.wav", "AudioWAV/1076_MTI_SAD_XX.wav"]
BAD = ["AudioWAV/1001_XYZ_ANG_XX.wav", "AudioWAV/1001_DFA_BOR_XX.wav", "AudioWAV/1001_DFA_ANG.wav"]
POINTER = "AudioWAV/1003_IOM_HAP_XX.wav"
# The official file quotes every header and text field.
DEMOGRAPHICS = (
    '"ActorID","Age","Sex","Race","Ethnicity"\n'
    '1001,51,"Male","Caucasian","Not Hispanic"\n'
    '1002,21,"Female","Caucasian","Not Hispanic"\n'
    '1076,25,"Female","Caucasian","Not Hispanic"\n'
    '1091,29,"Female","Asian","Not Hispanic"\n'
)


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BROKEN + BAD, write_wav)
    write_text(tmp_path / POINTER, LFS_POINTER)
    write_text(tmp_path / "AudioMP3/1001_DFA_ANG_XX.mp3", "not read")
    write_text(tmp_path / "VideoDemographics.csv", DEMOGRAPHICS)
    return tmp_path


def test_labels_speakers_gender_from_demographics(root: Path) -> None:
    frame = corpora.load("cremad", root)
    rows = by_name(frame)
    assert len(frame) == len(GOOD)
    assert rows["1001_DFA_ANG_XX"]["label"] == "anger"
    assert rows["1002_IEO_SAD_LO"]["label"] == "sadness"
    assert rows["1091_WSI_DIS_XX"]["label"] == "disgust"
    assert rows["1001_DFA_ANG_XX"]["speaker"] == "cremad-1001"
    assert rows["1001_DFA_ANG_XX"]["gender"] == "m"
    assert rows["1002_TIE_NEU_XX"]["gender"] == "f"
    assert rows["1076_MTI_FEA_XX"]["gender"] == "f"
    assert rows["1050_ITS_ANG_MD"]["gender"] == ""  # not in the table
    assert rows["1001_IEO_HAP_HI"]["id"] == "AudioWAV/1001_IEO_HAP_HI"
    assert_ids_well_formed(frame)


def test_broken_pointer_and_unknown_files_are_skipped_with_reasons(root: Path) -> None:
    why = reasons(corpora.scan("cremad", root))
    assert set(why) == {Path(p).name for p in BROKEN + BAD + [POINTER]} | {"1001_DFA_ANG_XX.mp3"}
    assert why["1001_DFA_ANG_XX.mp3"].startswith("ignored: not .aif/.aiff/.flac/.wav")  # named, never read
    assert "unplayable" in why["1076_MTI_NEU_XX.wav"]
    assert "silent" in why["1076_MTI_SAD_XX.wav"]
    assert "git-lfs pointer" in why["1003_IOM_HAP_XX.wav"]
    assert "unknown sentence code 'XYZ'" in why["1001_XYZ_ANG_XX.wav"]
    assert "unknown emotion code 'BOR'" in why["1001_DFA_BOR_XX.wav"]
    assert "AAAA_SSS_EEE_LL" in why["1001_DFA_ANG.wav"]


def test_without_demographics_gender_is_empty_and_said(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    (root / "VideoDemographics.csv").unlink()
    with caplog.at_level(logging.WARNING, logger="extract.corpora.cremad"):
        frame = corpora.load("cremad", root)
    assert len(frame) == len(GOOD)
    assert set(frame["gender"]) == {""}
    assert "VideoDemographics.csv not found" in caplog.text


def test_demographics_one_folder_down_is_found(tmp_path: Path, write_wav) -> None:
    build(tmp_path, ["CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav"], write_wav)
    write_text(tmp_path / "CREMA-D/VideoDemographics.csv", DEMOGRAPHICS)
    frame = corpora.load("cremad", tmp_path)
    assert list(frame["gender"]) == ["m"]


def test_clone_without_git_lfs_is_reported(tmp_path: Path) -> None:
    for name in ("1001_DFA_ANG_XX", "1002_DFA_SAD_XX"):
        write_text(tmp_path / f"AudioWAV/{name}.wav", LFS_POINTER)
    write_text(tmp_path / "VideoDemographics.csv", DEMOGRAPHICS)
    scan = corpora.scan("cremad", tmp_path)
    assert scan.items == [] and len(scan.skipped) == 2
    assert all("git-lfs" in s.reason for s in scan.skipped)
    with pytest.raises(CorpusError, match="no usable audio"):
        corpora.load("cremad", tmp_path)


def test_info() -> None:
    info = corpora.info("cremad")
    assert info is cremad.INFO
    assert_info_coherent(info, "cremad", 6)
    assert info.english and info.language == "en"
    assert (info.expected_files, info.expected_speakers) == (7440, 91)  # 7442 minus the two known-broken
    assert set(cremad.KNOWN_BROKEN) == {"1076_MTI_NEU_XX", "1076_MTI_SAD_XX"}


def test_without_demographics_the_scan_notes_it(root: Path) -> None:
    (root / "VideoDemographics.csv").unlink()
    scan = corpora.scan("cremad", root)
    assert len(scan.items) == len(GOOD)
    assert len(scan.notes) == 1 and "VideoDemographics.csv not found" in scan.notes[0]
    assert "gender left empty" in scan.notes[0]


def test_with_demographics_there_is_no_note(root: Path) -> None:
    assert corpora.scan("cremad", root).notes == []
