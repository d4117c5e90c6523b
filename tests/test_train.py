"""Training and data feeding: determinism, selection on validation only, memory vs streaming, metrics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from extract.cache import FeatureCache
from probe.data.batching import gather_padded, plan_batches
from probe.data.cache_data import CacheData, MemoryFrames
from probe.data.feeds import PooledFeed
from probe.data.stream import StreamFrames
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.heads import PROBES
from probe.train.metrics import classification_metrics
from tests.probe_caches import make_cache, one_thread, parts_and_labels  # noqa: F401

CONFIG = TrainConfig(epochs=4, batch_size=16, device="cpu")


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cache(tmp_path_factory.mktemp("features") / "synth" / "whisper-tiny.h5", n_states=4, dim=8,
                      per_label=3)


@pytest.fixture
def cache(cache_file: Path) -> FeatureCache:
    with FeatureCache(cache_file) as handle:
        yield handle


def feed_for(data: CacheData, probe: str):  # noqa: ANN201 - a Feed
    if probe in ("linear", "layerwise"):
        pooled = data.pooled()
        return PooledFeed(pooled if probe == "layerwise" else pooled[:, -1])
    return data.frames(probe == "multilayer")


@pytest.mark.parametrize("probe", ["linear", "nonlinear", "multilayer", "attention", "layerwise"])
def test_same_seed_same_result(cache: FeatureCache, probe: str) -> None:
    parts, labels = parts_and_labels(cache)
    runs = []
    for _ in range(2):
        data = CacheData(cache)
        runs.append(fit_probe(probe, feed_for(data, probe), labels, parts, 4, CONFIG, 7))
    a, b = runs
    assert np.array_equal(a.test.logits, b.test.logits)
    assert np.array_equal(a.val.logits, b.val.logits)
    assert a.curves == b.curves and a.best_epoch == b.best_epoch
    other = fit_probe(probe, feed_for(CacheData(cache), probe), labels, parts, 4,
                      CONFIG, 8)
    assert not np.array_equal(a.test.logits, other.test.logits)


def test_selection_never_looks_at_test_labels(cache: FeatureCache) -> None:
    parts, labels = parts_and_labels(cache)
    scrambled = labels.copy()
    test = parts["test"]
    scrambled[test] = np.random.default_rng(0).permutation(4)[labels[test]]
    data = CacheData(cache)
    a = fit_probe("nonlinear", data.frames(False), labels, parts, 4, CONFIG, 0)
    b = fit_probe("nonlinear", data.frames(False), scrambled, parts, 4, CONFIG, 0)
    assert a.best_epoch == b.best_epoch
    assert a.curves == b.curves
    assert np.array_equal(a.test.logits, b.test.logits)


def test_best_epoch_is_the_best_validation_epoch(cache: FeatureCache) -> None:
    parts, labels = parts_and_labels(cache)
    result = fit_probe("linear", feed_for(CacheData(cache), "linear"), labels, parts, 4,
                       TrainConfig(epochs=6, batch_size=16), 0)
    f1 = result.curves["val_macro_f1"]
    assert len(f1) == 6 and result.curves["epoch"] == [1, 2, 3, 4, 5, 6]
    assert f1[result.best_epoch[0] - 1] == max(f1)
    restored = classification_metrics(labels[parts["val"]], result.val.pred()[:, 0], list("abcd"))
    assert restored["macro_f1"] == pytest.approx(max(f1))


def test_layerwise_keeps_a_best_epoch_per_state(cache: FeatureCache) -> None:
    parts, labels = parts_and_labels(cache)
    result = fit_probe("layerwise", feed_for(CacheData(cache), "layerwise"), labels, parts, 4, CONFIG, 0)
    assert len(result.best_epoch) == cache.n_states
    assert result.val.logits.shape == (len(parts["val"]), cache.n_states, 4)
    for layer, epoch in enumerate(result.best_epoch):
        per_epoch = [row[layer] for row in result.curves["val_macro_f1"]]
        assert per_epoch[epoch - 1] == max(per_epoch)


def test_plan_batches_covers_every_row_once() -> None:
    rows = np.arange(3, 40)
    lengths = np.random.default_rng(0).integers(1, 50, 40)
    batches = plan_batches(rows, lengths, 5, np.random.default_rng(1), bucket=2)
    assert sorted(np.concatenate(batches).tolist()) == rows.tolist()
    assert all(len(b) <= 5 for b in batches)
    ordered = np.concatenate(plan_batches(rows, lengths, 5))
    assert np.all(np.diff(lengths[ordered]) >= 0)


def test_gather_padded_zero_pads_and_masks() -> None:
    data = np.arange(1, 1 + 10 * 2 * 3, dtype=np.float16).reshape(10, 2, 3)
    x, mask = gather_padded(data, np.array([6, 0]), np.array([2, 4]), squeeze=False)
    assert x.shape == (2, 4, 2, 3) and mask.tolist() == [[True, True, False, False], [True] * 4]
    assert torch.equal(x[0, :2], torch.from_numpy(data[6:8]))
    assert torch.all(x[0, 2:] == 0)
    assert torch.equal(x[1], torch.from_numpy(data[0:4]))


def test_streaming_gives_the_same_frames_and_statistics(cache: FeatureCache) -> None:
    rows = np.arange(5, len(cache) - 3)
    everything = list(range(cache.n_states))
    memory = CacheData(cache)
    memory.prepare(frames_last=True, frames_all=True)
    in_memory = memory.frames(True)
    assert isinstance(in_memory, MemoryFrames)
    streamed = StreamFrames(cache, everything, prefetch=2)

    def by_row(source: MemoryFrames | StreamFrames, rng: np.random.Generator | None) -> dict[int, torch.Tensor]:
        out = {}
        for batch, x, mask in source.batches(rows, 7, rng):
            for i, row in enumerate(batch):
                out[int(row)] = x[i, : int(mask[i].sum())]
        return out

    a, b = by_row(in_memory, None), by_row(streamed, np.random.default_rng(0))
    assert sorted(a) == sorted(b) == rows.tolist()
    assert all(torch.equal(a[r], b[r]) for r in rows)
    (mean_a, std_a), (mean_b, std_b) = in_memory.stats(rows), streamed.stats(rows)
    assert torch.equal(mean_a, mean_b) and torch.equal(std_a, std_b)  # same chunks, same sums: bit-identical
    frames = np.concatenate([cache.frames_block(int(r), int(r) + 1) for r in rows]).astype(np.float64)
    assert np.allclose(in_memory.stats(rows)[0].numpy(), frames.mean(0), atol=1e-4)
    assert np.allclose(in_memory.stats(rows)[1].numpy(), frames.std(0), atol=1e-4)


@pytest.mark.parametrize("preset", ["paper", "standardized"])
@pytest.mark.parametrize("probe", ["nonlinear", "multilayer"])
def test_memory_budget_never_changes_the_predictions(cache: FeatureCache, probe: str, preset: str) -> None:
    """A cache held in memory and the same cache streamed give bit-identical training and predictions."""
    from probe.train.presets import make_config

    parts, labels = parts_and_labels(cache)
    config = make_config(preset, device="cpu", epochs=3, batch_size=5)
    runs = []
    states = list(range(cache.n_states)) if PROBES[probe].all_states else [cache.n_states - 1]
    for budget in (None, cache.nbytes(states) - 1):  # just under the frames' size: streamed (one block)
        data = CacheData(cache, memory_budget=budget)
        feed = data.frames(PROBES[probe].all_states)
        assert feed.mode == ("memory" if budget is None else "stream")
        runs.append(fit_probe(probe, feed, labels, parts, 4, config, 7))
    held, streamed = runs
    assert held.curves == streamed.curves
    assert np.array_equal(held.test.logits, streamed.test.logits)
    assert np.array_equal(held.val.logits, streamed.val.logits)


def test_torch_gather_equals_numpy_gather(cache: FeatureCache) -> None:
    """The gather used for frames held on a GPU gives the NumPy gather's values and mask (checked on CPU)."""
    from probe.data.batching import gather_padded_torch

    data = CacheData(cache)._load(list(range(cache.n_states)))
    offsets = cache.utterances["offset"].to_numpy()[[4, 0, 9]]
    lengths = cache.utterances["n_frames"].to_numpy()[[4, 0, 9]]
    for squeeze, array in ((False, data), (True, data[:, -1:])):
        x_np, m_np = gather_padded(array, offsets, lengths, squeeze)
        x_t, m_t = gather_padded_torch(torch.from_numpy(np.ascontiguousarray(array)), offsets, lengths, squeeze)
        assert torch.equal(x_np, x_t) and torch.equal(m_np, m_t)


def test_last_state_is_shared_with_all_states_and_budget_forces_streaming(cache: FeatureCache) -> None:
    data = CacheData(cache)
    data.prepare(frames_last=True, frames_all=True)
    last, every = data.frames(False), data.frames(True)
    assert isinstance(last, MemoryFrames) and np.shares_memory(last.data, every.data)
    assert np.array_equal(last.data[:, 0], cache.layer(-1))
    tight = CacheData(cache, memory_budget=cache.nbytes([-1]) - 1)
    tight.prepare(frames_last=True, frames_all=True)
    assert tight.frames(False).mode == tight.frames(True).mode == "stream"
    parts, labels = parts_and_labels(cache)
    blocks = replace(CONFIG, block_bytes=cache.nbytes() // 16)  # two blocks of all states fit the budget
    result = fit_probe("multilayer", tight.frames(True), labels, parts, 4, blocks, 0)
    assert result.test.logits.shape == (len(parts["test"]), 1, 4)


def test_standardization_uses_train_statistics(cache: FeatureCache) -> None:
    parts, labels = parts_and_labels(cache)
    pooled = cache.pooled()[:, -1]
    result = fit_probe("linear", PooledFeed(pooled), labels, parts, 4,
                       TrainConfig(epochs=1, standardize=True), 0)
    train = pooled[parts["train"]].astype(np.float64)
    assert np.allclose(result.head.std.mean.numpy(), train.mean(0), atol=1e-5)
    assert np.allclose(1.0 / result.head.std.inv_std.numpy(), train.std(0), atol=1e-5)
    raw = fit_probe("linear", PooledFeed(pooled), labels, parts, 4,
                    TrainConfig(epochs=1, standardize=False), 0)
    assert torch.all(raw.head.std.mean == 0) and raw.standardization == {"applied": False}


def test_plain_cross_entropy_option_trains(cache: FeatureCache) -> None:
    parts, labels = parts_and_labels(cache)
    result = fit_probe("linear", PooledFeed(cache.pooled()[:, -1]), labels, parts, 4,
                       TrainConfig(epochs=2, class_weights=False, scheduler="none"), 0)
    assert np.isfinite(result.curves["train_loss"]).all()
    assert result.curves["lr"] == [5e-4, 5e-4]


def test_metrics_by_hand() -> None:
    classes = ["anger", "neutral", "sadness"]
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    m = classification_metrics(y_true, y_pred, classes)
    f1_anger = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    assert m["per_class_f1"] == {"anger": pytest.approx(100 * f1_anger, abs=1e-3),
                                 "neutral": pytest.approx(100 * f1_anger, abs=1e-3), "sadness": None}
    assert m["macro_f1"] == pytest.approx(100 * f1_anger, abs=1e-3)
    assert m["uar"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert m["accuracy"] == pytest.approx(100 * 4 / 6, abs=1e-3)
    assert m["confusion"] == [[2, 1, 0], [1, 2, 0], [0, 0, 0]]


def test_selection_macro_f1_is_the_metric_to_the_last_bit() -> None:
    """The epoch selection's macro-F1 (no scikit-learn input checks) equals probe.train.metrics.macro_f1 exactly."""
    from probe.train.metrics import macro_f1
    from probe.train.metrics import selection_macro_f1

    rng = np.random.default_rng(0)
    for trial in range(300):
        n, k = int(rng.integers(1, 60)), int(rng.integers(2, 8))
        y_true = rng.integers(0, k, n)
        y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, k + (trial % 3), n))  # some absent classes
        assert selection_macro_f1(y_true, y_pred) == macro_f1(y_true, y_pred), (y_true, y_pred)
    assert selection_macro_f1(np.array([], dtype=int), np.array([], dtype=int)) == 0.0
