"""``--protocol auto`` (issue 20): leave-one-speaker-out k-fold for corpora of at most 12 speakers, holdout above;
the leaderboard says how many of the corpus's speakers were tested."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from probe.cli import app
from probe.results.records import iter_records
from probe.run.splits import resolve_protocol
from tests.probe_caches import make_cache


def test_resolve_protocol() -> None:
    assert resolve_protocol("auto", 6) == "kfold" and resolve_protocol("auto", 12) == "kfold"
    assert resolve_protocol("auto", 13) == "holdout" and resolve_protocol("holdout", 6) == "holdout"


def test_auto_tests_every_speaker_of_a_small_corpus(tmp_path: Path) -> None:
    features, results = tmp_path / "features", tmp_path / "results"
    make_cache(features / "small" / "whisper-tiny.h5", corpus="small", n_speakers=5, per_label=2, n_states=2, dim=6,
               planted=(1,))
    make_cache(features / "large" / "whisper-tiny.h5", corpus="large", n_speakers=13, per_label=1, n_states=2,
               dim=6, planted=(1,))
    out = CliRunner().invoke(app, ["run", "--features", str(features), "--results", str(results), "--probes",
                                   "linear", "--seeds", "2", "--protocol", "auto", "--epochs", "2"])
    assert out.exit_code == 0, out.output
    protocols = {(r["corpus"], r["protocol"]) for _, r in iter_records(results)}
    assert protocols == {("small", "kfold"), ("large", "holdout")}
    board = pd.read_csv(results / "leaderboard.csv").set_index("corpus")
    assert board.loc["small", "speakers_tested"] == 5 and board.loc["small", "speakers_total"] == 5
    assert board.loc["small", "n_runs"] == 10  # 5 folds × 2 seeds
    assert board.loc["large", "speakers_total"] == 13 and 2 <= board.loc["large", "speakers_tested"] <= 4
