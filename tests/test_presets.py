"""Training presets: the paper's protocol by default, the opt-in standardized preset, overrides recorded, and a run
whose loss turns non-finite stops cleanly without a record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from probe.data.feeds import PooledFeed
from probe.results.records import read_record
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.loop import NonFiniteLossError
from probe.train.presets import PRESETS, PresetError, make_config, preset_label
from tests.probe_caches import make_cache, one_thread  # noqa: F401


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


def test_paper_preset_is_the_papers_protocol_and_the_default() -> None:
    paper = make_config()
    assert paper == TrainConfig()  # the default configuration is the paper preset
    assert (paper.lr, paper.weight_decay, paper.betas, paper.eps, paper.epochs, paper.hidden) == (
        5e-4, 1e-4, (0.9, 0.98), 1e-8, 30, 256)
    assert (paper.batch_size, paper.dropout, paper.standardize, paper.class_weights) == (32, 0.1, False, True)
    assert (paper.scheduler, paper.plateau_patience, paper.plateau_factor, paper.min_lr) == ("plateau", 5, 0.5, 5e-5)
    recorded = paper.as_dict()
    assert recorded["preset"] == "paper" and recorded["overrides"] == []
    assert recorded["loss"] == "weighted_cross_entropy" and recorded["layer_init"] == "uniform"
    assert recorded["pooling"] == "masked_mean"


def test_standardized_preset_and_overrides() -> None:
    std = make_config("standardized")
    assert (std.standardize, std.dropout, std.class_weights, std.scheduler) == (True, 0.2, False, "none")
    assert set(PRESETS["paper"]) == set(PRESETS["standardized"])  # every preset sets every setting
    tuned = make_config("paper", dropout=0.3, lr=None, epochs=30)
    assert tuned.dropout == 0.3 and tuned.lr == 5e-4 and tuned.overrides == ("dropout",)  # equal values are not
    assert preset_label(tuned.preset, tuned.overrides) == "paper + dropout"
    with pytest.raises(PresetError, match="unknown preset"):
        make_config("fast")
    with pytest.raises(PresetError, match="unknown training setting"):
        make_config("paper", learning_rate=1.0)


def test_plateau_scheduler_lowers_the_rate_when_validation_stalls() -> None:
    """With a validation loss that cannot improve (labels are noise), the rate halves after the patience, down to
    the floor of 5e-5."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 1, 4)).astype(np.float32)
    labels = rng.integers(0, 2, 60)
    parts = {"train": np.arange(40), "val": np.arange(40, 50), "test": np.arange(50, 60)}
    result = fit_probe("linear", PooledFeed(x[:, 0]), labels, parts, 2,
                       make_config("paper", device="cpu", epochs=30, lr=1e-2), 0)
    lr = result.curves["lr"]
    assert lr[0] == 1e-2 and min(lr) < 1e-2 and all(b <= a for a, b in zip(lr, lr[1:]))
    constant = fit_probe("linear", PooledFeed(x[:, 0]), labels, parts, 2,
                         make_config("standardized", device="cpu", epochs=5), 0)
    assert constant.curves["lr"] == [5e-4] * 5


def test_non_finite_loss_stops_the_run_with_a_clear_error() -> None:
    x = np.ones((20, 4), dtype=np.float32)
    x[3] = np.inf
    parts = {"train": np.arange(12), "val": np.arange(12, 16), "test": np.arange(16, 20)}
    with pytest.raises(NonFiniteLossError, match="non-finite at epoch 1"):
        fit_probe("linear", PooledFeed(x), np.arange(20) % 2, parts, 2, make_config(device="cpu", epochs=2), 0)


def test_run_all_records_preset_and_overrides(tmp_path: Path) -> None:
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    config = make_config("standardized", device="cpu", epochs=2, batch_size=16)
    summary = run_all(RunJob(features, tmp_path / "results", seeds=1, config=config),
                      RunSelection(probes="linear,multilayer"))
    assert summary.count("trained") == 2
    record = read_record(summary.outcomes[0].spec.path)
    assert record["preset"] == "standardized" and record["overrides"] == ["batch_size", "epochs"]
    assert record["config"]["standardize"] is True and "-standardized-" in summary.outcomes[0].spec.path.parent.name
    assert record["predictions"]["speaker"] and len(record["predictions"]["speaker"]) == len(record["predictions"]["id"])
    assert set(record["split"]["partition"]["test"]) == set(record["predictions"]["speaker"])
    weights = read_record(summary.outcomes[1].spec.path)["layer_weights"]
    assert len(weights) == 2 and abs(sum(weights) - 1) < 1e-6  # states 1..2: eq. 4 leaves state 0 out (issue 19)


def test_layer_logits_start_uniform() -> None:
    from probe.train.heads import build_head

    head = build_head("multilayer", 7, 8, 3)  # states 1..6 (issue 19: the input state is not in eq. 4)
    assert torch.allclose(head.weights(), torch.full((6,), 1 / 6))


def test_a_narrower_cache_cannot_serve_a_wider_class_set(tmp_path: Path) -> None:
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2, attrs={"classes": "4"})
    summary = run_all(RunJob(features, tmp_path / "results", seeds=1, classes="all",
                             config=make_config(device="cpu", epochs=1)), RunSelection(probes="linear"))
    assert summary.count("trained") == 0 and len(summary.issues) == 1
    assert "extracted with classes '4'" in summary.issues[0].reason and "--classes 4" in summary.issues[0].reason
    ok = run_all(RunJob(features, tmp_path / "results", seeds=1, classes="4",
                        config=make_config(device="cpu", epochs=1)), RunSelection(probes="linear"))
    assert ok.count("trained") == 1


def test_class_set_written_by_extraction_is_checked(tmp_path: Path) -> None:
    """Caches record the extraction's class set by name (``class_set``) beside the list of labels kept."""
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2, labels=("anger", "sadness"),
               attrs={"class_set": "anger+sadness", "classes": ["anger", "sadness"]})
    config = make_config(device="cpu", epochs=1)
    wider = run_all(RunJob(features, tmp_path / "r", seeds=1, classes="4", config=config),
                    RunSelection(probes="linear"))
    assert wider.count("trained") == 0 and "missing happiness, neutral" in wider.issues[0].reason
    same = run_all(RunJob(features, tmp_path / "r", seeds=1, classes="anger,sadness", config=config),
                   RunSelection(probes="linear"))
    assert same.count("trained") == 1
    listed = make_cache(tmp_path / "f2" / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2,
                        attrs={"classes": ["anger", "happiness", "neutral", "sadness"]})
    assert listed.is_file()
    assert run_all(RunJob(tmp_path / "f2", tmp_path / "r2", seeds=1, config=config),
                   RunSelection(probes="linear")).count("trained") == 1
