"""Layer weights that mean something (issue 19): the layer-wise curve is the Linear probe on each state alone; the
Multi-Layer head's own layer learning rate, its movement bound and the uniform-by-construction flag."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from extract.cache import FeatureCache
from probe.data.cache_data import CacheData
from probe.train.heads import MultiLayerHead
from probe.train.optim import (
    LogitBound, adam_step_factor, build_optimizers, max_weight, normalized_entropy, uniform_by_construction,
)
from probe.data.feeds import PooledFeed
from probe.train.fit import fit_probe
from probe.train.presets import make_config
from tests.probe_caches import make_cache, one_thread, parts_and_labels  # noqa: F401

PAPER = make_config("paper", device="cpu")


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cache(tmp_path_factory.mktemp("lw") / "synth" / "whisper-tiny.h5", n_states=4, dim=8,
                      per_label=3, planted=(1,), speaker_shift=0.3)


@pytest.mark.parametrize("config", [replace(PAPER, epochs=12, plateau_patience=1),
                                    replace(make_config("standardized", device="cpu"), epochs=6)],
                         ids=["paper-plateau", "standardized"])
def test_layerwise_curve_equals_the_linear_probe_on_each_state_alone(cache_file: Path, config) -> None:
    """Bit for bit: same logits, same best epoch, same learning-rate schedule per state (patience 1 makes every
    state's plateau scheduler fire at its own epochs)."""
    with FeatureCache(cache_file) as cache:
        parts, labels = parts_and_labels(cache)
        pooled = CacheData(cache).pooled()
        n = cache.n_states
    curve = fit_probe("layerwise", PooledFeed(pooled), labels, parts, 4, config, 3)
    lrs = np.asarray(curve.curves["lr"])
    for layer in range(n):
        alone = fit_probe("linear", PooledFeed(pooled[:, layer]), labels, parts, 4, config, 3)
        assert np.array_equal(curve.test.logits[:, layer], alone.test.logits[:, 0])
        assert np.array_equal(curve.val.logits[:, layer], alone.val.logits[:, 0])
        assert curve.best_epoch[layer] == alone.best_epoch[0]
        assert lrs[:, layer].tolist() == alone.curves["lr"]
    if config.scheduler == "plateau":
        assert len({tuple(lrs[:, layer]) for layer in range(n)}) > 1  # the states' schedules really differ


def test_adam_step_factor_bounds_any_gradient_sequence() -> None:
    """Simulation: Adam (the paper's betas) on one parameter with adversarial and random gradients never moves it
    further than the bound, and a growing gradient sequence comes within 25% of it."""
    betas = (0.9, 0.98)
    assert adam_step_factor(1, betas) == pytest.approx(1.0)
    assert max(adam_step_factor(t, betas) for t in range(1, 2000)) < 1.70
    rng = np.random.default_rng(0)
    worst = 0.0
    for trial in range(20):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.Adam([p], lr=1e-2, betas=betas, eps=1e-8)
        bound = LogitBound(betas)
        for t in range(200):
            grad = (1.0 / betas[1]) ** (t / 2) if trial == 0 else rng.standard_normal() * rng.choice([1e-3, 1, 1e3])
            p.grad = torch.tensor([grad], dtype=torch.float32)
            bound.step(1e-2)
            opt.step()
            assert abs(float(p.detach())) <= bound.bound * (1 + 1e-5)
        worst = max(worst, abs(float(p.detach())) / bound.bound)
    assert worst > 0.75  # within 25% of the bound (a constant gradient moves exactly lr per step, 59%)


def test_flag_and_entropy() -> None:
    assert max_weight(0.0, 9) == pytest.approx(1 / 9)
    assert uniform_by_construction(0.2, 9) and not uniform_by_construction(5.0, 9)
    assert normalized_entropy([0.25] * 4) == pytest.approx(1.0)
    assert normalized_entropy([1.0, 0.0, 0.0]) == 0.0
    # the flag's edge: exactly where the largest possible weight reaches twice 1/n
    edge = 0.5 * math.log(2 * 8 / (9 - 2))
    assert max_weight(edge, 9) == pytest.approx(2 / 9)


def test_layer_lr_is_a_group_of_its_own_and_the_plateau_keeps_the_ratio() -> None:
    head = MultiLayerHead(5, 8, 4)
    config = make_config("paper", layer_lr=0.05)
    optim = build_optimizers(head, config)
    (opt,) = optim.optimizers
    assert [g["lr"] for g in opt.param_groups] == [5e-4, 0.05]
    assert opt.param_groups[1]["weight_decay"] == 0.0 and opt.param_groups[1]["params"] == [head.layer_logits]
    for _ in range(40):  # a validation loss that never improves: the plateau scheduler floors both groups
        optim.schedule([1.0])
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([5e-5, 5e-3])
    single = build_optimizers(head, make_config("paper"))
    assert len(single.optimizers[0].param_groups) == 1 and single.logit_lr() == 5e-4


def test_the_paper_mix_leaves_out_the_input_state() -> None:
    torch.manual_seed(0)
    head = MultiLayerHead(5, 8, 4)
    assert head.weight_states() == [1, 2, 3, 4] and len(head.layer_weights()) == 4
    x = torch.randn(2, 3, 5, 8)
    changed = x.clone()
    changed[:, :, 0] += 100.0
    assert torch.equal(head.mix(x), head.mix(changed))  # state 0 has no say
    full = MultiLayerHead(5, 8, 4, include_input_state=True)
    assert full.weight_states() == [0, 1, 2, 3, 4]
    assert not torch.equal(full.mix(x), full.mix(changed))
    assert make_config("paper").include_input_state is False
    assert make_config("paper", include_input_state=True).overrides == ("include_input_state",)


def _layerwise_record(rng: np.random.Generator, seed: int, accuracies: list[float]) -> dict:
    """A layer-wise record of 20 test speakers × 8 clips whose layer l is right with probability accuracies[l]."""
    from probe.train.metrics import macro_f1

    classes = ["a", "b", "c", "d"]
    speakers = [f"s{i:02d}" for i in range(20) for _ in range(8)]
    true = rng.integers(0, 4, len(speakers))
    preds = [np.where(rng.random(len(true)) < acc, true, rng.integers(0, 4, len(true))) for acc in accuracies]
    return {"classes": classes, "seed": seed, "fold": 0,
            "predictions": {"id": [f"u{i}" for i in range(len(true))], "speaker": speakers,
                            "true": [classes[i] for i in true], "pred": [classes[i] for i in preds[0]]},
            "layerwise": {"layers": list(range(len(accuracies))),
                          "test_macro_f1": [macro_f1(true, p) for p in preds],
                          "test_pred": [p.tolist() for p in preds]}}


def test_best_layer_set_keeps_the_layers_the_data_cannot_tell_apart() -> None:
    """Simulation: two layers as good as each other (80% and 78% right), three far worse: the set is the two."""
    from probe.results.bestlayers import best_layer_set, best_layers_text

    rng = np.random.default_rng(0)
    records = [_layerwise_record(rng, seed, [0.2, 0.3, 0.8, 0.78, 0.4]) for seed in range(3)]
    found = best_layer_set(records, n_resamples=300)
    assert found is not None and found["best"] == 2
    assert found["layers"] == [2, 3] and best_layers_text(found) == "2;3"
    assert np.isnan(found["p_holm"][2]) and found["p_holm"][0] < 0.05
    assert best_layer_set([dict(records[0], layerwise=dict(records[0]["layerwise"], test_pred=None))]) is None
