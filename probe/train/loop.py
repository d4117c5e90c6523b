"""One seed's training of one head as a state object: init, train on one batch, end of epoch, finish.

:func:`probe.train.fit.fit_probe` drives one :class:`SeedRun` through its epochs; :func:`probe.train.sidebyside.fit_side_by_side`
drives several over one pass of the data per epoch. A run owns everything that makes it deterministic: its NumPy
generator (the batch plan), and its own state of torch's global generators (dropout), swapped in while it is
:meth:`SeedRun.active` and out afterwards, so that interleaving runs never changes any run's draws.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn import functional as F

from extract.determinism import determinism_settings
from probe.data.batching import plan_blocks
from probe.data.cache_data import training_batches
from probe.train.config import TrainConfig, resolve_device
from probe.train.heads import Head, build_head
from probe.train.metrics import selection_macro_f1
from probe.train.optim import LogitBound, build_optimizers

if TYPE_CHECKING:
    from probe.data.feeds import Feed


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite (non-finite features, or a diverging run)."""


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
    logit_bound: LogitBound | None = None
    """How far the Multi-Layer layer logits could have moved (:mod:`probe.train.optim`); ``None`` for other heads."""
    throughput: dict[str, Any] | None = None
    """Where the training time went (:meth:`TrainMeter.summary`); ``None`` for classifiers fitted otherwise."""
    determinism: dict[str, Any] = field(default_factory=dict)
    """The determinism settings the run trained under (:func:`extract.determinism.determinism_settings`)."""


@dataclass
class TrainMeter:
    """One run's training time, apart from validation: the seconds the loop waited for each batch (reading,
    gathering, copying to the device) and the seconds of the optimisation steps, with the clips and valid frames
    trained on. On CUDA each step ends by reading its loss back (the non-finite check), so a step's seconds
    include its kernels and the waits are the time the GPU had no batch to work on."""

    steps: int = 0
    clips: int = 0
    frames: int = 0
    seconds: float = 0.0
    data_seconds: float = 0.0

    def waited(self, seconds: float) -> None:
        """Count ``seconds`` spent waiting for data."""
        self.seconds += seconds
        self.data_seconds += seconds

    def summary(self, frame_level: bool) -> dict[str, Any]:
        """JSON-ready totals and rates; frames only for frame-level heads (pooled heads read one vector per clip)."""
        seconds = max(self.seconds, 1e-9)
        return {"train_steps": self.steps, "train_clips": self.clips,
                "train_frames": self.frames if frame_level else None, "train_seconds": round(self.seconds, 3),
                "clips_per_s": round(self.clips / seconds, 1),
                "frames_per_s": round(self.frames / seconds, 1) if frame_level else None,
                "data_seconds": round(self.data_seconds, 3), "data_share": round(self.data_seconds / seconds, 4)}


def _grouped(logits: torch.Tensor) -> torch.Tensor:
    """``(B, k)`` → ``(B, 1, k)``; ``(B, G, k)`` unchanged."""
    return logits.unsqueeze(1) if logits.dim() == 2 else logits


def _loss_per_group(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy of each group ``(G,)`` for grouped logits ``(B, G, k)``.

    Each group is reduced on its own contiguous copy, so a group's loss (and gradient) is bit for bit what the
    same logits alone (``G = 1``) give: the layer-wise head's states are trained exactly as if alone.
    """
    total = None if weight is None else weight[y].sum().clamp(min=1e-12)
    out = []
    for g in range(logits.shape[1]):
        losses = F.cross_entropy(logits[:, g].contiguous(), y, weight=weight, reduction="none")
        out.append(losses.mean() if total is None else losses.sum() / total)
    return torch.stack(out)


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


class SeedRun:
    """Training state of head ``probe`` with one seed on one split: built (seeded) here, then driven by
    :meth:`train_batch` and :meth:`end_epoch`, and closed by :meth:`finish`. Call those inside :meth:`active`."""

    def __init__(
        self, probe: str, feed: Feed, labels: np.ndarray, parts: dict[str, np.ndarray], n_classes: int,
        config: TrainConfig, seed: int,
        on_epoch: Callable[[int, dict[str, float]], None] | None = None, head: Head | None = None,
    ) -> None:
        started = time.perf_counter()
        self.feed, self.config, self.seed, self.on_epoch = feed, config, seed, on_epoch
        self.device = device = resolve_device(config.device)
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        n_states, dim = feed.shape
        if head is None:  # a prebuilt head (the baselines of probe.train.baselines) brings its own architecture
            head = build_head(probe, n_states, dim, n_classes, hidden=config.hidden, dropout=config.dropout,
                              include_input_state=config.include_input_state)
        self.train_rows, self.val_rows, self.test_rows = (np.asarray(parts[p], dtype=np.int64)
                                                          for p in ("train", "val", "test"))
        self.standardization: dict[str, Any] = {"applied": False}
        if config.standardize:
            mean, std = feed.stats(self.train_rows)
            head.set_standardization(mean, std)
            self.standardization = {"applied": True, "statistics": "frames" if head.frames else "pooled vectors",
                                    "fitted_on": "train"}
        self.head = head.to(device)
        self.y_all = torch.from_numpy(np.array(labels, dtype=np.int64))
        self.weight = (_class_weights(np.asarray(labels)[self.train_rows], n_classes).to(device)
                       if config.class_weights else None)
        self.optim = build_optimizers(head, config)
        self.bound = LogitBound(tuple(config.betas)) if self.optim.logit_group is not None else None
        self.groups = groups = n_states if head.name == "layerwise" else 1
        self.best_f1, self.best_loss = np.full(groups, -np.inf), np.full(groups, np.inf)
        self.best_epoch = [0] * groups
        self.best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
        self.curves: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "val_loss": [], "val_macro_f1": [],
                                             "lr": []}
        self.y_val = self.y_all[torch.from_numpy(self.val_rows)]
        self._total, self._count = torch.zeros(groups, dtype=torch.float64), 0
        self._torch_rng = self._capture_rng()
        self.meter = TrainMeter()
        lengths = getattr(feed, "lengths", None)
        self._frames = np.asarray(lengths, dtype=np.int64) if head.frames and lengths is not None else None
        self.determinism = determinism_settings(device)  # under training_threads: the thread count trained on
        self.seconds = time.perf_counter() - started

    # -- torch's generators: this run's own state ------------------------------------------------------------
    def _capture_rng(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        cuda = torch.cuda.get_rng_state(self.device) if self.device.startswith("cuda") else None
        return torch.get_rng_state(), cuda

    @contextmanager
    def active(self) -> Iterator[SeedRun]:
        """This run's torch generator state swapped in (and saved back after), its time counted."""
        started = time.perf_counter()
        cpu, cuda = self._torch_rng
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.device)
        try:
            yield self
        finally:
            self._torch_rng = self._capture_rng()
            self.seconds += time.perf_counter() - started

    # -- the batches -----------------------------------------------------------------------------------------
    def batches(self, epoch: int) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor | None]]:
        """This run's training batches of ``epoch`` (:func:`probe.data.cache_data.training_batches`)."""
        return training_batches(self.feed, self.train_rows, self.config.batch_size, self.rng, epoch,
                                self.config.block_bytes)

    def plan(self, partition: list[np.ndarray]) -> list[list[np.ndarray]]:
        """This run's batches per block of a shared ``partition`` (for runs trained side by side)."""
        return plan_blocks(partition, self.train_rows, self.feed.lengths, self.config.batch_size, self.rng)

    # -- training --------------------------------------------------------------------------------------------
    def train_on(
        self, epoch: int, batches: Iterable[tuple[np.ndarray, torch.Tensor, torch.Tensor | None]]
    ) -> None:
        """:meth:`train_batch` on every batch of ``batches``, the time spent waiting for each one metered."""
        items = iter(batches)
        while True:
            started = time.perf_counter()
            item = next(items, None)
            self.meter.waited(time.perf_counter() - started)
            if item is None:
                return
            self.train_batch(epoch, *item)

    def train_batch(self, epoch: int, batch: np.ndarray, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        """One optimisation step on ``batch`` (cache rows) with its frames or vectors ``x``."""
        started = time.perf_counter()
        self.head.train()
        x = x.to(self.device, non_blocking=True)
        mask = None if mask is None else mask.to(self.device, non_blocking=True)
        self.meter.waited(time.perf_counter() - started)  # the copy to the device is waiting for data too
        started = time.perf_counter()
        y = self.y_all[torch.from_numpy(batch)].to(self.device)
        per_group = _loss_per_group(_grouped(self.head(x, mask)), y, self.weight)
        if not bool(torch.isfinite(per_group).all()):
            raise NonFiniteLossError(f"the training loss became non-finite at epoch {epoch} "
                                     f"({per_group.detach().cpu().tolist()}); no record is written")
        self.optim.zero_grad()
        per_group.sum().backward()
        if self.bound is not None:
            self.bound.step(self.optim.logit_lr())  # type: ignore[arg-type]
        self.optim.step()
        self._total += per_group.detach().double().cpu() * len(batch)
        self._count += len(batch)
        self.meter.steps += 1
        self.meter.clips += len(batch)
        self.meter.frames += int(self._frames[batch].sum()) if self._frames is not None else 0
        self.meter.seconds += time.perf_counter() - started

    def end_epoch(self, epoch: int) -> None:
        """Validation, the scheduler's step, best-state selection (per group) and the curves."""
        groups = self.groups
        train_loss = (self._total / max(self._count, 1)).tolist()
        self._total, self._count = torch.zeros(groups, dtype=torch.float64), 0
        val = predict(self.head, self.feed, self.val_rows, self.config.batch_size, self.device)
        logits = torch.from_numpy(val.logits)
        val_loss = _loss_per_group(logits, self.y_val, None if self.weight is None else self.weight.cpu()).tolist()
        val_f1 = [selection_macro_f1(self.y_val.numpy(), val.pred()[:, g]) for g in range(groups)]
        self.optim.schedule(val_loss)  # one scheduler per state for the layer-wise head, on its own loss
        state = self.head.state_dict()
        owner = getattr(self.head, "state_group", lambda _name: None)
        for g in range(groups):
            if val_f1[g] > self.best_f1[g] or (val_f1[g] == self.best_f1[g] and val_loss[g] < self.best_loss[g]):
                self.best_f1[g], self.best_loss[g], self.best_epoch[g] = val_f1[g], val_loss[g], epoch
                for name, tensor in state.items():
                    if groups == 1 or owner(name) == g:
                        self.best_state[name] = tensor.detach().clone()
        self.curves["epoch"].append(epoch)
        for key, value in (("train_loss", train_loss), ("val_loss", val_loss), ("val_macro_f1", val_f1)):
            self.curves[key].append(value if groups > 1 else value[0])
        lrs = self.optim.lrs()
        self.curves["lr"].append(lrs[0] if len(lrs) == 1 else lrs)
        if self.on_epoch is not None:
            self.on_epoch(epoch, {"train_loss": float(np.mean(train_loss)), "val_macro_f1": float(np.max(val_f1))})

    def finish(self) -> TrainResult:
        """The best state restored, validation and test predicted with it (the test part only here)."""
        self.head.load_state_dict(self.best_state)
        val_out = predict(self.head, self.feed, self.val_rows, self.config.batch_size, self.device)
        test_out = predict(self.head, self.feed, self.test_rows, self.config.batch_size, self.device, embeddings=True)
        self.head.to("cpu")
        return TrainResult(self.head, self.best_epoch, self.curves, val_out, test_out, self.seconds,
                           self.standardization, self.bound, self.meter.summary(self.head.frames), self.determinism)
