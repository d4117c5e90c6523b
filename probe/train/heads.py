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

The frame-level heads live in :mod:`probe.train.frame_heads`, the pieces every head is made of (the :class:`Head`
interface, pooling, dropout, standardisation, the mix of states) in :mod:`probe.train.head_layers`; the registry here
names them all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from probe.train.frame_heads import AttentionHead, MultiLayerHead, NonLinearHead
from probe.train.head_layers import DROPOUT, HIDDEN, Head, Standardize, masked_mean


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


class LayerwiseLinearHead(Head):
    """One Linear probe per state: pooled ``(B, L, d)`` → logits ``(B, L, k)``.

    Each state's probe is a :class:`LinearHead` initialised from the same generator state, i.e. exactly as the
    Linear probe on that state alone would be with the same seed, and it computes with the same operations on that
    state's vectors; trained with an optimizer and scheduler of its own (:func:`probe.train.optim.build_optimizers`),
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
    """A baseline (:mod:`probe.train.baselines`): trained from scratch on log-mel frames, or a classic classifier on
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
        raise ValueError(f"{name} is a baseline with its own settings; build it with probe.train.baselines")
    if name == "linear":
        return LinearHead(dim, n_classes, hidden)
    if name == "nonlinear":
        return NonLinearHead(dim, n_classes, hidden, dropout)
    if name == "multilayer":
        return MultiLayerHead(n_states, dim, n_classes, hidden, dropout, include_input_state)
    if name == "attention":
        return AttentionHead(dim, n_classes)
    return LayerwiseLinearHead(n_states, dim, n_classes, hidden)
