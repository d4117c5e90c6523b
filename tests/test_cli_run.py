"""`probe run` and `probe leaderboard` through typer's CliRunner, on tiny caches."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.results.leaderboard import LEADERBOARD_COLUMNS
from probe.results.records import read_record
from tests.probe_caches import make_cache

runner = CliRunner()
FAST = ["--epochs", "2", "--threads", "1"]


@pytest.fixture
def features(tmp_path: Path) -> Path:
    root = tmp_path / "features"
    make_cache(root / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    make_cache(root / "synth" / "wav2vec2-base.h5", model="wav2vec2-base", n_states=4, dim=6, per_label=2, seed=1)
    make_cache(root / "tess" / "whisper-tiny.h5", corpus="tess", n_speakers=2, n_states=3, dim=8, per_label=2)
    return root


def invoke(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_run_all_then_leaderboard(features: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    result = invoke("run", "--all", "--features", features, "--results", results, "--seeds", "2", *FAST)
    assert result.exit_code == 0, result.output
    assert "tess" in result.output and "speaker" in result.output  # two speakers: reported and skipped
    assert "leaderboard:" in result.output and "trained 12" in result.output
    runs = sorted(results.glob("runs/*/*/*/holdout-all-paper-*/seed*.json"))
    assert len(runs) == 2 * 3 * 2
    assert {read_record(p)["model"] for p in runs} == {"whisper-tiny", "wav2vec2-base"}
    board = pd.read_csv(results / "leaderboard.csv")
    assert list(board.columns) == list(LEADERBOARD_COLUMNS)
    assert len(board) == 6 and set(board["n_runs"]) == {2}

    again = invoke("run", "--all", "--features", features, "--results", results, "--seeds", "2", *FAST)
    assert again.exit_code == 0 and "trained 0, already recorded 12" in again.output

    shown = invoke("leaderboard", "--results", results, "--sort", "macro_f1_mean", "--probe", "multilayer")
    assert shown.exit_code == 0, shown.output
    assert "multil" in shown.output and "2 row(s)" in shown.output
    assert invoke("leaderboard", "--results", results, "--sort", "nope").exit_code == 2
    assert invoke("leaderboard", "--results", results, "--corpus", "absent").exit_code == 2


def test_selection_kfold_and_class_subset(features: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    result = invoke("run", "--features", features, "--results", results, "--corpus", "synth", "--model",
                    "whisper-tiny", "--probes", "linear", "--seeds", "1", "--protocol", "kfold", "--folds", "3",
                    "--classes", "anger,sadness", *FAST)
    assert result.exit_code == 0, result.output
    folders = list((results / "runs" / "synth" / "whisper-tiny" / "linear").glob("kfold-anger+sadness-paper-*"))
    assert len(folders) == 1
    runs = sorted(folders[0].glob("*.json"))
    assert [p.name for p in runs] == ["seed0-fold0.json", "seed0-fold1.json", "seed0-fold2.json"]
    record = read_record(runs[0])
    assert record["classes"] == ["anger", "sadness"] and record["n_folds"] == 3
    assert record["split"]["n_train"] + record["split"]["n_val"] + record["split"]["n_test"] == 32


def test_clear_errors(tmp_path: Path, features: Path) -> None:
    empty = invoke("run", "--all", "--features", tmp_path / "nothing", "--results", tmp_path / "r")
    assert empty.exit_code == 2
    assert "nothing" in empty.output and "probe extract" in empty.output
    assert invoke("run", "--features", features, "--probes", "linear,mlp").exit_code == 2
    assert invoke("run", "--features", features, "--protocol", "loso").exit_code == 2
    assert invoke("run", "--features", features, "--classes", "joy,anger").exit_code == 2
    assert invoke("run", "--all", "--corpus", "synth", "--features", features).exit_code == 2
    bad_seeds = invoke("run", "--features", features, "--seeds", "0")
    assert bad_seeds.exit_code == 2 and "0," in bad_seeds.output
    none = invoke("leaderboard", "--results", tmp_path / "no-results")
    assert none.exit_code == 2 and "probe run" in none.output
