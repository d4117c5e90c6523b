"""Emotion information planted in one known state only: the probes must find it there and nowhere else.

The cache has 5 states; state 2 carries a class-dependent mean shift, every other state (the last included) only
noise and speaker offsets. The Multi-Layer head's learned weights must peak at state 2, the layer-wise Linear curve
must peak there (on validation and on test), and a Linear probe on the last state must stay near chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probe.records import read_record
from probe.runner import run_all
from probe.train import TrainConfig
from tests.probe_caches import make_cache, one_thread  # noqa: F401

PLANTED = 2
CHANCE = 25.0  # four balanced classes


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    root = tmp_path_factory.mktemp("planted")
    make_cache(root / "features" / "planted" / "whisper-tiny.h5", n_states=5, dim=16, planted=(PLANTED,),
               shift=1.5, speaker_shift=0.5, per_label=4)
    config = TrainConfig(epochs=15, lr=3e-3)  # a higher rate than the paper's: the point here is the layer
    summary = run_all(root / "features", root / "results", probes="linear,multilayer,layerwise", seeds=2,
                      config=config)
    assert summary.count("trained") == 6 and not summary.issues
    out: dict[str, list[dict]] = {}
    for outcome in summary.outcomes:
        out.setdefault(outcome.spec.probe, []).append(read_record(Path(outcome.spec.path)))
    return out


def test_multilayer_weights_peak_at_the_planted_state(records: dict[str, list[dict]]) -> None:
    for record in records["multilayer"]:
        weights = np.asarray(record["layer_weights"])
        assert weights.shape == (5,) and weights.sum() == pytest.approx(1.0, abs=1e-5)
        assert int(weights.argmax()) == PLANTED
        others = np.delete(weights, PLANTED)
        assert weights[PLANTED] - others.max() > 0.01


def test_layerwise_curve_peaks_at_the_planted_state(records: dict[str, list[dict]]) -> None:
    for record in records["layerwise"]:
        curve = record["layerwise"]
        assert curve["layers"] == [0, 1, 2, 3, 4]
        assert curve["best_layer"] == PLANTED
        assert int(np.argmax(curve["val_macro_f1"])) == PLANTED
        assert int(np.argmax(curve["test_macro_f1"])) == PLANTED
        assert curve["test_macro_f1"][PLANTED] > 80.0
        assert record["metrics"]["test"]["macro_f1"] == curve["test_macro_f1"][PLANTED]


def test_last_state_linear_probe_stays_near_chance(records: dict[str, list[dict]]) -> None:
    scores = [r["metrics"]["test"]["macro_f1"] for r in records["linear"]]
    assert np.mean(scores) < CHANCE + 20.0
    assert all(r["config"]["layer"] == 4 for r in records["linear"])
