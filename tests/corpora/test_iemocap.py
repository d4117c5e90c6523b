"""IEMOCAP loader: labels from EmoEvaluation files, exc -> happiness, speaker from the utterance's last field."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import CorpusError, iemocap
from tests.corpora._parse_helpers import (
    assert_ids_well_formed,
    assert_info_coherent,
    build,
    by_name,
    reasons,
    write_text,
)

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def evaluation(*turns: tuple[str, str]) -> str:
    """An EmoEvaluation file in the official format: a header, then one block per turn."""
    blocks = []
    for i, (utt, emo) in enumerate(turns):
        blocks.append(
            f"[{6.29 + 3 * i:.4f} - {8.24 + 3 * i:.4f}]\t{utt}\t{emo}\t[2.5000, 2.5000, 2.5000]\n"
            f"C-E2:\tNeutral;\t()\nC-E3:\tFrustration;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n"
        )
    return HEADER + "".join(blocks)


LABELS = {
    "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt": [
        ("Ses01F_impro01_F000", "neu"),
        ("Ses01F_impro01_M001", "exc"),
        ("Ses01F_impro01_F002", "fru"),
        ("Ses01F_impro01_M003", "xxx"),
        ("Ses01F_impro01_F004", "hap"),
    ],
    "Session1/dialog/EmoEvaluation/Ses01F_script01_1.txt": [("Ses01F_script01_1_M000", "sur")],
    "Session2/dialog/EmoEvaluation/Ses02M_impro04.txt": [
        ("Ses02M_impro04_F001", "ang"),
        ("Ses02M_impro04_M002", "sad"),
        ("Ses02M_impro04_F003", "oth"),
    ],
}
WAV = "Session{n}/sentences/wav/{dialog}/{utt}.wav"


def wav(utt: str) -> str:
    """The official path of an utterance's audio."""
    return WAV.format(n=int(utt[3:5]), dialog=utt.rsplit("_", 1)[0], utt=utt)


UTTERANCES = [utt for turns in LABELS.values() for utt, _ in turns]
UNLABELLED = "Ses02M_impro04_M004"


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, [wav(utt) for utt in UTTERANCES + [UNLABELLED]], write_wav)
    build(tmp_path, ["Session1/dialog/wav/Ses01F_impro01.wav"], write_wav)  # a whole dialog, not an utterance
    for path, turns in LABELS.items():
        write_text(tmp_path / path, evaluation(*turns))
    # Per-evaluator files one level down are not the majority labels and must not be read.
    write_text(
        tmp_path / "Session1/dialog/EmoEvaluation/Categorical/Ses01F_impro01_e2_cat.txt",
        evaluation(("Ses01F_impro01_F000", "ang")),
    )
    write_text(tmp_path / "Session2/sentences/wav/Ses02M_impro04/._Ses02M_impro04_F001.wav", "\x00\x05\x16\x07")
    return tmp_path


def test_labels_from_emo_evaluation(root: Path) -> None:
    frame = corpora.load("iemocap", root)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "Ses01F_impro01_F000": "neutral",
        "Ses01F_impro01_M001": "happiness",  # exc merged into happiness
        "Ses01F_impro01_F004": "happiness",
        "Ses01F_script01_1_M000": "surprise",
        "Ses02M_impro04_F001": "anger",
        "Ses02M_impro04_M002": "sadness",
    }
    assert rows["Ses01F_impro01_F000"]["id"] == "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000"
    assert_ids_well_formed(frame)


def test_speaker_is_session_plus_the_utterance_letter(root: Path) -> None:
    rows = by_name(corpora.load("iemocap", root))
    assert rows["Ses01F_impro01_M001"]["speaker"] == "iemocap-Ses01M"  # not the dialog's F
    assert rows["Ses01F_script01_1_M000"]["speaker"] == "iemocap-Ses01M"
    assert rows["Ses02M_impro04_F001"]["speaker"] == "iemocap-Ses02F"  # not the dialog's M
    assert rows["Ses01F_impro01_F000"]["speaker"] == "iemocap-Ses01F"
    assert rows["Ses02M_impro04_F001"]["gender"] == "f" and rows["Ses02M_impro04_M002"]["gender"] == "m"


def test_four_class_set(root: Path) -> None:
    frame = corpora.load("iemocap", root, classes="4")
    assert len(frame) == 5
    assert set(frame["label"]) == {"anger", "happiness", "neutral", "sadness"}


def test_skipped_utterances_have_reasons(root: Path) -> None:
    why = reasons(corpora.scan("iemocap", root))
    assert set(why) == {
        "Ses01F_impro01_F002.wav",
        "Ses01F_impro01_M003.wav",
        "Ses02M_impro04_F003.wav",
        f"{UNLABELLED}.wav",
        "._Ses02M_impro04_F001.wav",
        "Ses01F_impro01.wav",
    }  # the whole-dialog recording is not an utterance: never read, but named
    assert why["Ses01F_impro01.wav"].startswith("ignored: not an utterance clip")
    assert "'fru' (frustration) has no canonical label" in why["Ses01F_impro01_F002.wav"]
    assert "'xxx'" in why["Ses01F_impro01_M003.wav"] and "'oth'" in why["Ses02M_impro04_F003.wav"]
    assert "no label line" in why[f"{UNLABELLED}.wav"]
    assert "macOS" in why["._Ses02M_impro04_F001.wav"]


def test_root_without_sessions_is_an_error(tmp_path: Path, write_wav) -> None:
    build(tmp_path, ["IEMOCAP_full_release/" + wav("Ses01F_impro01_F000")], write_wav)
    with pytest.raises(CorpusError, match="IEMOCAP_full_release"):
        corpora.scan("iemocap", tmp_path)


def test_info() -> None:
    info = corpora.info("iemocap")
    assert info is iemocap.INFO
    assert_info_coherent(info, "iemocap", 7)
    assert info.english and info.access == "request"
    assert info.labels["exc"] == info.labels["hap"] == "happiness"
    assert not {"fru", "oth", "xxx"} & set(info.labels)
    four = sum(info.expected_per_label[c] for c in ("anger", "happiness", "neutral", "sadness"))
    assert four == 5531 and info.expected_speakers == 10
