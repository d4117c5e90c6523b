"""The heads' fast CPU paths give the plain expressions' values bit for bit: dropout from one uniform draw, and
standardisation while it is the identity."""

from __future__ import annotations

import pytest
import torch

from probe.train.head_layers import Dropout, Standardize, uniform_dropout
from probe.train.heads import build_head
from tests.probe_caches import one_thread  # noqa: F401  (autouse below)


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


def plain_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """The expression :func:`uniform_dropout` replaced."""
    keep = torch.rand(x.shape, dtype=x.dtype) >= p
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


def bits(t: torch.Tensor) -> torch.Tensor:
    """The raw bits of a float tensor (so that -0.0 and +0.0, or two NaNs, are told apart)."""
    return t.contiguous().view({torch.float16: torch.int16, torch.float32: torch.int32, torch.float64: torch.int64}[t.dtype])


@pytest.mark.parametrize("p", [0.1, 0.2, 0.3, 0.5])
def test_uniform_dropout_equals_the_plain_expression_with_its_gradient(p: float) -> None:
    x = torch.relu(torch.randn(7, 33, 64, generator=torch.Generator().manual_seed(1)))
    x[0, 0, :4] = torch.tensor([0.0, -0.0, float("inf"), 1e-42])
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    torch.manual_seed(5)
    fast = uniform_dropout(a, p)
    state = torch.get_rng_state()
    torch.manual_seed(5)
    plain = plain_dropout(b, p)
    assert torch.equal(bits(fast), bits(plain))
    assert torch.equal(torch.get_rng_state(), state)  # the same draws consumed
    g = torch.randn_like(x)
    fast.backward(g)
    plain.backward(g)
    assert a.grad is not None and b.grad is not None and torch.equal(bits(a.grad), bits(b.grad))
    assert 0 < int((fast == 0).sum()) < fast.numel()


def test_dropout_module_uses_the_uniform_draw_in_training_only() -> None:
    drop = Dropout(0.25)
    x = torch.randn(16, 40)
    torch.manual_seed(3)
    y = drop.train()(x)
    torch.manual_seed(3)
    assert torch.equal(bits(y), bits(plain_dropout(x, 0.25)))
    assert drop.eval()(x) is x


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_identity_standardize_equals_the_arithmetic(dtype: torch.dtype) -> None:
    std = Standardize((2, 5))
    x = torch.randn(3, 4, 2, 5, generator=torch.Generator().manual_seed(0)).to(dtype)
    x[0, 0, 0, :4] = torch.tensor([-0.0, 0.0, float("nan"), float("-inf")], dtype=dtype)
    assert std.is_identity()
    fast, plain = std(x), (x - std.mean) * std.inv_std
    assert fast.dtype == plain.dtype == torch.promote_types(dtype, torch.float32)
    assert torch.equal(bits(fast), bits(plain))


def test_standardize_with_statistics_is_not_the_identity() -> None:
    x = torch.randn(6, 3)
    for mean, std in (([0.5, 0.0, 0.0], [1.0, 1.0, 1.0]), ([0.0, 0.0, 0.0], [1.0, 2.0, 1.0]),
                      ([0.0, -0.0, 0.0], [1.0, 1.0, 1.0])):  # -0.0 would turn -0.0 inputs into +0.0
        layer = Standardize((3,))
        layer.set(torch.tensor(mean), torch.tensor(std))
        assert not layer.is_identity()
        assert torch.equal(bits(layer(x)), bits((x - layer.mean) * layer.inv_std))
    loaded = Standardize((3,))
    loaded.load_state_dict(layer.state_dict())  # statistics arriving with a state dict count too
    assert not loaded.is_identity()


def test_a_head_trains_to_the_same_bits_with_the_plain_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two training steps of the Non-Linear head on float16 frames: fast blocks against the plain expressions."""
    import probe.train.head_layers as layers

    x = torch.randn(4, 9, 12, generator=torch.Generator().manual_seed(2)).half()
    mask = torch.arange(9)[None, :] < torch.tensor([9, 4, 7, 1])[:, None]
    y = torch.tensor([0, 1, 2, 1])

    def train() -> list[torch.Tensor]:
        torch.manual_seed(0)
        head = build_head("nonlinear", 1, 12, 3, hidden=16)
        opt = torch.optim.Adam(head.parameters(), lr=1e-2)
        for _ in range(2):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(x, mask), y).backward()
            opt.step()
        return [p.detach().clone() for p in head.parameters()]

    fast = train()
    monkeypatch.setattr(layers, "uniform_dropout", plain_dropout)
    monkeypatch.setattr(layers.Standardize, "is_identity", lambda self: False)
    plain = train()
    assert all(torch.equal(bits(a), bits(b)) for a, b in zip(fast, plain))
