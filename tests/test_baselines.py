"""Baselines: a tiny AST and CNN trained from scratch learn a pattern planted in log-mel frames; the runner trains
them (and the scikit-learn references) with their own recorded settings, only on caches they fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from extract.cache import FeatureCache
from probe.data.cache_data import CacheData
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.run.splits import holdout_split
from probe.train.baselines import C_GRID, fit_baseline
from probe.train.heads import parse_probes
from probe.train.metrics import macro_f1
from probe.train.presets import make_config
from probe.train.scratch_heads import ASTSize, CNNSize, SpectrogramInput
from tests.probe_caches import make_cache

LOGMEL = {"family": "spectrogram", "pretraining": "none", "languages": "none", "weights": "none",
          "frame_rate": 100.0}


def _logmel_cache(path: Path, seed: int = 0) -> Path:
    return make_cache(path, model="logmel-128", n_states=1, dim=64, frames=(40, 80), planted=(0,), shift=1.2,
                      per_label=5, seed=seed, attrs=LOGMEL)


def _parts(cache: FeatureCache, seed: int = 0) -> dict[str, np.ndarray]:
    table = cache.utterances[["id", "label", "speaker", "gender"]]
    masks = holdout_split(table, seed=seed).masks(table["id"].tolist(), 0)
    return {p: np.flatnonzero(masks[p]) for p in ("train", "val", "test")}


@pytest.mark.parametrize("probe, size", [("ast-small", ASTSize(layers=1, hidden=32, heads=2, intermediate=64)),
                                         ("cnn", CNNSize(channels=(8, 16, 16, 16, 16), fc=64, dropout=0.1))])
def test_tiny_scratch_models_learn_a_planted_pattern(tmp_path: Path, probe: str, size: object) -> None:
    torch.set_num_threads(1)
    with FeatureCache(_logmel_cache(tmp_path / "synth" / "logmel-128.h5")) as cache:
        data = CacheData(cache)
        labels = cache.utterances["label"].astype("category").cat.codes.to_numpy(np.int64)
        parts = _parts(cache)
        config = make_config("paper", device="cpu", epochs=12, lr=1e-3, batch_size=16)
        result, extra = fit_baseline(probe, data.frames(False), labels, parts, 4, config, seed=0, size=size)
        score = macro_f1(labels[parts["test"]], result.test.pred()[:, 0])
        assert score > 0.6, f"{probe}: test macro-F1 {score:.2f} on a planted pattern (chance 0.25)"
        lengths = cache.utterances["n_frames"].to_numpy()
        assert extra["input"]["target_frames"] == lengths.max() and extra["input"]["n_clips_cut"] == 0
        train_frames = np.concatenate([cache.frames(int(i), 0) for i in parts["train"]]).astype(np.float64)
        assert extra["input"]["normalisation_mean"] == pytest.approx(train_frames.mean(), abs=1e-4)
        assert extra["input"]["normalisation_std"] == pytest.approx(train_frames.std(), rel=1e-4)


def test_spectrogram_input_cuts_pads_normalises_and_masks_only_in_training() -> None:
    layer = SpectrogramInput(n_mels=20, target_frames=30, freqm=6, timem=10)
    layer.set(mean=1.0, std=0.5)
    x = torch.full((2, 40, 20), 2.0)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 25:] = False
    layer.eval()
    out = layer(x, mask)
    assert out.shape == (2, 30, 20)
    assert torch.all(out[0] == 1.0) and torch.all(out[1, :25] == 1.0) and torch.all(out[1, 25:] == 0.0)
    layer.train()
    torch.manual_seed(3)
    masked = layer(x, mask)
    assert (masked == 0).any() and torch.equal(masked != 0, masked.bool())
    torch.manual_seed(3)
    assert torch.equal(layer(x, mask), masked)  # the masks come from torch's seeded generator


def test_runner_trains_baselines_with_recorded_settings_only_where_they_fit(tmp_path: Path) -> None:
    features, results = tmp_path / "features", tmp_path / "results"
    _logmel_cache(features / "synth" / "logmel-128.h5")
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=2, dim=16, planted=(1,))
    assert "ast" not in parse_probes("all") and parse_probes("ast,cnn") == ("ast", "cnn")
    config = make_config("paper", device="cpu", epochs=2)
    summary = run_all(RunJob(features, results, seeds="0,", config=config),
                      RunSelection(probes="ast-small,logreg,svm"))
    done = {(o.spec.model, o.spec.probe): o for o in summary.outcomes}
    assert all(o.status == "trained" for o in done.values()), [o.message for o in done.values()]
    assert set(done) == {("logmel-128", "ast-small"), ("logmel-128", "logreg"), ("logmel-128", "svm"),
                         ("whisper-tiny", "logreg"), ("whisper-tiny", "svm")}
    record = json.loads(done[("logmel-128", "ast-small")].spec.path.read_text())
    cfg = record["config"]
    assert cfg["baseline"] == "trained from scratch" and cfg["epochs"] == 2  # the user's explicit epochs win
    assert (cfg["lr"], cfg["batch_size"], cfg["betas"], cfg["weight_decay"]) == (2.5e-4, 128, [0.95, 0.999], 5e-7)
    assert cfg["input_handling"]["freqm"] == 24 and cfg["input_handling"]["timem"] == 96
    assert cfg["model"]["num_hidden_layers"] == 2 and cfg["model"]["hidden_size"] == 64
    assert cfg["model"]["patch_size"] == 16 and cfg["model"]["time_stride"] == 10
    assert cfg["input"]["target_frames"] == cfg["model"]["max_length"]
    svm = json.loads(done[("whisper-tiny", "svm")].spec.path.read_text())
    assert svm["config"]["C"] in C_GRID and len(svm["config"]["val_macro_f1_by_C"]) == len(C_GRID)
    assert svm["metrics"]["test"]["macro_f1"] > 60  # the planted state is the last one: linear is enough
    alone = run_all(RunJob(features, results, seeds="0,", config=config), RunSelection(models=["whisper-tiny"],
                    probes="cnn"))
    assert not alone.outcomes and "needs a logmel-128 cache" in alone.issues[0].reason


def test_report_shows_runner_baselines_as_extra_columns(tmp_path: Path) -> None:
    from probe.report import write_report

    features, results = tmp_path / "features", tmp_path / "results"
    _logmel_cache(features / "synth" / "logmel-128.h5")
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=2, dim=16, planted=(1,))
    config = make_config("paper", device="cpu", epochs=1)
    run_all(RunJob(features, results, seeds="0,", config=config), RunSelection(probes="linear,logreg"))
    write_report(results, tmp_path / "report", best_run_figures=False, formats="png")
    table = (tmp_path / "report" / "tables" / "corpus_by_backbone.md").read_text()
    header = next(line for line in table.splitlines() if line.startswith("| Corpus"))
    assert "whisper-tiny" in header and "logmel-128 + LogReg" in header and "logmel-128 + Linear" in header
    assert "*Trained from scratch*" in table
    own = pd.read_csv(tmp_path / "report" / "tables" / "baselines.csv")
    assert set(own["baseline"]) == {"logmel-128 + Linear", "logmel-128 + LogReg"}
