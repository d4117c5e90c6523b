"""The training-setting options shared by ``probe run`` and ``probe transfer``: preset, single-setting overrides,
device, memory and threads.

:func:`training_options` adds the options to a typer command that has a ``training: TrainingRequest | None``
parameter and hands the command one :class:`TrainingRequest`; :meth:`TrainingRequest.train_config` turns it into
the :class:`probe.train.config.TrainConfig` of the preset with the overrides (the same for both commands).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from probe.train.config import TrainConfig

GIB = 2**30
PANEL = "Training settings"


def _opt(*names: str, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors typer's keyword
    # escaped: rich would read "[preset: 30]" as a markup tag and drop it from --help
    return typer.Option(*names, help=escape(help), rich_help_panel=PANEL, **kw)


@dataclass
class TrainingRequest:
    """The training options of one command invocation (``None``: the preset's value)."""

    preset: Annotated[str, _opt("--preset", help="Training preset: paper (default: the paper's protocol, raw "
                                "features, dropout 0.1, class-weighted loss, ReduceLROnPlateau) or standardized "
                                "(opt-in: train-split standardisation, dropout 0.2, plain cross-entropy, constant "
                                "lr). Options below override single settings; the record lists them.")] = "paper"
    epochs: Annotated[Optional[int], _opt("--epochs", min=1, help="Training epochs [preset: 30].")] = None
    batch_size: Annotated[Optional[int], _opt("--batch-size", min=1, help="Utterances per batch "
                                              "[preset: 32].")] = None
    lr: Annotated[Optional[float], _opt("--lr", help="Adam learning rate [preset: 5e-4].")] = None
    dropout: Annotated[Optional[float], _opt("--dropout", min=0.0, max=0.95, help="Dropout of the Non-Linear and "
                                             "Multi-Layer heads [paper 0.1, standardized 0.2].")] = None
    standardize: Annotated[Optional[bool], _opt("--standardize/--no-standardize", help="Standardise inputs with "
                                                "the statistics of the training rows only (transfer: the training "
                                                "domains', never the test domain's) [paper: no, standardized: "
                                                "yes].", show_default=False)] = None
    class_weights: Annotated[Optional[bool], _opt("--class-weights/--no-class-weights", help="Weight the loss by "
                                                  "inverse class frequency of the training rows [paper: yes, "
                                                  "standardized: no].", show_default=False)] = None
    scheduler: Annotated[Optional[str], _opt("--scheduler", help="plateau (ReduceLROnPlateau on val loss, "
                                             "patience 5, factor 0.5, min 5e-5) or none [paper: plateau, "
                                             "standardized: none].")] = None
    layer_lr: Annotated[Optional[float], _opt("--layer-lr", min=0.0, help="Multi-Layer probe: Adam learning rate "
                                              "of the layer-weight logits, in a group of their own without weight "
                                              "decay [preset: the single --lr; at the paper's lr the weights of a "
                                              "small corpus stay near uniform by construction].")] = None
    include_input_state: Annotated[Optional[bool], _opt("--include-input-state/--no-include-input-state",
                                                        help="Multi-Layer probe: also mix state 0, the input to "
                                                        "the first block [preset: no, the paper's eq. 4 sums "
                                                        "states 1..L].", show_default=False)] = None
    device: Annotated[str, _opt("--device", help="auto, cpu, cuda or cuda:N.")] = "auto"
    memory_gb: Annotated[Optional[float], _opt("--memory-gb", help="GiB of frames to hold in memory (default 25% "
                                               "of RAM); larger caches are streamed.")] = None
    threads: Annotated[Optional[int], _opt("--threads", min=1, help="torch CPU threads while training [1: the same "
                                           "result on every machine; more can be faster for large heads, and is "
                                           "recorded as an override, cpu_threads].")] = None

    @property
    def memory_budget(self) -> int | None:
        """``--memory-gb`` in bytes, or ``None`` for the default budget."""
        return None if self.memory_gb is None else int(self.memory_gb * GIB)

    def train_config(self) -> TrainConfig:
        """The preset's :class:`TrainConfig` with the given settings as overrides.

        Raises :class:`ValueError` with a one-line message for an unknown preset, a bad setting, a memory budget
        that is not above zero, or a device that is absent here (:func:`extract.devices.check_device`).
        """
        from extract.devices import check_device
        from probe.train.presets import make_config

        check_device(self.device)
        if self.memory_gb is not None and not self.memory_gb > 0:
            raise ValueError(f"--memory-gb {self.memory_gb:g}: the memory for frames must be more than 0 GiB; "
                             "leave --memory-gb out for the default (25% of RAM)")
        return make_config(self.preset, device=self.device, epochs=self.epochs, batch_size=self.batch_size,
                           lr=self.lr, dropout=self.dropout, standardize=self.standardize,
                           class_weights=self.class_weights, scheduler=self.scheduler, cpu_threads=self.threads,
                           layer_lr=self.layer_lr, include_input_state=self.include_input_state)


def training_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Put the training options in place of a typer command's ``training: TrainingRequest | None`` parameter;
    the command receives them as one :class:`TrainingRequest`."""
    signature = inspect.signature(func, eval_str=True)
    hints = inspect.get_annotations(TrainingRequest, eval_str=True)
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        if param.name != "training":
            params.append(param)
            continue
        params += [inspect.Parameter(f.name, param.kind, default=f.default, annotation=hints[f.name])
                   for f in fields(TrainingRequest)]
    if "training" not in signature.parameters:
        raise TypeError(f"{func.__name__} has no `training: TrainingRequest | None` parameter")
    names = [f.name for f in fields(TrainingRequest)]
    new = signature.replace(parameters=params)  # a command parameter named like an option: ValueError here

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        request = TrainingRequest(**{name: kwargs.pop(name) for name in names if name in kwargs})
        return func(**kwargs, training=request)

    command.__signature__ = new  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in new.parameters.values()}
    return command
