"""What the probe heads (:mod:`probe.train.heads`, :mod:`probe.train.frame_heads`) are made of: their interface
(:class:`Head`) and sizes, masked pooling over padded frames, dropout, standardisation and the Multi-Layer mix of
states.

Frame-level inputs come padded, ``(B, T, ...)``, with a boolean ``mask`` ``(B, T)`` that is true on valid frames.
Three of these blocks have a faster CPU path that gives the plain expression's values bit for bit (tested in
``tests/test_head_layers.py`` and ``tests/test_heads.py``, timed by ``benchmarks/head_layers.py``):
:func:`uniform_dropout` builds its mask in the uniform draw's buffer, :class:`Standardize` skips the arithmetic
while it is the identity (the paper preset: raw features), and :func:`mix_states` sums states in cache-sized
chunks.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over time (dim 1) of ``x`` ``(B, T, ...)`` over the frames where ``mask`` ``(B, T)`` is true.

    Padded positions are zeroed before summing (with ``torch.where``, so even NaN or inf there cannot leak).
    """
    if mask is None:
        return x.mean(dim=1)
    shape = mask.shape + (1,) * (x.dim() - 2)
    m = mask.reshape(shape)
    total = torch.where(m, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim=1)
    count = mask.sum(dim=1).clamp(min=1).to(x.dtype).reshape((-1,) + (1,) * (x.dim() - 2))
    return total / count


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over time (dim 1) of ``scores`` ``(B, T)``, zero on padded frames."""
    if mask is None:
        return torch.softmax(scores, dim=1)
    filled = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(filled, dim=1)
    return torch.where(mask, weights, torch.zeros((), dtype=weights.dtype, device=weights.device))


def uniform_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of ``x`` on the CPU from one uniform draw per element (kept where the draw is at least
    ``p``, scaled by ``1 / (1 - p)``). The keep mask is built in the draw's own buffer (compare and scale in
    place), one allocation and two passes fewer than ``x * (rand >= p).to(x.dtype) * scale``, with the same draws
    and the same values bit for bit (tested)."""
    keep = torch.rand(x.shape, dtype=x.dtype).ge_(p).mul_(1.0 / (1.0 - p))
    return x * keep


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with a faster CPU path (:func:`uniform_dropout`; about 3× faster than the built-in
    kernel there), the same on other devices. Deterministic under :func:`torch.manual_seed`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        return uniform_dropout(x, self.p)


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature (and per state for ``shape == (L, d)``); identity until set."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("inv_std", torch.ones(shape))

    def set(self, mean: torch.Tensor, std: torch.Tensor, floor: float = 1e-5) -> None:
        """Use these statistics (``std`` below ``floor`` is raised to it, so constant features stay finite)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=self.mean.dtype).reshape(self.mean.shape))
        std = torch.as_tensor(std, dtype=self.inv_std.dtype).reshape(self.inv_std.shape)
        self.inv_std.copy_(1.0 / std.clamp(min=floor))

    def is_identity(self) -> bool:
        """True while the statistics are those of no standardisation: every mean +0.0 (sign bit clear) and every
        inverse standard deviation 1 (read from the buffers, so a loaded state dict counts)."""
        mean, inv_std = self.mean, self.inv_std
        return bool(mean.eq(0).all()) and not bool(mean.signbit().any()) and bool(inv_std.eq(1).all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_identity():  # (x - 0) * 1 is x in the promoted dtype, bit for bit: one conversion, no arithmetic
            return x.to(torch.promote_types(x.dtype, self.mean.dtype))
        return (x - self.mean) * self.inv_std


MIX_CHUNK_BYTES = 4 * 2**20
"""Float32 bytes of frames per step of :func:`mix_states` on CPU (keeps the temporaries in cache)."""


class _MixStates(torch.autograd.Function):
    """``out[n, d] = Σ_l x[n, l, d] · scale[l, d]`` on CPU in chunks of frames; the gradient of ``scale`` is
    computed the same way, without a float32 copy of ``x``."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-2], x.shape[-1])
        rows = max(1, MIX_CHUNK_BYTES // (flat.shape[1] * flat.shape[2] * 4))
        out = torch.empty(flat.shape[0], flat.shape[2], dtype=scale.dtype)
        for i in range(0, flat.shape[0], rows):
            torch.sum(flat[i : i + rows] * scale, dim=1, out=out[i : i + rows])
        ctx.save_for_backward(x, scale)
        return out.reshape(x.shape[:-2] + (x.shape[-1],))

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, scale = ctx.saved_tensors  # type: ignore[attr-defined]
        flat = x.reshape(-1, x.shape[-2], x.shape[-1])
        g = grad.reshape(-1, 1, grad.shape[-1])
        grad_x = grad_scale = None
        if ctx.needs_input_grad[0]:  # type: ignore[attr-defined]
            grad_x = (g * scale).to(x.dtype).reshape(x.shape)
        if ctx.needs_input_grad[1]:  # type: ignore[attr-defined]
            rows = max(1, MIX_CHUNK_BYTES // (flat.shape[1] * flat.shape[2] * 4))
            grad_scale = torch.zeros_like(scale)
            for i in range(0, flat.shape[0], rows):
                grad_scale.add_((g[i : i + rows] * flat[i : i + rows]).sum(dim=0))
        return grad_x, grad_scale


def mix_states(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``Σ_l x[..., l, :] · scale[l]`` for ``x`` ``(..., L, d)`` and ``scale`` ``(L, d)``, in ``scale``'s dtype.

    On CPU it runs in cache-sized chunks (about 4× faster than a plain broadcast-and-sum on large inputs); on
    other devices it is the plain expression.
    """
    if x.device.type != "cpu":
        return (x.to(scale.dtype) * scale).sum(dim=-2)
    return _MixStates.apply(x, scale)


HIDDEN = 256
"""m, the probes' hidden width (the paper's)."""

DROPOUT = 0.1
"""Default dropout of the Non-Linear and Multi-Layer heads' frame-wise layers (the paper preset's)."""

ATTENTION_HIDDEN: tuple[int, int] = (256, 128)
ATTENTION_DROPOUT: tuple[float, float] = (0.3, 0.2)


class Head(nn.Module):
    """Base of every probe head: ``forward(x, mask) -> logits``, ``embed(x, mask) -> φ's input``."""

    name: ClassVar[str]
    frames: ClassVar[bool]
    """True when the head reads frames (padded, with a mask); false when it reads pooled vectors."""
    all_states: ClassVar[bool]
    """True when the head reads every state (``(..., L, d)``); false when only the last one."""

    std: Standardize

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled representation fed to the classifier φ."""
        raise NotImplementedError

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        """φ: logits from :meth:`embed`'s output."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.classify(self.embed(x, mask))

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardise inputs with these (train-split) statistics, shaped like one input vector."""
        self.std.set(mean, std)

    def layer_weights(self) -> list[float] | None:
        """The learned weight of each state (Multi-Layer only)."""
        return None
