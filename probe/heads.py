"""Probe heads (the paper's definitions, m = 256) and their registry.

Every head maps features to class logits and exposes :meth:`Head.embed`, the pooled representation that its
final classifier φ reads (the run record's embeddings). Frame-level inputs come padded, ``(B, T, d)`` or
``(B, T, L, d)``, with a boolean ``mask`` ``(B, T)`` that is true on valid frames: pooling (mean or attention)
only ever sees valid frames, whatever the padded positions hold.

=============  ==============================  ================================================================
name           input                           head
=============  ==============================  ================================================================
linear         pooled last state ``(B, d)``    φ(ρ(ℓ1(h^L))), ℓ1: d→m, φ: m→k, no activation; also accepts
                                               frames ``(B, T, d)`` + mask (ℓ1 frame-wise, then masked mean)
nonlinear      frames, last state              frame-wise [d→m, ReLU, Dropout, m→m, ReLU, Dropout], ℓ1: m→m,
                                               masked mean, ℓ2: m→m, ReLU, φ: m→k
multilayer     frames, all L+1 states          h*_t = Σ_l w_l h^l_t over states 1..L (0..L on request),
                                               w = softmax(logits), then Non-Linear
attention      frames, last state              α = masked softmax_t(tanh(W h_t + b)), Σ α_t h_t, then MLP
                                               d→256→128→k with dropout 0.3 and 0.2
layerwise      pooled, all states ``(B,L,d)``  one Linear probe per state, each trained as if alone; logits
                                               ``(B, L, k)``, the best state is chosen on validation
=============  ==============================  ================================================================

Each head starts with a :class:`Standardize` step whose statistics (train split only) are set by
:meth:`Head.set_standardization`; until then it is the identity. Frames may come as float16 (the cache's storage
type): standardisation, and the Multi-Layer mix, compute in float32.

Two exact rewrites keep the frame-level heads fast on CPU: ℓ1 of the Non-Linear body is linear, so it is applied
after the masked mean (the same function, a third fewer frame-wise operations); the Multi-Layer head folds
standardisation into its state weights and mixes states in cache-sized chunks (:func:`mix_states`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

HIDDEN = 256
"""m, the probes' hidden width (the paper's)."""

DROPOUT = 0.1
"""Default dropout of the Non-Linear and Multi-Layer heads' frame-wise layers (the paper preset's)."""

ATTENTION_HIDDEN: tuple[int, int] = (256, 128)
ATTENTION_DROPOUT: tuple[float, float] = (0.3, 0.2)


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


class Dropout(nn.Dropout):
    """:class:`torch.nn.Dropout` with a faster CPU path (a uniform draw compared with ``p``; about 3× faster than
    the built-in kernel there), the same on other devices. Deterministic under :func:`torch.manual_seed`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, dtype=x.dtype) >= self.p
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.inv_std


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


class LinearHead(Head):
    """φ(ρ(ℓ1(h))): trains on pooled vectors ``(B, d)``; on frames ``(B, T, d)`` + mask it gives the same logits."""

    name = "linear"
    frames = False
    all_states = False

    def __init__(self, dim: int, n_classes: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.std = Standardize((dim,))
        self.l1 = nn.Linear(dim, hidden)
        self.phi = nn.Linear(hidden, n_classes)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        z = self.l1(self.std(x))
        return masked_mean(z, mask) if x.dim() == 3 else z

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(z)


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


class LayerwiseLinearHead(Head):
    """One Linear probe per state: pooled ``(B, L, d)`` → logits ``(B, L, k)``.

    Each state's probe is a :class:`LinearHead` initialised from the same generator state, i.e. exactly as the
    Linear probe on that state alone would be with the same seed, and it computes with the same operations on that
    state's vectors; trained with an optimizer and scheduler of its own (:func:`probe.optim.build_optimizers`),
    each state's probe is the Linear probe on that state alone, bit for bit.
    """

    name = "layerwise"
    frames = False
    all_states = True

    def __init__(self, n_states: int, dim: int, n_classes: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        start = torch.get_rng_state()
        probes = []
        for _ in range(n_states):
            torch.set_rng_state(start)
            probes.append(LinearHead(dim, n_classes, hidden))
        self.probes = nn.ModuleList(probes)  # each probe standardises its own state (no shared Standardize)

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        mean, std = torch.as_tensor(mean), torch.as_tensor(std)
        for layer, probe in enumerate(self.probes):
            probe.set_standardization(mean[layer], std[layer])

    def state_group(self, name: str) -> int | None:
        """The state whose probe owns state-dict entry ``name`` (``probes.<l>.…``), else ``None``."""
        parts = name.split(".")
        return int(parts[1]) if parts[0] == "probes" else None

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack([p.embed(x[:, l].contiguous()) for l, p in enumerate(self.probes)], dim=1)

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return torch.stack([p.classify(z[:, l].contiguous()) for l, p in enumerate(self.probes)], dim=1)


class BaselineHead(Head):
    """A baseline (:mod:`probe.baselines`): trained from scratch on log-mel frames, or a classic classifier on
    hand-crafted features, each with its own recorded training settings. Baselines are run only when named
    (``all`` means every probe of frozen features) and only on caches they fit."""

    frames = True
    all_states = False


class ReferenceClassifier(BaselineHead):
    """A scikit-learn classifier on the pooled vectors (the field's classic eGeMAPS reference)."""

    frames = False


@dataclass(frozen=True)
class ProbeSpec:
    """What the runner needs to know of a probe before building it."""

    name: str
    cls: type[Head]
    description: str

    @property
    def frames(self) -> bool:
        return self.cls.frames

    @property
    def all_states(self) -> bool:
        return self.cls.all_states


PROBES: dict[str, ProbeSpec] = {
    spec.name: spec
    for spec in (
        ProbeSpec("linear", LinearHead, "Linear probe on the last state (trains on pooled vectors)"),
        ProbeSpec("nonlinear", NonLinearHead, "Non-Linear probe on the last state's frames"),
        ProbeSpec("multilayer", MultiLayerHead, "learned softmax mix of all states, then Non-Linear"),
        ProbeSpec("attention", AttentionHead, "attention pooling over the last state's frames, then an MLP"),
        ProbeSpec("layerwise", LayerwiseLinearHead, "a Linear probe on every state; best chosen on validation"),
        ProbeSpec("ast", BaselineHead, "baseline: Audio Spectrogram Transformer trained from scratch, 12 × 768"),
        ProbeSpec("ast-small", BaselineHead, "baseline: a CPU-sized AST (2 blocks × 64) trained from scratch"),
        ProbeSpec("cnn", BaselineHead, "baseline: AlexNet-style CNN on log-mel frames, trained from scratch"),
        ProbeSpec("logreg", ReferenceClassifier, "baseline: scikit-learn logistic regression on pooled vectors"),
        ProbeSpec("svm", ReferenceClassifier, "baseline: scikit-learn linear SVM on pooled vectors"),
    )
}
DEFAULT_PROBES: tuple[str, ...] = ("linear", "nonlinear", "multilayer")


def parse_probes(spec: str | None) -> tuple[str, ...]:
    """``"linear,nonlinear"`` → names in registry order; ``"all"`` → every probe; empty → the default set."""
    if spec is None or not spec.strip():
        return DEFAULT_PROBES
    if spec.strip().lower() == "all":  # every probe of frozen features; baselines only when named
        return tuple(n for n, p in PROBES.items() if not issubclass(p.cls, BaselineHead))
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe(s) {unknown}; available: {', '.join(PROBES)} (or 'all')")
    return tuple(n for n in PROBES if n in names)


def build_head(
    name: str, n_states: int, dim: int, n_classes: int, hidden: int = HIDDEN, dropout: float = DROPOUT,
    include_input_state: bool = False,
) -> Head:
    """A fresh head by registry name, for features of ``n_states`` states × ``dim`` and ``n_classes`` classes.

    ``dropout`` applies to the Non-Linear and Multi-Layer heads; the attention head keeps its own (0.3, 0.2).
    ``include_input_state`` puts state 0 into the Multi-Layer mix (the paper's eq. 4 leaves it out).
    """
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; available: {', '.join(PROBES)}")
    if issubclass(PROBES[name].cls, BaselineHead):
        raise ValueError(f"{name} is a baseline with its own settings; build it with probe.baselines")
    if name == "linear":
        return LinearHead(dim, n_classes, hidden)
    if name == "nonlinear":
        return NonLinearHead(dim, n_classes, hidden, dropout)
    if name == "multilayer":
        return MultiLayerHead(n_states, dim, n_classes, hidden, dropout, include_input_state)
    if name == "attention":
        return AttentionHead(dim, n_classes)
    return LayerwiseLinearHead(n_states, dim, n_classes, hidden)
