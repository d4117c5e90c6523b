"""Training settings: :class:`TrainConfig` (every field recorded in each run's ``config``), the device it names and
the CPU threads it trains on.

The defaults are the ``paper`` preset (:mod:`probe.train.presets`): Adam, lr 5e-4, weight decay 1e-4, betas (0.9, 0.98),
eps 1e-8, 30 epochs, batch size 32, m = 256, raw features (no standardisation), Dropout 0.1 in the frame-wise
layers, class-weighted cross-entropy, and ReduceLROnPlateau on the validation loss (patience 5, factor 0.5, min lr
5e-5). The ``standardized`` preset standardises inputs with statistics of the training part, with Dropout 0.2,
plain cross-entropy and a constant rate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch

from extract.determinism import deterministic_cuda
from probe.data.batching import BLOCK_BYTES
from probe.train.heads import DROPOUT, HIDDEN


def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else is returned as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; every field is recorded in the run's ``config``. The defaults are the ``paper`` preset
    (:mod:`probe.train.presets`); build other presets with :func:`probe.train.presets.make_config`."""

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
    layer_lr: float | None = None  # Multi-Layer layer logits: own Adam group, this lr, no weight decay (probe.train.optim)
    include_input_state: bool = False  # Multi-Layer mix over states 0..L instead of the paper's 1..L (eq. 4)
    preset: str = "paper"
    overrides: tuple[str, ...] = ()
    device: str = "auto"
    block_bytes: int = BLOCK_BYTES  # protocol constant of the blocked batch plan (probe.data.batching), not a preset knob
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
