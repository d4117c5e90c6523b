"""Training one probe head: the paper's protocol, model selection on validation only, deterministic per seed.

Protocol (after PEFT-SER): Adam, lr 5e-4, weight decay 1e-4, betas (0.9, 0.98), eps 1e-8, 30 epochs, plain
cross-entropy; batch size 32 and dropout 0.2 (Non-Linear and Multi-Layer heads) are this suite's choices. After
every epoch the head is scored on the validation part; the state of the epoch with the best validation macro-F1
(ties: lower validation loss, then the earlier epoch) is kept. The test part is predicted once, after training,
with that state: it never takes part in any choice.

Batch size 32 is a common choice for probes of this size: about 10 updates per epoch on the 384-clip demo corpus,
some 190 on CREMA-D. Dropout 0.2 is light regularisation for a 256-wide head trained on a few hundred to a few
thousand clips (the attention head keeps its published 0.3 and 0.2).

Inputs are standardised with statistics of the training part (per feature, and per state for all-state heads:
frame statistics for frame-level heads, utterance statistics for pooled ones); ``standardize=False`` feeds raw
features as the paper did. On the demo's real Whisper tiny.en features standardisation raised test macro-F1
(Non-Linear 63 vs 58, Multi-Layer 66 vs 40, layer-wise Linear 68 vs 52; same seeds) and lets the Multi-Layer
weights compare states rather than their scales. The layer-wise head trains one probe per state side by side:
each state gets its own best epoch.

Given a seed, a run on CPU is deterministic: the head's initialisation and dropout use torch's generator seeded at
the start, and the batch order a NumPy generator with the same seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch.nn import functional as F

from probe.data import plan_batches
from probe.heads import DROPOUT, HIDDEN, Head, build_head
from probe.metrics import macro_f1


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; every field is recorded in the run's ``config``. The defaults are the ``paper`` preset
    (:mod:`probe.presets`); build other presets with :func:`probe.presets.make_config`."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    hidden: int = HIDDEN
    dropout: float = DROPOUT
    standardize: bool = False
    class_weights: bool = True
    scheduler: str = "plateau"  # "plateau" (ReduceLROnPlateau on validation loss) or "none"
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    min_lr: float = 5e-5
    preset: str = "paper"
    overrides: tuple[str, ...] = ()
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; use one of {', '.join(SCHEDULERS)}")

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values, with the fixed parts of the protocol spelled out."""
        values = asdict(self)
        values["betas"] = list(self.betas)
        values["overrides"] = list(self.overrides)
        values["device"] = resolve_device(self.device)
        values.update(optimizer="adam", loss="weighted_cross_entropy" if self.class_weights else "cross_entropy",
                      pooling="masked_mean", layer_init="uniform", selection="val_macro_f1",
                      selection_ties="lower val_loss, then earlier epoch")
        return values


SCHEDULERS: tuple[str, ...] = ("plateau", "none")


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else is returned as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (non-finite features, or a diverging run)."""


class Feed(Protocol):
    """Batches of one run's inputs: ``(rows, x, mask or None)``, rows being cache row numbers."""

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor | None]]: ...

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]: ...


class PooledFeed:
    """Pooled vectors in memory: ``(N, d)`` for the Linear probe, ``(N, L, d)`` for the layer-wise one."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        self._ones = np.ones(len(vectors), dtype=np.int64)

    def batches(
        self, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, torch.Tensor, None]]:
        for batch in plan_batches(rows, self._ones, batch_size, rng):
            yield batch, self.vectors[torch.from_numpy(batch)], None

    def stats(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.vectors[torch.from_numpy(np.asarray(rows, dtype=np.int64))].double()
        return x.mean(dim=0).float(), x.std(dim=0, unbiased=False).float()


@dataclass
class Outputs:
    """A head's outputs on one part, in the order of ``rows``: logits ``(n, G, k)`` (G = 1, or L for the
    layer-wise head) and, when asked, embeddings ``(n, G, m)``."""

    rows: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray | None = None

    def proba(self) -> np.ndarray:
        """Class probabilities ``(n, G, k)``."""
        return torch.softmax(torch.from_numpy(self.logits), dim=-1).numpy()

    def pred(self) -> np.ndarray:
        """Predicted class indices ``(n, G)``."""
        return self.logits.argmax(axis=-1)


@dataclass
class TrainResult:
    """A trained head (best state, on CPU), its selection and curves, and its validation and test outputs."""

    head: Head
    best_epoch: list[int]
    curves: dict[str, list[Any]]
    val: Outputs
    test: Outputs
    seconds: float
    standardization: dict[str, Any] = field(default_factory=dict)


def _grouped(logits: torch.Tensor) -> torch.Tensor:
    """``(B, k)`` → ``(B, 1, k)``; ``(B, G, k)`` unchanged."""
    return logits.unsqueeze(1) if logits.dim() == 2 else logits


def _loss_per_group(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy of each group ``(G,)`` for grouped logits ``(B, G, k)``."""
    b, g, k = logits.shape
    losses = F.cross_entropy(logits.reshape(b * g, k), y.repeat_interleave(g), weight=weight, reduction="none")
    losses = losses.reshape(b, g)
    if weight is None:
        return losses.mean(dim=0)
    w = weight[y].unsqueeze(1)
    return losses.sum(dim=0) / w.sum().clamp(min=1e-12)


def predict(
    head: Head, feed: Feed, rows: np.ndarray, batch_size: int, device: str, embeddings: bool = False
) -> Outputs:
    """The head's logits (and embeddings) for ``rows``, returned in the order of ``rows``."""
    head.eval()
    seen, logits, embeds = [], [], []
    with torch.no_grad():
        for batch, x, mask in feed.batches(rows, batch_size, None):
            x = x.to(device, non_blocking=True)
            mask = None if mask is None else mask.to(device, non_blocking=True)
            z = head.embed(x, mask)
            logits.append(_grouped(head.classify(z)).float().cpu())
            if embeddings:
                embeds.append(_grouped(z).float().cpu() if z.dim() == 2 else z.float().cpu())
            seen.append(batch)
    order = np.concatenate(seen) if seen else np.empty(0, dtype=np.int64)
    position = {int(r): i for i, r in enumerate(order)}
    back = np.array([position[int(r)] for r in rows], dtype=np.int64)
    out_logits = torch.cat(logits).numpy()[back] if logits else np.empty((0, 1, 0), dtype=np.float32)
    out_embeds = torch.cat(embeds).numpy()[back] if embeds else None
    return Outputs(np.asarray(rows, dtype=np.int64), out_logits, out_embeds)


def _class_weights(y_train: np.ndarray, n_classes: int) -> torch.Tensor:
    """``n / (k · count_c)``, 0 for a class absent from training."""
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, len(y_train) / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights, dtype=torch.float32)


def fit_probe(
    probe: str,
    feed: Feed,
    labels: np.ndarray,
    parts: dict[str, np.ndarray],
    n_states: int,
    dim: int,
    n_classes: int,
    config: TrainConfig,
    seed: int,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    head: Head | None = None,
) -> TrainResult:
    """Train head ``probe`` on the ``train`` rows, select on ``val``, predict ``val`` and ``test``.

    ``labels`` holds the class index of every cache row (rows outside the run may hold anything); ``parts``
    maps train/val/test to arrays of cache rows.
    """
    started = time.perf_counter()
    device = resolve_device(config.device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if head is None:  # a prebuilt head (the baselines of probe.baselines) brings its own architecture
        head = build_head(probe, n_states, dim, n_classes, hidden=config.hidden, dropout=config.dropout)
    train_rows, val_rows, test_rows = (np.asarray(parts[p], dtype=np.int64) for p in ("train", "val", "test"))
    standardization: dict[str, Any] = {"applied": False}
    if config.standardize:
        mean, std = feed.stats(train_rows)
        head.set_standardization(mean, std)
        standardization = {"applied": True, "statistics": "frames" if head.frames else "pooled vectors",
                           "fitted_on": "train"}
    head.to(device)
    y_all = torch.from_numpy(np.array(labels, dtype=np.int64))
    weight = _class_weights(np.asarray(labels)[train_rows], n_classes).to(device) if config.class_weights else None
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay)
    scheduler = (torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr)
        if config.scheduler == "plateau" else None)
    groups = n_states if head.name == "layerwise" else 1
    best_f1 = np.full(groups, -np.inf)
    best_loss = np.full(groups, np.inf)
    best_epoch = [0] * groups
    best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    curves: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "val_loss": [], "val_macro_f1": [], "lr": []}
    y_val = y_all[torch.from_numpy(val_rows)]
    for epoch in range(1, config.epochs + 1):
        head.train()
        total, count = torch.zeros(groups, dtype=torch.float64), 0
        for batch, x, mask in feed.batches(train_rows, config.batch_size, rng):
            x = x.to(device, non_blocking=True)
            mask = None if mask is None else mask.to(device, non_blocking=True)
            y = y_all[torch.from_numpy(batch)].to(device)
            per_group = _loss_per_group(_grouped(head(x, mask)), y, weight)
            if not bool(torch.isfinite(per_group).all()):
                raise NonFiniteLossError(f"the training loss became non-finite at epoch {epoch} "
                                         f"({per_group.detach().cpu().tolist()}); no record is written")
            optimizer.zero_grad(set_to_none=True)
            per_group.sum().backward()
            optimizer.step()
            total += per_group.detach().double().cpu() * len(batch)
            count += len(batch)
        train_loss = (total / max(count, 1)).tolist()
        val = predict(head, feed, val_rows, config.batch_size, device)
        logits = torch.from_numpy(val.logits)
        val_loss = _loss_per_group(logits, y_val, None if weight is None else weight.cpu()).tolist()
        val_f1 = [macro_f1(y_val.numpy(), val.pred()[:, g]) for g in range(groups)]
        if scheduler is not None:
            scheduler.step(float(np.mean(val_loss)))
        state = head.state_dict()
        for g in range(groups):
            if val_f1[g] > best_f1[g] or (val_f1[g] == best_f1[g] and val_loss[g] < best_loss[g]):
                best_f1[g], best_loss[g], best_epoch[g] = val_f1[g], val_loss[g], epoch
                for name, tensor in state.items():
                    if groups == 1:
                        best_state[name] = tensor.detach().clone()
                    else:
                        best_state[name][g] = tensor.detach()[g]
        curves["epoch"].append(epoch)
        curves["train_loss"].append(train_loss if groups > 1 else train_loss[0])
        curves["val_loss"].append(val_loss if groups > 1 else val_loss[0])
        curves["val_macro_f1"].append(val_f1 if groups > 1 else val_f1[0])
        curves["lr"].append(float(optimizer.param_groups[0]["lr"]))
        if on_epoch is not None:
            on_epoch(epoch, {"train_loss": float(np.mean(train_loss)), "val_macro_f1": float(np.max(val_f1))})
    head.load_state_dict(best_state)
    val_out = predict(head, feed, val_rows, config.batch_size, device)
    test_out = predict(head, feed, test_rows, config.batch_size, device, embeddings=True)
    head.to("cpu")
    return TrainResult(head, best_epoch, curves, val_out, test_out, time.perf_counter() - started, standardization)
