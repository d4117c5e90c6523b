"""The frame-level probe heads: Non-Linear, Multi-Layer and attention pooling (see :mod:`probe.train.heads` for the
table of every head). They read padded frames ``(B, T, d)`` or ``(B, T, L, d)`` with a mask, float16 or float32.

Two exact rewrites keep them fast on CPU: ℓ1 of the Non-Linear body is linear, so it is applied after the masked
mean (the same function, a third fewer frame-wise operations); the Multi-Layer head folds standardisation into its
state weights and mixes states in cache-sized chunks (:func:`probe.train.head_layers.mix_states`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from probe.train.head_layers import (
    ATTENTION_DROPOUT, ATTENTION_HIDDEN, DROPOUT, HIDDEN, Dropout, Head, Standardize, masked_mean, masked_softmax,
    mix_states,
)


class _NonLinearBody(nn.Module):
    """Frame-wise MLP, ℓ1, masked mean, ℓ2 + ReLU: ``(B, T, d)`` → ``(B, m)``.

    ℓ1 is linear, so mean(ℓ1(h)) = ℓ1(mean(h)): it is applied after the mean, which gives the same function with a
    third fewer frame-wise operations.
    """

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.frame = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), Dropout(dropout),
        )
        self.l1 = nn.Linear(hidden, hidden)
        self.l2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        return F.relu(self.l2(self.l1(masked_mean(self.frame(x), mask))))


class NonLinearHead(Head):
    """The paper's Non-Linear probe on one state's frames ``(B, T, d)``."""

    name = "nonlinear"
    frames = True
    all_states = False

    def __init__(self, dim: int, n_classes: int, hidden: int = HIDDEN, dropout: float = DROPOUT) -> None:
        super().__init__()
        self.std = Standardize((dim,))
        self.body = _NonLinearBody(dim, hidden, dropout)
        self.phi = nn.Linear(hidden, n_classes)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.std(x), mask)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(z)


class MultiLayerHead(Head):
    """Softmax-weighted sum of the states' frames ``(B, T, L+1, d)``, then the Non-Linear head.

    The paper's eq. 4 sums the transformer blocks' outputs, states 1..L: by default state 0 (the input to the first
    block) gets no logit and weight 0 (``include_input_state=True`` mixes all L+1 states).
    """

    name = "multilayer"
    frames = True
    all_states = True

    def __init__(
        self, n_states: int, dim: int, n_classes: int, hidden: int = HIDDEN, dropout: float = DROPOUT,
        include_input_state: bool = False,
    ) -> None:
        super().__init__()
        self.first_state = 0 if include_input_state or n_states < 2 else 1
        self.std = Standardize((n_states, dim))
        self.layer_logits = nn.Parameter(torch.zeros(n_states - self.first_state))
        self.body = _NonLinearBody(dim, hidden, dropout)
        self.phi = nn.Linear(hidden, n_classes)

    def weights(self) -> torch.Tensor:
        """w = softmax(layer logits): one weight per mixed state (:meth:`weight_states`), in [0, 1], summing to 1."""
        return torch.softmax(self.layer_logits, dim=0)

    def weight_states(self) -> list[int]:
        """The state index of each weight (1..L by default, 0..L with the input state)."""
        return list(range(self.first_state, self.first_state + self.layer_logits.numel()))

    def mix(self, x: torch.Tensor) -> torch.Tensor:
        """h*_t = Σ_l w_l std_l(h^l_t) for frames ``(B, T, L+1, d)`` (float16 or float32) → ``(B, T, d)`` float32.

        Standardisation is folded into the weights, Σ_l (w_l / σ_l) h^l - Σ_l w_l μ_l / σ_l, so no standardised
        (or float32) copy of the large input is made; see :func:`mix_states`. A state left out of the mix gets
        scale 0 (the frames are not copied to drop it).
        """
        w = self.weights()
        if self.first_state:
            w = torch.cat([w.new_zeros(self.first_state), w])
        scale = w.unsqueeze(1) * self.std.inv_std
        return mix_states(x, scale) - (scale * self.std.mean).sum(dim=0)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.mix(x), mask)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(z)

    def layer_weights(self) -> list[float]:
        return [float(w) for w in self.weights().detach().cpu()]


class AttentionHead(Head):
    """Attention pooling over one state's frames, then an MLP d→256→128→k (dropout 0.3, 0.2)."""

    name = "attention"
    frames = True
    all_states = False

    def __init__(
        self,
        dim: int,
        n_classes: int,
        hidden: tuple[int, int] = ATTENTION_HIDDEN,
        dropout: tuple[float, float] = ATTENTION_DROPOUT,
    ) -> None:
        super().__init__()
        self.std = Standardize((dim,))
        self.score = nn.Linear(dim, 1)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden[0]), nn.ReLU(), Dropout(dropout[0]),
            nn.Linear(hidden[0], hidden[1]), nn.ReLU(), Dropout(dropout[1]),
        )
        self.phi = nn.Linear(hidden[1], n_classes)

    def attention(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Weights ``(B, T)`` over valid frames (zero on padding, summing to 1)."""
        return masked_softmax(torch.tanh(self.score(self.std(x))).squeeze(-1), mask)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.std(x)
        alpha = masked_softmax(torch.tanh(self.score(h)).squeeze(-1), mask)
        if mask is not None:  # 0 * inf would be NaN: clear padded frames, not just their weights
            h = torch.where(mask.unsqueeze(-1), h, torch.zeros((), dtype=h.dtype, device=h.device))
        return self.mlp(torch.einsum("bt,btd->bd", alpha, h))

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(z)
