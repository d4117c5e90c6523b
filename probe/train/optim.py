"""Optimisers of a head, and how far its Multi-Layer layer logits could have moved.

:func:`build_optimizers` gives every head one Adam (and one plateau scheduler), except:

* the layer-wise head: one Adam and one scheduler **per state**, each stepping on that state's own validation loss,
  so that every state's probe is trained exactly as the Linear probe on that state alone (same seed, same batches);
* the Multi-Layer head with ``layer_lr`` set: its layer logits in a parameter group of their own, with that learning
  rate and no weight decay. The plateau scheduler halves both groups together; the logits' floor is ``min_lr`` ×
  ``layer_lr / lr``, so the two rates keep their ratio.

**The movement bound.** Adam's step on one parameter is ``lr_t · m̂_t / (√v̂_t + eps)``. By Cauchy–Schwarz,
``|m̂_t| / √v̂_t ≤ a_t`` with ``a_t = (1-β1)/(1-β1^t) · √((1-β2^t)/(1-β2)) · √((1-r^t)/(1-r))``, ``r = β1²/β2``
(:func:`adam_step_factor`; 1 at the first step, at most 1.70 for the paper's betas (0.9, 0.98)), whatever the
gradients. So after training, no logit can be further from its start than ``B = Σ_t a_t · lr_t``
(:class:`LogitBound`), and since the logits start equal, every weight of the softmax over ``n`` states lies in
``[1/(1+(n-1)e^{2B}), 1/(1+(n-1)e^{-2B})]``. The weights are flagged **uniform by construction**
(:func:`uniform_by_construction`) when that upper limit is below ``2/n``: no state could have received even twice
its uniform share, whatever the data said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from probe.train.heads import Head

if TYPE_CHECKING:
    from probe.train.config import TrainConfig

UNIFORM_FACTOR = 2.0
"""The flag's tolerance: weights are uniform by construction when none could reach this multiple of 1/n."""


def adam_step_factor(t: int, betas: tuple[float, float]) -> float:
    """The largest ``|m̂_t| / √v̂_t`` any gradient sequence can give at Adam's step ``t`` (1-based)."""
    b1, b2 = betas
    r = b1 * b1 / b2
    geometric = t if abs(1.0 - r) < 1e-12 else (1.0 - r**t) / (1.0 - r)
    return (1.0 - b1) / (1.0 - b1**t) * math.sqrt((1.0 - b2**t) / (1.0 - b2)) * math.sqrt(geometric)


@dataclass
class LogitBound:
    """Running sum of ``a_t · lr_t`` over the layer logits' optimizer steps (see the module's docstring)."""

    betas: tuple[float, float]
    bound: float = 0.0
    lr_sum: float = 0.0
    steps: int = 0

    def step(self, lr: float) -> None:
        """Count one optimizer step taken with learning rate ``lr`` for the logits."""
        self.steps += 1
        self.lr_sum += lr
        self.bound += adam_step_factor(self.steps, self.betas) * lr


def max_weight(bound: float, n: int) -> float:
    """The largest softmax weight ``n`` logits that started equal can give after moving at most ``bound`` each."""
    return 1.0 / (1.0 + (n - 1) * math.exp(-2.0 * bound)) if n > 1 else 1.0


def uniform_by_construction(bound: float, n: int, factor: float = UNIFORM_FACTOR) -> bool:
    """True when no weight could have reached ``factor``/n: the weights cannot say which state mattered."""
    return n > 1 and max_weight(bound, n) < factor / n


def normalized_entropy(weights: list[float]) -> float:
    """H(w) / log n: 1 for uniform weights, 0 for all weight on one state."""
    w = [x for x in weights if x > 0]
    n = len(weights)
    if n < 2:
        return 0.0
    return float(-sum(x * math.log(x) for x in w) / math.log(n))


@dataclass
class Optimizers:
    """A head's optimizers and schedulers (one each, or one per state of the layer-wise head)."""

    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.ReduceLROnPlateau] = field(default_factory=list)
    logit_group: tuple[int, int] | None = None
    """(optimizer, group) holding the Multi-Layer layer logits, if the head has them."""

    def zero_grad(self) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def logit_lr(self) -> float | None:
        """The learning rate the layer logits are trained with now."""
        if self.logit_group is None:
            return None
        o, g = self.logit_group
        return float(self.optimizers[o].param_groups[g]["lr"])

    def lrs(self) -> list[float]:
        """The first group's rate of each optimizer (one value, or one per state)."""
        return [float(opt.param_groups[0]["lr"]) for opt in self.optimizers]

    def schedule(self, val_losses: list[float]) -> None:
        """Step each scheduler on its own validation loss (one scheduler: the mean, which is that loss)."""
        if not self.schedulers:
            return
        if len(self.schedulers) == 1:
            self.schedulers[0].step(float(sum(val_losses) / len(val_losses)))
            return
        for scheduler, loss in zip(self.schedulers, val_losses, strict=True):
            scheduler.step(float(loss))


def _adam(params: list, config: TrainConfig) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=config.lr, betas=config.betas, eps=config.eps,
                            weight_decay=config.weight_decay)


def _plateau(opt: torch.optim.Optimizer, config: TrainConfig) -> torch.optim.lr_scheduler.ReduceLROnPlateau:
    min_lrs = [config.min_lr if group["lr"] == config.lr else config.min_lr * group["lr"] / config.lr
               for group in opt.param_groups]
    return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=config.plateau_factor,
                                                      patience=config.plateau_patience, min_lr=min_lrs)


def build_optimizers(head: Head, config: TrainConfig) -> Optimizers:
    """The optimizers of ``head`` under ``config`` (see the module's docstring)."""
    per_state = getattr(head, "probes", None) if head.name == "layerwise" else None
    if per_state is not None:
        optimizers = [_adam(list(p.parameters()), config) for p in per_state]
    else:
        logits = getattr(head, "layer_logits", None)
        if logits is not None and config.layer_lr is not None:
            rest = [p for p in head.parameters() if p is not logits]
            optimizers = [_adam([{"params": rest}, {"params": [logits], "lr": config.layer_lr, "weight_decay": 0.0}],
                                config)]
        else:
            optimizers = [_adam(list(head.parameters()), config)]
    schedulers = [_plateau(o, config) for o in optimizers] if config.scheduler == "plateau" else []
    group = None
    if getattr(head, "layer_logits", None) is not None:
        group = (0, len(optimizers[0].param_groups) - 1)
    return Optimizers(optimizers, schedulers, group)


UNIFORM_TEST = ("uniform by construction: the layer logits start equal and Adam moves each by at most a_t·lr_t per "
                "step, so after training none is further than layer_logit_bound from its start; the weights are "
                "flagged when that bound keeps every weight below twice the uniform 1/n (n = mixed states), "
                "whatever the data")
"""The flag's test in words (written into every Multi-Layer record)."""


def weight_fields(head: Head, bound: LogitBound | None) -> dict[str, object]:
    """The record's Multi-Layer fields beside ``layer_weights`` (all ``None`` for other heads)."""
    weights = head.layer_weights()
    if weights is None or bound is None:
        return {"layer_weight_states": None, "layer_logit_bound": None, "layer_weights_entropy": None,
                "layer_weights_uniform": None}
    states = head.weight_states() if hasattr(head, "weight_states") else list(range(len(weights)))
    n = len(weights)
    return {
        "layer_weight_states": states,
        "layer_logit_bound": round(bound.bound, 6),
        "layer_logit_lr_sum": round(bound.lr_sum, 6),
        "layer_logit_steps": bound.steps,
        "layer_weights_entropy": round(normalized_entropy(weights), 6),
        "layer_weights_max_possible": round(max_weight(bound.bound, n), 6),
        "layer_weights_uniform": uniform_by_construction(bound.bound, n),
        "layer_weights_test": UNIFORM_TEST,
    }
