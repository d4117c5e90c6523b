"""Probe heads: masked pooling never sees padding, Linear frame-wise == pooled, the Multi-Layer mix, registry."""

from __future__ import annotations

import pytest
import torch

from probe.train.head_layers import Dropout, masked_mean, masked_softmax, mix_states
from probe.train.heads import (
    DEFAULT_PROBES, PROBES, AttentionHead, LayerwiseLinearHead, LinearHead, MultiLayerHead, NonLinearHead, build_head,
    parse_probes,
)
from tests.probe_caches import one_thread  # noqa: F401  (autouse below)

L, D, K = 4, 6, 3
LENGTHS = [7, 3, 5, 1]


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


def padded(n_states: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frames ``(B, T, [L,] d)`` for :data:`LENGTHS` and their mask; padded positions hold garbage."""
    g = torch.Generator().manual_seed(seed)
    shape = (len(LENGTHS), max(LENGTHS)) + ((n_states,) if n_states else ()) + (D,)
    x = torch.randn(shape, generator=g)
    mask = torch.arange(max(LENGTHS))[None, :] < torch.tensor(LENGTHS)[:, None]
    return x, mask


def with_padding(x: torch.Tensor, mask: torch.Tensor, value: float) -> torch.Tensor:
    """``x`` with every padded position set to ``value``."""
    m = mask.reshape(mask.shape + (1,) * (x.dim() - 2))
    return torch.where(m, x, torch.full_like(x, value))


def frame_head(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    head = build_head(name, L, D, K)
    head.set_standardization(torch.randn(head.std.mean.shape), torch.rand(head.std.mean.shape) + 0.5)
    return head.eval()


FRAME_HEADS = ["linear", "nonlinear", "multilayer", "attention"]


def test_masked_mean_ignores_padding_values_even_nan() -> None:
    x, mask = padded(None)
    expected = torch.stack([x[i, :n].mean(0) for i, n in enumerate(LENGTHS)])
    for value in (0.0, 1e6, float("nan"), float("inf")):
        assert torch.allclose(masked_mean(with_padding(x, mask, value), mask), expected, atol=1e-6)


def test_masked_softmax_is_zero_on_padding_and_sums_to_one() -> None:
    scores = torch.randn(len(LENGTHS), max(LENGTHS))
    _, mask = padded(None)
    weights = masked_softmax(scores, mask)
    assert torch.all(weights[~mask] == 0)
    assert torch.allclose(weights.sum(1), torch.ones(len(LENGTHS)))


@pytest.mark.parametrize("name", FRAME_HEADS)
@pytest.mark.parametrize("value", [0.0, -3e4, float("nan")])
def test_padded_values_change_nothing(name: str, value: float) -> None:
    head = frame_head(name)
    x, mask = padded(L if PROBES[name].all_states else None)
    with torch.no_grad():
        reference = head(x, mask)
        changed = head(with_padding(x, mask, value), mask)
    assert torch.isfinite(changed).all()
    assert torch.allclose(reference, changed, atol=1e-5)


@pytest.mark.parametrize("name", FRAME_HEADS)
def test_padded_batch_equals_each_utterance_alone(name: str) -> None:
    head = frame_head(name)
    x, mask = padded(L if PROBES[name].all_states else None)
    with torch.no_grad():
        batch = head(x, mask)
        alone = torch.cat([head(x[i : i + 1, :n]) for i, n in enumerate(LENGTHS)])
    assert torch.allclose(batch, alone, atol=1e-5)


def test_linear_probe_framewise_equals_pooled() -> None:
    head = frame_head("linear")
    x, mask = padded(None, seed=3)
    pooled = torch.stack([x[i, :n].mean(0) for i, n in enumerate(LENGTHS)])
    with torch.no_grad():
        framewise = head(x, mask)
        on_pooled = head(pooled)
    assert framewise.shape == on_pooled.shape == (len(LENGTHS), K)
    assert torch.allclose(framewise, on_pooled, atol=1e-5)
    assert torch.allclose(head.embed(x, mask), head.embed(pooled), atol=1e-5)


def test_layerwise_head_is_one_linear_probe_per_state() -> None:
    """Each state's probe is the Linear probe that the same seed builds alone (issue 19: trained as if alone)."""
    torch.manual_seed(0)
    head = LayerwiseLinearHead(L, D, K).eval()
    pooled = torch.randn(5, L, D)
    logits = head(pooled)
    assert logits.shape == (5, L, K)
    for layer in range(L):
        torch.manual_seed(0)
        single = LinearHead(D, K).eval()
        assert torch.equal(single(pooled[:, layer]), logits[:, layer])


@pytest.mark.parametrize("include_input_state", [False, True])
def test_multilayer_mix_matches_the_direct_form_with_gradients(include_input_state: bool) -> None:
    torch.manual_seed(0)
    head = build_head("multilayer", L, D, K, include_input_state=include_input_state)
    head.set_standardization(torch.randn(head.std.mean.shape), torch.rand(head.std.mean.shape) + 0.5)
    with torch.no_grad():
        head.layer_logits.copy_(torch.randn(head.layer_logits.shape))
    x, _ = padded(L)
    x16 = x.half()
    w = head.weights()
    if not include_input_state:  # the paper's eq. 4: state 0 is not mixed
        w = torch.cat([torch.zeros(1), w])
    direct = torch.einsum("btld,l->btd", head.std(x16.float()), w)
    mixed = head.mix(x16)
    assert mixed.dtype == torch.float32
    assert torch.allclose(mixed, direct, atol=1e-4)
    (grad_fast,) = torch.autograd.grad(mixed.square().sum(), head.layer_logits)
    (grad_ref,) = torch.autograd.grad(direct.square().sum(), head.layer_logits)
    assert torch.allclose(grad_fast, grad_ref, rtol=1e-3, atol=1e-3)


def test_mix_states_gradient_wrt_input() -> None:
    x = torch.randn(2, 3, L, D, dtype=torch.float64, requires_grad=True)
    scale = torch.randn(L, D, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mix_states, (x, scale))


def test_multilayer_weights_are_a_distribution() -> None:
    head = MultiLayerHead(L, D, K)
    weights = head.layer_weights()
    assert len(weights) == L - 1  # states 1..L-1: the paper's eq. 4 leaves the input state out (issue 19)
    assert sum(weights) == pytest.approx(1.0)
    assert all(0.0 <= w <= 1.0 for w in weights)
    assert NonLinearHead(D, K).layer_weights() is None


def test_attention_weights_ignore_padding() -> None:
    head = frame_head("attention")
    x, mask = padded(None)
    alpha = head.attention(x, mask)
    assert torch.all(alpha[~mask] == 0)
    assert torch.allclose(alpha.sum(1), torch.ones(len(LENGTHS)))


def test_attention_head_shapes_follow_the_paper() -> None:
    head = AttentionHead(D, K)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    drops = [m.p for m in head.mlp if isinstance(m, torch.nn.Dropout)]
    assert [(m.in_features, m.out_features) for m in linears] == [(D, 256), (256, 128)]
    assert drops == [0.3, 0.2]
    assert head.phi.in_features == 128 and head.phi.out_features == K


def test_dropout_identity_in_eval_and_unbiased_in_training() -> None:
    drop = Dropout(0.25)
    x = torch.ones(200, 500)
    assert torch.equal(drop.eval()(x), x)
    torch.manual_seed(0)
    y = drop.train()(x)
    assert set(torch.unique(y).tolist()) <= {0.0, torch.tensor(1.0 / 0.75).item()}
    assert y.mean().item() == pytest.approx(1.0, abs=0.02)
    assert (y == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)


def test_registry_and_probe_sets() -> None:
    frozen = ("linear", "nonlinear", "multilayer", "attention", "layerwise")
    assert set(PROBES) == set(frozen) | {"ast", "ast-small", "cnn", "logreg", "svm"}  # + baselines (probe.train.baselines)
    assert parse_probes(None) == DEFAULT_PROBES == ("linear", "nonlinear", "multilayer")
    assert parse_probes("all") == frozen  # baselines run only when named
    assert parse_probes("multilayer, linear") == ("linear", "multilayer")
    with pytest.raises(ValueError, match="unknown probe"):
        parse_probes("linear,mlp")
    for name in frozen:
        head = build_head(name, L, D, K)
        assert head.name == name
