"""RAVDESS loader: 7-field names, odd actor = male, song files excluded, only one copy of the actor folders read."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import ravdess
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name

SPEECH = [
    "Actor_01/03-01-05-01-02-01-01.wav",  # anger, actor 1 (male)
    "Actor_01/03-01-02-01-01-01-01.wav",  # calm
    "Actor_02/03-01-01-01-01-01-02.wav",  # neutral, actor 2 (female)
    "Actor_02/03-01-07-02-02-02-02.wav",  # disgust
    "Actor_12/03-01-08-02-01-02-12.wav",  # surprise, actor 12 (female)
    "Actor_23/03-01-06-01-01-01-23.wav",  # fear, actor 23 (male)
    "Actor_12/03-01-03-01-01-01-13.wav",  # misfiled: the name says actor 13
]
# A mirror that holds the actor folders a second time.
MIRROR = [
    "Audio_Speech_Actors_01-24/Actor_01/03-01-05-01-02-01-01.wav",
    "Audio_Speech_Actors_01-24/Actor_02/03-01-01-01-01-01-02.wav",
]
SONG = "Actor_01/03-02-03-01-01-01-01.wav"
OTHER = ["Actor_01/03-01-05-01.wav", "Actor_02/03-01-09-01-01-01-02.wav", "Actor_02/01-01-04-01-01-01-02.wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, SPEECH + MIRROR + [SONG] + OTHER, write_wav)
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("ravdess", root)
    rows = by_name(frame)
    assert len(frame) == len(SPEECH)
    assert rows["03-01-05-01-02-01-01"]["label"] == "anger"
    assert rows["03-01-02-01-01-01-01"]["label"] == "calm"
    assert rows["03-01-01-01-01-01-02"]["label"] == "neutral"
    assert rows["03-01-08-02-01-02-12"]["label"] == "surprise"
    assert rows["03-01-05-01-02-01-01"]["speaker"] == "ravdess-01"
    assert rows["03-01-03-01-01-01-13"]["speaker"] == "ravdess-13"  # from the name, not the folder
    assert set(frame["speaker"]) == {"ravdess-01", "ravdess-02", "ravdess-12", "ravdess-13", "ravdess-23"}
    gender = {row["speaker"]: row["gender"] for row in rows.values()}
    assert gender == {"ravdess-01": "m", "ravdess-02": "f", "ravdess-12": "f", "ravdess-13": "m", "ravdess-23": "m"}
    assert_ids_well_formed(frame)


def test_mirrored_actor_folders_are_reported_once(root: Path) -> None:
    scan = corpora.scan("ravdess", root)
    ids = [item.id for item in scan.items]
    assert len(ids) == len(set(ids)) == len(SPEECH)
    assert "Actor_01/03-01-05-01-02-01-01" in ids  # the shallowest copy of the actor folders is read
    outside = {s.path.relative_to(root).as_posix(): s.reason for s in scan.skipped if "outside" in s.reason}
    assert set(outside) == set(MIRROR)
    assert outside[MIRROR[1]] == "ignored: outside the corpus's audio folders (Actor_NN/)"


def test_actor_folders_under_the_zip_folder_are_read(tmp_path: Path, write_wav) -> None:
    build(tmp_path, MIRROR + ["Audio_Speech_Actors_01-24/readme/03-01-05-01-02-01-03.wav"], write_wav)
    scan = corpora.scan("ravdess", tmp_path)
    assert [item.id for item in scan.items] == [name.removesuffix(".wav") for name in MIRROR]
    assert [(s.path.name, s.reason) for s in scan.skipped] == [
        ("03-01-05-01-02-01-03.wav",
         "ignored: outside the corpus's audio folders (Actor_NN/ under Audio_Speech_Actors_01-24/)")]


def test_song_and_unparsable_files_are_skipped_with_reasons(root: Path) -> None:
    scan = corpora.scan("ravdess", root)
    why = {s.path.relative_to(root).as_posix(): s.reason for s in scan.skipped if "outside" not in s.reason}
    assert set(why) == {SONG, *OTHER}
    assert "song" in why[SONG] and "separate set" in why[SONG]
    assert "pattern" in why["Actor_01/03-01-05-01.wav"]
    assert "unknown emotion code '09'" in why["Actor_02/03-01-09-01-01-01-02.wav"]
    assert "not audio-only" in why["Actor_02/01-01-04-01-01-01-02.wav"]


def test_info() -> None:
    info = corpora.info("ravdess")
    assert info is ravdess.INFO
    assert_info_coherent(info, "ravdess", 8)
    assert info.english and info.language == "en"
    assert (info.expected_files, info.expected_speakers) == (1440, 24)
    assert "calm" in info.classes
