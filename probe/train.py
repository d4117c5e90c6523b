"""Training one probe head: the paper's protocol, model selection on validation only, deterministic per seed.

The defaults are the ``paper`` preset (:mod:`probe.presets`): Adam, lr 5e-4, weight decay 1e-4, betas (0.9, 0.98),
eps 1e-8, 30 epochs, batch size 32, m = 256, raw features (no standardisation), Dropout 0.1 in the frame-wise
layers, class-weighted cross-entropy, and ReduceLROnPlateau on the validation loss (patience 5, factor 0.5, min lr
5e-5). The ``standardized`` preset standardises inputs with statistics of the training part (frame statistics for
frame-level heads, utterance statistics for pooled ones; per state for all-state heads), with Dropout 0.2, plain
cross-entropy and a constant rate. After every epoch the head is scored on the validation part; the state of the
epoch with the best validation macro-F1 (ties: lower validation loss, then the earlier epoch) is kept. The test
part is predicted once, after training, with that state: it never takes part in any choice. The layer-wise head
trains one probe per state side by side: each state gets its own best epoch.

Batches follow the blocked plan of :mod:`probe.batching` (``block_bytes``, recorded; one block, i.e. a plain
shuffle, for every cache of up to 1 GiB of frames of the head's states). Given a seed, a run on CPU is
deterministic: the head's initialisation and dropout use torch's generator seeded at the start (each run keeps its
own generator state, :class:`probe.trainstate.SeedRun`), the batch order a NumPy generator with the same seed.
Several seeds of a streamed cache are trained side by side on one read per epoch by
:func:`probe.sidebyside.fit_side_by_side`, with exactly the results of :func:`fit_probe` for each seed alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch

from extract.determinism import deterministic_cuda
from probe.batching import BLOCK_BYTES, plan_batches
from probe.heads import DROPOUT, HIDDEN, Head
from probe.trainstate import (  # noqa: F401 - re-exported: the training API has lived here
    NonFiniteLossError, Outputs, SeedRun, TrainResult, _class_weights, _grouped, _loss_per_group, predict,
    resolve_device,
)


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
    layer_lr: float | None = None  # Multi-Layer layer logits: own Adam group, this lr, no weight decay (probe.optim)
    include_input_state: bool = False  # Multi-Layer mix over states 0..L instead of the paper's 1..L (eq. 4)
    preset: str = "paper"
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    block_bytes: int = BLOCK_BYTES  # protocol constant of the blocked batch plan (probe.batching), not a preset knob
    cpu_threads: int = 1  # torch CPU threads while training: part of the result (see training_threads)

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {self.scheduler!r}; use one of {', '.join(SCHEDULERS)}")
        if self.block_bytes < 1:
            raise ValueError(f"block_bytes must be positive, got {self.block_bytes}")
        if self.layer_lr is not None and not self.layer_lr > 0:
            raise ValueError(f"layer_lr must be positive, got {self.layer_lr}")
        if self.cpu_threads < 1:
            raise ValueError(f"cpu_threads must be at least 1, got {self.cpu_threads}")

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


@contextlib.contextmanager
def training_threads(config: TrainConfig) -> Iterator[None]:
    """Run the block with ``config.cpu_threads`` torch CPU threads, then restore the previous count.

    The thread count changes the order of floating-point sums inside torch's CPU kernels, so two runs of the same
    seed with 1 and 2 threads differ in the last bits from the first update on, and can end on another epoch.
    One thread (the default) gives the same record on every machine whatever its cores; more threads are faster
    for large heads but make the count part of the configuration (recorded, hashed, shown as an override).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(config.cpu_threads)
    deterministic_cuda(resolve_device(config.device))  # deterministic kernels where torch has them (on CUDA)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    with training_threads(config):
        run = SeedRun(probe, feed, labels, parts, n_states, dim, n_classes, config, seed, on_epoch, head)
        for epoch in range(1, config.epochs + 1):
            with run.active():
                for batch, x, mask in run.batches(epoch):
                    run.train_batch(epoch, batch, x, mask)
                run.end_epoch(epoch)
        with run.active():
            return run.finish()
