"""Per-layer bootstrap bands from real layer-wise runs (``layerwise.test_pred``), error bars, weight spread."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probe.report.build import write_report
from probe.report.interval_figures import layer_weight_spread, layerwise_intervals
from probe.report.load import load_runs
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.config import TrainConfig
from tests.probe_caches import make_cache, one_thread  # noqa: F401
from tests.records_factory import make_record, peak_weights, write_record


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Torch on one thread."""


def test_layerwise_runs_record_per_layer_predictions_and_get_bands(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=3, planted=(1,),
               shift=3.0)
    results = tmp_path / "results"
    run_all(RunJob(tmp_path / "features", results, seeds=1, protocol="kfold", folds=4,
                   config=TrainConfig(epochs=3, batch_size=16)), RunSelection(probes="layerwise"))
    runs = load_runs(results).runs
    assert len(runs) == 4
    for run in runs:
        lw, classes = run.data["layerwise"], run.data["classes"]
        n_test = len(run.data["predictions"]["true"])
        assert len(lw["test_pred"]) == 3 and all(len(p) == n_test for p in lw["test_pred"])
        assert [classes[i] for i in lw["test_pred"][lw["best_layer"]]] == run.data["predictions"]["pred"]
    frame = layerwise_intervals(runs, n_resamples=300)
    assert (frame["band"] == "bootstrap").all() and len(frame) == 3
    assert (frame["ci_low"] <= frame["mean"]).all() and (frame["mean"] <= frame["ci_high"]).all()
    # the pooled mean over folds equals the mean of the recorded per-layer test macro-F1
    recorded = np.mean([r.data["layerwise"]["test_macro_f1"] for r in runs], axis=0)
    assert frame["mean"].to_numpy() == pytest.approx(recorded, abs=1e-3)  # records round to 4 decimals
    assert frame["p_vs_final"].isna().tolist() == [False, False, True]

    summary = write_report(results, tmp_path / "out", formats="png", best_run_figures=False, protocol="kfold")
    names = {f.name for f in summary.figures}
    assert {"layerwise_intervals.png", "corpus_bars.png"} <= names
    assert (tmp_path / "out" / "tables" / "layerwise_intervals.csv").is_file()
    assert "layer comparisons) in" in summary.report.read_text()


def test_weight_spread_is_the_std_over_seeds(tmp_path: Path) -> None:
    weights = {s: peak_weights(13, 0.5, noise=0.5, seed=s) for s in range(3)}
    for corpus in ("cafe", "aesdd"):
        for seed, w in weights.items():
            write_record(tmp_path, make_record(corpus, "wav2vec2-base", "multilayer", seed, layer_weights=w),
                         embeddings=False)
    spread = layer_weight_spread(load_runs(tmp_path).runs)
    assert spread.shape == (1, 13)
    assert spread.loc["wav2vec2-base"].to_numpy() == pytest.approx(np.std(list(weights.values()), axis=0, ddof=1))
