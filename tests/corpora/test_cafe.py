"""CaFE loader: damaged accented folder names, flat neutral folder, the 192 kHz .aiff version, gender by parity."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from extract import corpora
from extract.corpora import cafe
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

# 48 kHz version as three unzip tools leave it: DOS code page decoded as cp1252-ish, as cp866, or raw bytes.
WAV_VERSION: list[str | bytes] = [
    "ColŠre/Faible/01-C-1-1.wav",
    "ColКre/Fort/02-C-2-3.wav",
    b"D\x82go\x96t/Faible/03-D-1-2.wav",  # 'Dégoût' in cp850, not valid UTF-8
    unicodedata.normalize("NFD", "Dégoût") + "/Fort/04-D-2-2.wav",  # decomposed accents on disk
    "Joie/Fort/05-J-2-6.wav",
    "Joie/Faible/06-T-1-4.wav",  # misfiled: the name says sadness
    "Peur/Faible/07-P-1-1.wav",
    "Surprise/Fort/08-S-2-5.wav",
    "Tristesse/Faible/09-T-1-3.wav",
    "Neutre/10-N-1-5.wav",  # neutral is flat, intensity always 1
]
AIFF_VERSION = ["CaFE_192k/Neutre/11-N-4.aiff", "CaFE_192k/Colère/Fort/12-C-2-6.aiff"]


def test_48k_version_with_damaged_folders(tmp_path: Path, write_wav) -> None:
    build(tmp_path, WAV_VERSION, write_wav, rates=(48000,))
    frame = corpora.load("cafe", tmp_path)
    assert len(frame) == len(WAV_VERSION)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "01-C-1-1": "anger",
        "02-C-2-3": "anger",
        "03-D-1-2": "disgust",
        "04-D-2-2": "disgust",
        "05-J-2-6": "happiness",
        "06-T-1-4": "sadness",
        "07-P-1-1": "fear",
        "08-S-2-5": "surprise",
        "09-T-1-3": "sadness",
        "10-N-1-5": "neutral",
    }
    assert rows["01-C-1-1"]["id"] == "ColŠre/Faible/01-C-1-1"
    assert rows["02-C-2-3"]["id"] == "ColКre/Fort/02-C-2-3"
    assert rows["03-D-1-2"]["id"] == "D\\x82go\\x96t/Faible/03-D-1-2"  # raw bytes kept visible, valid UTF-8
    assert rows["04-D-2-2"]["id"] == "Dégoût/Fort/04-D-2-2"  # NFC
    assert os.path.isfile(rows["03-D-1-2"]["path"])  # the path still opens the file
    assert rows["10-N-1-5"]["id"] == "Neutre/10-N-1-5"
    assert rows["01-C-1-1"]["speaker"] == "cafe-01"
    assert {row["speaker"]: row["gender"] for row in rows.values()} == {
        f"cafe-{n:02d}": "m" if n % 2 else "f" for n in range(1, 11)
    }
    assert_ids_well_formed(frame)


def test_192k_aiff_version_three_field_neutral(tmp_path: Path, write_wav) -> None:
    build(tmp_path, AIFF_VERSION, write_wav, rates=(192000,))
    rows = by_name(corpora.load("cafe", tmp_path))
    neutral, anger = rows["11-N-4"], rows["12-C-2-6"]
    assert (neutral["label"], neutral["speaker"], neutral["gender"]) == ("neutral", "cafe-11", "m")
    assert (anger["label"], anger["speaker"], anger["gender"]) == ("anger", "cafe-12", "f")
    assert rows["11-N-4"]["id"] == "CaFE_192k/Neutre/11-N-4"


def test_both_versions_under_one_root_are_not_counted_twice(tmp_path: Path, write_wav) -> None:
    build(tmp_path / "CaFE_48k", ["Neutre/11-N-1-4.wav", "Colère/Fort/12-C-2-6.wav"], write_wav, rates=(48000,))
    build(tmp_path, AIFF_VERSION, write_wav, rates=(192000,))
    scan = corpora.scan("cafe", tmp_path)
    assert sorted(it.id for it in scan.items) == ["CaFE_192k/Colère/Fort/12-C-2-6", "CaFE_192k/Neutre/11-N-4"]
    why = reasons(scan)
    assert set(why) == {"11-N-1-4.wav", "12-C-2-6.wav"}
    assert "duplicate of 'CaFE_192k/Neutre/11-N-4'" in why["11-N-1-4.wav"]


def test_bad_names_are_skipped_with_reasons(tmp_path: Path, write_wav) -> None:
    bad = ["Neutre/03-N.wav", "Colère/Faible/01-X-1-1.wav", "Colère/Fort/01-C-3-1.wav", "Joie/01-J-1-7.wav"]
    build(tmp_path, bad + ["Joie/Fort/01-J-2-1.wav", "__MACOSX/Joie/Fort/._01-J-2-1.wav"], write_wav)
    scan = corpora.scan("cafe", tmp_path)
    assert [it.id for it in scan.items] == ["Joie/Fort/01-J-2-1"]
    why = reasons(scan)
    assert set(why) == {"03-N.wav", "01-X-1-1.wav", "01-C-3-1.wav", "01-J-1-7.wav", "._01-J-2-1.wav"}
    assert "unknown emotion code 'X'" in why["01-X-1-1.wav"]
    assert "unrecognised file name" in why["01-C-3-1.wav"]  # intensity is 1 or 2
    assert "unrecognised file name" in why["01-J-1-7.wav"]  # sentences are 1-6
    assert "macOS" in why["._01-J-2-1.wav"]


def test_info() -> None:
    assert_info_coherent(cafe.INFO, "cafe", 7)
    assert cafe.INFO.expected_files == 12 * (6 * 2 * 6 + 6)
    assert cafe.INFO.language == "fr-CA"
