"""DEMoS loader: DEMOS/{PR|NP}_{f|m}_SS_eeeNNv.wav and NEU/{f|m}_SS_neuNNv.wav, gender from the f/m letter."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract import corpora
from extract.corpora import demos
from tests.corpora._parse_helpers import assert_ids_well_formed, assert_info_coherent, build, by_name, reasons

GOOD = [
    "DEMOS/PR_f_01_rab01a.wav",
    "DEMOS/NP_f_01_tri12b.wav",
    "DEMOS/NP_m_02_col03b.wav",
    "DEMOS/PR_m_02_gio07c.wav",
    "DEMOS/NP_m_35_pau02a.wav",
    "DEMOS/PR_f_60_dis10a.wav",
    "DEMOS/NP_m_69_sor01a.wav",
    "NEU/f_01_neu01a.wav",
    "NEU/m_69_neu02b.wav",
]
BAD = ["DEMOS/PR_m_10_xyz01a.wav", "DEMOS/PR_x_01_rab01a.wav", "DEMOS/PR_f_01_rab.wav", "NEU/readme.wav"]


@pytest.fixture
def root(tmp_path: Path, write_wav) -> Path:
    build(tmp_path, GOOD + BAD, write_wav, rates=(44100, 48000))
    return tmp_path


def test_labels_speakers_gender(root: Path) -> None:
    frame = corpora.load("demos", root)
    assert len(frame) == len(GOOD)
    rows = by_name(frame)
    assert {name: row["label"] for name, row in rows.items()} == {
        "PR_f_01_rab01a": "anger",
        "NP_f_01_tri12b": "sadness",
        "NP_m_02_col03b": "guilt",
        "PR_m_02_gio07c": "happiness",
        "NP_m_35_pau02a": "fear",
        "PR_f_60_dis10a": "disgust",
        "NP_m_69_sor01a": "surprise",
        "f_01_neu01a": "neutral",
        "m_69_neu02b": "neutral",
    }
    assert rows["f_01_neu01a"]["speaker"] == rows["PR_f_01_rab01a"]["speaker"] == "demos-01"  # NEU joins DEMOS
    assert rows["m_69_neu02b"]["speaker"] == "demos-69"
    assert {row["speaker"]: row["gender"] for row in rows.values()} == {
        "demos-01": "f",
        "demos-02": "m",
        "demos-35": "m",
        "demos-60": "f",
        "demos-69": "m",
    }
    assert rows["f_01_neu01a"]["id"] == "NEU/f_01_neu01a"
    assert_ids_well_formed(frame)


def test_skipped(root: Path) -> None:
    why = reasons(corpora.scan("demos", root))
    assert set(why) == {"PR_m_10_xyz01a.wav", "PR_x_01_rab01a.wav", "PR_f_01_rab.wav", "readme.wav"}
    assert "unknown emotion code 'xyz'" in why["PR_m_10_xyz01a.wav"]
    assert "unrecognised file name" in why["PR_x_01_rab01a.wav"]


def test_four_class_selection(root: Path) -> None:
    frame = corpora.load("demos", root, classes="4")
    assert sorted(frame["label"].unique()) == ["anger", "happiness", "neutral", "sadness"]


def test_info() -> None:
    assert_info_coherent(demos.INFO, "demos", 8)
    assert demos.INFO.expected_per_label["neutral"] == 332
    assert demos.INFO.access == "restricted"
