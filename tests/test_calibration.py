"""Calibration of the paired test and interval by simulation at the users' settings (``benchmarks/calibration.py``):
3 seeds, the splits ``probe run`` deals (k-fold, leave-one-speaker-out, for the ≤ 12-speaker corpora that
``--protocol auto`` sends there; holdout above and for the paper's protocol), record-level predictions with
speaker, speaker × configuration and seed effects."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("calibration", Path(__file__).resolve().parents[1] / "benchmarks" /
                                              "calibration.py")
calibration = importlib.util.module_from_spec(SPEC)
sys.modules.setdefault("calibration", calibration)  # dataclasses look their module up there
SPEC.loader.exec_module(calibration)

SETTINGS = [(4, "kfold"), (6, "kfold"), (6, "holdout"), (10, "kfold"), (24, "holdout")]


@pytest.fixture(scope="module")
def table() -> list[dict]:
    return [calibration.calibrate(n, protocol, draws=200, truth_draws=1000) for n, protocol in SETTINGS]


@pytest.mark.slow
def test_false_positive_rate_holds_alpha(table: list[dict]) -> None:
    for row in table:
        assert 0.0 <= row["false_positive_rate"] <= 0.08, row
        assert row["draws"] >= 200


def test_intervals_cover_a_known_difference(table: list[dict]) -> None:
    covered = sum(row["coverage"] * row["draws"] for row in table) / sum(row["draws"] for row in table)
    assert 0.92 <= covered <= 0.98, table
    for row in table:  # per setting, within sampling error of 200 draws (±0.03 is two standard errors)
        assert 0.90 <= row["coverage"] <= 0.99, row
        assert row["true_difference"] > 5  # the planted effect is a real macro-F1 difference


def test_three_test_speakers_can_never_be_significant(table: list[dict]) -> None:
    holdout = next(r for r in table if r["speakers"] == 6 and r["protocol"] == "holdout")
    assert holdout["tested"] == 3 and holdout["p_min"] == pytest.approx(0.25)
    assert holdout["false_positive_rate"] == 0.0
    kfold = next(r for r in table if r["speakers"] == 10)
    assert kfold["tested"] == 10 and kfold["p_min"] == pytest.approx(2 / 2**10)
