"""The scanning loop shared by every loader: ids of damaged names, duplicates, known-broken names, notes."""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

import pytest

from extract.corpora._scan import Fields, Unusable, match, scan_files
from extract.corpora.base import CorpusInfo, utterance_id
from tests.corpora._parse_helpers import build, reasons

INFO = CorpusInfo(
    key="toy",
    name="Toy corpus",
    language="en",
    labels={"a": "anger", "s": "sadness"},
    expected_files=None,
    expected_speakers=None,
    access="open",
    url="",
    notes="for the tests of the shared scan",
)

NAME = re.compile(r"(?P<code>[a-z])(?P<spk>\d{2})(?P<copy>[xy]?)")


def parse(uid: str) -> Fields:
    """``<code><speaker>`` file names, e.g. ``a01``; the recording key ignores a trailing copy letter."""
    found = match(NAME, uid, "'<code><SS>'")
    return Fields(code=found["code"], speaker=found["spk"], recording=found["code"] + found["spk"])


def test_utterance_id_of_a_raw_byte_folder_name_is_valid_utf8() -> None:
    root = Path("/corpus")
    # A folder name in an old DOS code page (cp850 'Dégoût'), beside one stored decomposed.
    path = Path(os.fsdecode(b"/corpus/D\x82go\x96t/" + unicodedata.normalize("NFD", "Colère").encode() + b"/x.wav"))
    uid = utterance_id(path, root)
    assert uid == "D\\x82go\\x96t/Colère/x"
    assert uid == unicodedata.normalize("NFC", uid)
    uid.encode("utf-8")  # no surrogates left


def test_utterance_id_of_a_plain_name_is_unchanged() -> None:
    assert utterance_id(Path("/c/Joie/Fort/01-J-2-1.WAV"), Path("/c")) == "Joie/Fort/01-J-2-1"


def test_raw_byte_folder_on_disk(tmp_path: Path, write_wav) -> None:
    build(tmp_path, [b"D\x82go\x96t/a01.wav"], write_wav)
    scan = scan_files(tmp_path, INFO, parse)
    assert [(it.id, it.label, it.speaker) for it in scan.items] == [("D\\x82go\\x96t/a01", "anger", "toy-01")]
    assert os.path.isfile(scan.items[0].path)


def test_duplicates_broken_names_and_reasons_as_written(tmp_path: Path, write_wav) -> None:
    build(tmp_path, ["a/a01.wav", "a/a01.aiff", "b/a01y.wav", "s02.wav", "S03.WAV", "q04.wav"], write_wav)

    def strict(uid: str) -> Fields:
        if uid.endswith("q04"):
            raise Unusable("exactly this reason")
        return parse(uid)

    scan = scan_files(tmp_path, INFO, strict, broken={"s03": "known-broken: silent"})
    assert [it.id for it in scan.items] == ["a/a01", "s02"]
    why = {s.path.relative_to(tmp_path).as_posix(): s.reason for s in scan.skipped}
    assert why["a/a01.wav"] == "duplicate of a/a01: the same recording in another format (.aiff is used)"
    assert why["b/a01y.wav"].startswith("duplicate of 'a/a01'")  # the same recording key
    assert why["S03.WAV"] == "known-broken: silent"  # matched case-insensitively
    assert why["q04.wav"] == "exactly this reason"
    assert reasons(scan).keys() == {"a01.wav", "a01y.wav", "S03.WAV", "q04.wav"}


def test_unknown_code_and_notes_are_reported(tmp_path: Path, write_wav, caplog: pytest.LogCaptureFixture) -> None:
    build(tmp_path, ["z01.wav", "a01.wav"], write_wav)
    with caplog.at_level(logging.WARNING, logger="extract.corpora.toy"):
        scan = scan_files(tmp_path, INFO, parse, notes=["metadata table missing"])
    assert scan.notes == ["metadata table missing"]
    assert "metadata table missing" in caplog.text
    assert reasons(scan) == {"z01.wav": "unknown emotion code 'z' (known: a, s)"}
