"""Leaderboard interval columns: speaker-clustered CIs per configuration row, written to and read from the CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from probe.commands.leaderboard_table import leaderboard_table
from probe.results.leaderboard import LEADERBOARD_COLUMNS, build_leaderboard, write_leaderboard
from probe.results.uncertainty import interval_of_records
from tests.records_factory import make_record, write_record


def test_rows_carry_intervals_of_their_own_configuration(tmp_path: Path) -> None:
    paper = [make_record("cafe", "whisper-small", "linear", seed=s, n_speakers=5, skill=0.7) for s in range(3)]
    standard = [make_record("cafe", "whisper-small", "linear", seed=s, n_speakers=5, skill=0.7,
                            preset="standardized") for s in range(2)]
    board = build_leaderboard(paper + standard)
    for column in ("macro_f1_ci_low", "macro_f1_ci_high", "uar_ci_low", "accuracy_ci_high", "n_test_speakers",
                   "n_test_clips", "ci_cluster"):
        assert column in LEADERBOARD_COLUMNS and column in board.columns
    assert len(board) == 2
    row = board[board["preset"] == "paper"].iloc[0]
    expected = interval_of_records(paper, "macro_f1")
    assert row["macro_f1_ci_low"] == round(expected["ci_low"], 4)
    assert row["macro_f1_ci_high"] == round(expected["ci_high"], 4)
    assert row["n_test_speakers"] == 5 and row["n_test_clips"] == 60 and row["ci_cluster"] == "speaker"
    other = board[board["preset"] == "standardized"].iloc[0]
    assert other["macro_f1_ci_low"] == round(interval_of_records(standard)["ci_low"], 4)  # never pooled with paper
    for metric in ("macro_f1", "uar", "accuracy"):
        assert row[f"{metric}_ci_low"] < row[f"{metric}_ci_high"]

    for record in paper:
        write_record(tmp_path, record)
    _, written = write_leaderboard(tmp_path)
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert np.isclose(csv["macro_f1_ci_low"].iloc[0], written["macro_f1_ci_low"].iloc[0])
    rendered = leaderboard_table(written)
    assert "95% CI" in [c.header for c in rendered.columns]


def test_records_without_predictions_leave_the_interval_empty() -> None:
    record = make_record("aesdd", "wav2vec2-base", "linear")
    record["predictions"] = {}
    row = build_leaderboard([record]).iloc[0]
    assert np.isnan(row["macro_f1_ci_low"]) and row["ci_cluster"] == ""
