"""Oréau loader: 'é' composed or decomposed on disk, versions 1 and 2 never mixed, gender from the f/m folder."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import CorpusError, oreau
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, write_text

V2_NFC = unicodedata.normalize("NFC", "OréauFR_02")
V2_NFD = unicodedata.normalize("NFD", "OréauFR_02")
V1 = unicodedata.normalize("NFD", "OréauFR_01")

V2_FILES = [
    f"{V2_NFD}/f/sessc/10a01Ca.wav",  # anger, female speaker 10
    f"{V2_NFD}/f/sesst/10b03Tb.wav",  # sadness
    f"{V2_NFD}/f/sessj/11c02Ja.wav",  # happiness
    f"{V2_NFC}/m/sessp/21a05Pa.wav",  # fear, male speaker 21
    f"{V2_NFC}/m/sessn/21b01Na.wav",  # neutral
    f"{V2_NFC}/m/sesss/22c04Sa.wav",  # surprise
    f"{V2_NFC}/m/sessd/22a02Da.wav",  # disgust
]
SAME_PATH_NFC = f"{V2_NFC}/f/sessc/10a01Ca.wav"  # the NFD file above, with the é composed
V1_FILES = [f"{V1}/f/sessc/10a01Ca.wav", f"{V1}/m/sessn/23a01Na.wav"]
BAD = [f"{V2_NFC}/m/sessp/21a05Xa.wav", f"{V2_NFC}/m/sessp/take.wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, V2_FILES + [SAME_PATH_NFC] + V1_FILES + BAD, write_wav)
    write_text(tmp_path / V1 / "contents.txt", "version 1")
    return tmp_path


def relative_reasons(scan: corpora.Scan, root: Path) -> dict[str, str]:
    """Skipped files as NFC relative path -> reason (file names repeat across the versions)."""
    return {unicodedata.normalize("NFC", s.path.relative_to(root).as_posix()): s.reason for s in scan.skipped}


def test_both_spellings_of_the_folder_exist_on_disk(root: Path) -> None:
    assert V2_NFC != V2_NFD and (root / V2_NFC).is_dir() and (root / V2_NFD).is_dir()


def test_version_2_with_nfc_ids_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("oreau", root)
    assert len(frame) == len(V2_FILES)
    assert all(uid.startswith(V2_NFC + "/") for uid in frame["id"])  # NFC even where the disk has NFD
    rows = by_name(frame)
    assert rows["10a01Ca"]["id"] == f"{V2_NFC}/f/sessc/10a01Ca"
    assert {name: row["label"] for name, row in rows.items()} == {
        "10a01Ca": "anger",
        "10b03Tb": "sadness",
        "11c02Ja": "happiness",
        "21a05Pa": "fear",
        "21b01Na": "neutral",
        "22c04Sa": "surprise",
        "22a02Da": "disgust",
    }
    assert rows["10b03Tb"]["speaker"] == "oreau-10" and rows["21b01Na"]["speaker"] == "oreau-21"
    assert set(frame["speaker"]) == {"oreau-10", "oreau-11", "oreau-21", "oreau-22"}
    assert rows["11c02Ja"]["gender"] == "f" and rows["22a02Da"]["gender"] == "m"
    assert_ids_well_formed(frame)


def test_version_1_duplicates_and_bad_names_are_skipped_with_reasons(root: Path) -> None:
    why = relative_reasons(corpora.scan("oreau", root), root)
    v1 = [unicodedata.normalize("NFC", p) for p in V1_FILES]
    bad = [unicodedata.normalize("NFC", p) for p in BAD]
    assert set(why) == {*v1, *bad, SAME_PATH_NFC}
    assert all("version 1" in why[p] and "never mixed" in why[p] for p in v1)
    assert "duplicate of" in why[SAME_PATH_NFC] and "decomposed" in why[SAME_PATH_NFC]
    assert "unknown emotion code 'X'" in why[bad[0]]
    assert "SSxNNEv" in why[bad[1]]


def test_version_1_on_request(root: Path) -> None:
    scan = oreau.scan(root, version=1)
    assert sorted(item.id for item in scan.items) == sorted(
        unicodedata.normalize("NFC", p).removesuffix(".wav") for p in V1_FILES
    )
    assert sum("version 2 file" in s.reason for s in scan.skipped) == len(V2_FILES) + 1 + len(BAD)
    with pytest.raises(CorpusError, match="version 3"):
        oreau.scan(root, version=3)


def test_root_may_be_the_version_folder(tmp_path: Path, write_wav) -> None:
    build(tmp_path, [f"{V2_NFD}/f/sessc/10a01Ca.wav", f"{V2_NFD}/m/sessn/21b01Na.wav"], write_wav)
    frame = corpora.load("oreau", tmp_path / V2_NFD)
    assert list(frame["id"]) == ["f/sessc/10a01Ca", "m/sessn/21b01Na"]
    assert list(frame["gender"]) == ["f", "m"]


def test_version_folders_damaged_by_the_unzip_tool_are_recognised(tmp_path: Path, write_wav) -> None:
    # A raw Latin-1 byte for the é (not valid UTF-8), and Mac Roman mojibake.
    build(tmp_path, [b"Or\xe9auFR_02/f/sessc/10a01Ca.wav", "Or\u221a\u00a9auFR_01/f/sessc/10a01Ca.wav"], write_wav)
    scan = corpora.scan("oreau", tmp_path)
    assert [item.id for item in scan.items] == ["Or\\xe9auFR_02/f/sessc/10a01Ca"]
    assert [s.reason.split(":")[0] for s in scan.skipped] == ["Oréau version 1 file"]


def test_info() -> None:
    info = corpora.info("oreau")
    assert info is oreau.INFO
    assert_info_coherent(info, "oreau", 7)
    assert info.language == "fr" and not info.english
    assert (info.expected_files, info.expected_speakers) == (434, 32)
    assert "version" in info.notes
