"""Each run meters its training (issue 21): clips, valid frames and steps trained on, the seconds of the steps and
of the waits for data, written to the record with the determinism settings it trained under; ``probe run`` prints
the rates."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from extract.cache import FeatureCache
from extract.determinism import determinism_settings
from probe.data.cache_data import CacheData
from probe.data.feeds import PooledFeed
from probe.train.fit import fit_probe
from probe.train.presets import make_config
from tests.probe_caches import make_cache, parts_and_labels

CONFIG = make_config("paper", device="cpu", epochs=3, batch_size=5)


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cache(tmp_path_factory.mktemp("features") / "synth" / "whisper-tiny.h5", n_states=3, dim=8,
                      per_label=3)


@pytest.mark.parametrize("probe", ["linear", "nonlinear", "multilayer"])
def test_the_meter_counts_every_training_step_clip_and_valid_frame(cache_file: Path, probe: str) -> None:
    with FeatureCache(cache_file) as cache:
        parts, labels = parts_and_labels(cache)
        data = CacheData(cache)
        feed = PooledFeed(data.pooled()[:, -1]) if probe == "linear" else data.frames(probe == "multilayer")
        meter = fit_probe(probe, feed, labels, parts, 4, CONFIG, seed=0).throughput
        lengths = cache.utterances["n_frames"].to_numpy() if "n_frames" in cache.utterances else feed.lengths
    n_train = len(parts["train"])
    assert meter["train_clips"] == CONFIG.epochs * n_train
    assert meter["train_steps"] == CONFIG.epochs * -(-n_train // CONFIG.batch_size)
    if probe == "linear":
        assert meter["train_frames"] is None and meter["frames_per_s"] is None
    else:
        assert meter["train_frames"] == CONFIG.epochs * int(np.asarray(lengths)[parts["train"]].sum())
        assert meter["frames_per_s"] == pytest.approx(meter["train_frames"] / meter["train_seconds"], rel=0.01)
    assert 0 < meter["data_seconds"] < meter["train_seconds"] and 0 < meter["data_share"] < 1


class _SlowFeed:
    """A pooled feed whose every batch takes ``delay`` seconds to arrive (a slow disk, say)."""

    def __init__(self, feed: PooledFeed, delay: float) -> None:
        self.feed, self.delay, self.shape = feed, delay, feed.shape

    def batches(self, rows: np.ndarray, batch_size: int,
                rng: np.random.Generator | None = None) -> Iterator[tuple[np.ndarray, torch.Tensor, None]]:
        for item in self.feed.batches(rows, batch_size, rng):
            if rng is not None:  # training batches only; validation is not metered
                time.sleep(self.delay)
            yield item

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return self.feed.stats(rows)


def test_time_spent_waiting_for_batches_is_the_data_share(cache_file: Path) -> None:
    """A known answer: batches that each take 50 ms to arrive, on a head whose step takes well under a
    millisecond, leave the loop waiting most of its time, and the waits add up to the sleeps."""
    with FeatureCache(cache_file) as cache:
        parts, labels = parts_and_labels(cache)
        fast = PooledFeed(CacheData(cache).pooled()[:, -1])
    quick = fit_probe("linear", fast, labels, parts, 4, CONFIG, seed=0).throughput
    slow = fit_probe("linear", _SlowFeed(fast, 0.05), labels, parts, 4, CONFIG, seed=0)
    meter = slow.throughput
    assert meter["data_seconds"] >= 0.05 * meter["train_steps"]
    assert meter["data_share"] > 0.8 > quick["data_share"]
    assert slow.curves == fit_probe("linear", fast, labels, parts, 4, CONFIG, seed=0).curves  # metering changes nothing


def test_records_carry_the_determinism_trained_under_and_the_meter(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from probe.cli import app

    make_cache(tmp_path / "features" / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    result = CliRunner().invoke(app, ["run", "--all", "--features", str(tmp_path / "features"), "--results",
                                      str(tmp_path / "r"), "--probes", "linear,nonlinear", "--seeds", "0,",
                                      "--epochs", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "frame-level heads (1 run(s)):" in result.output and "frames/s in training" in result.output
    assert "pooled heads (1 run(s)):" in result.output and "waiting for data" in result.output
    records = sorted((tmp_path / "r" / "runs").rglob("seed0.json"))
    assert len(records) == 2
    for path in records:
        record = json.loads(path.read_text())
        # trained on one torch thread (the default cpu_threads), whatever this process runs on
        assert record["determinism"] == {**determinism_settings("cpu"), "cpu_threads": 1}
        assert record["throughput"]["train_clips"] == 2 * record["split"]["n_train"]
        assert (record["throughput"]["train_frames"] is None) == (record["probe"] == "linear")
