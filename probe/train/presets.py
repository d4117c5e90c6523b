"""Training presets: named sets of :class:`probe.train.config.TrainConfig` values, recorded in every run.

``paper`` (the default) is the protocol of D'Asaro et al. (CLiC-it 2024). The paper states Adam, lr 5e-4, weight
decay 1e-4, betas (0.9, 0.98), eps 1e-8, 30 epochs and m = 256, and says it follows PEFT-SER for everything else;
the unstated parts are taken from PEFT-SER's code and the authors' group's public probe code: raw features (no
standardisation), Dropout 0.1 in the frame-wise layers, layer-weight logits initialised equal (a uniform softmax
over the mixed states), masked mean pooling, batch size 32, class-weighted cross-entropy (inverse class frequency,
normalised), ReduceLROnPlateau on the validation loss (patience 5, factor 0.5, min lr 5e-5), and the epoch kept is
the best on validation. The Multi-Layer mix is the paper's eq. 4, over the blocks' outputs 1..L (not state 0, the
input to the first block), and its layer logits share the single learning rate: on a corpus of a few hundred clips
that keeps them within a few tenths of their start, i.e. the weights near uniform by construction (the record
flags it, :mod:`probe.train.optim`); ``layer_lr`` (``--layer-lr``) gives them a rate of their own.

Where the suite departs from PEFT-SER's unstated defaults (:data:`PAPER_DEPARTURES`; the report lists them beside
every published number): PEFT-SER crops or pads audio to 6 s, the suite extracts every clip at its full length
once; PEFT-SER feeds Whisper the clip's real length, the suite pads to 30 s as in pre-training (``probe extract
--whisper-input trim`` gives the real length); PEFT-SER augments the audio while training, the suite trains on
frozen features extracted once, without augmentation. The split is the paper's holdout, 80/10/10 by speakers
(``probe run --protocol holdout``, the default); ``--protocol auto`` (leave-one-speaker-out up to 12 speakers),
which the report recommends for small corpora, is not the paper's protocol.

``standardized`` is this suite's opt-in variant: inputs standardised with statistics of the training part,
Dropout 0.2, plain cross-entropy and a constant learning rate. It mixes the same states as ``paper`` (1..L) and
keeps the single learning rate, so the two presets differ only in the settings listed here; ``include_input_state``
and ``layer_lr`` are overrides for either. On the demo corpus it lifts the Multi-Layer probe a
lot (its layer weights then compare states rather than their scales), but it is not the paper's protocol, and
every output that shows its numbers says so.

Any single setting can be overridden (``make_config("paper", dropout=0.3)``); the configuration keeps the preset's
name and the list of overridden settings, and both go into the run record and the leaderboard.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from probe.train.config import TrainConfig

PAPER = "paper"
STANDARDIZED = "standardized"
DEFAULT_PRESET = PAPER

PRESETS: dict[str, dict[str, Any]] = {
    PAPER: dict(
        epochs=30, batch_size=32, lr=5e-4, weight_decay=1e-4, betas=(0.9, 0.98), eps=1e-8, hidden=256,
        dropout=0.1, standardize=False, class_weights=True, scheduler="plateau", plateau_patience=5,
        plateau_factor=0.5, min_lr=5e-5, layer_lr=None, include_input_state=False,
    ),
    STANDARDIZED: dict(
        epochs=30, batch_size=32, lr=5e-4, weight_decay=1e-4, betas=(0.9, 0.98), eps=1e-8, hidden=256,
        dropout=0.2, standardize=True, class_weights=False, scheduler="none", plateau_patience=5,
        plateau_factor=0.5, min_lr=5e-5, layer_lr=None, include_input_state=False,
    ),
}
"""Every preset sets every training setting (``device`` aside), so a preset name alone says what was run."""

PRESET_DESCRIPTIONS: dict[str, str] = {
    PAPER: "the paper's protocol (raw features, dropout 0.1, class-weighted loss, ReduceLROnPlateau)",
    STANDARDIZED: "opt-in: train-split standardisation, dropout 0.2, plain cross-entropy, constant lr",
}


PAPER_DEPARTURES: tuple[str, ...] = (
    "full-length clips, not PEFT-SER's 6 s crops",
    "Whisper input padded to 30 s (--whisper-input pad30), not PEFT-SER's real-length input",
    "no audio augmentation (frozen features extracted once), unlike PEFT-SER's training",
)
"""Where the ``paper`` preset departs from PEFT-SER's defaults that the paper does not state."""


def paper_departures_sentence() -> str:
    """One sentence listing :data:`PAPER_DEPARTURES`, for captions and the report."""
    return ("Departures from PEFT-SER's defaults, which the paper does not state: " + "; ".join(PAPER_DEPARTURES)
            + ".")


class PresetError(ValueError):
    """An unknown preset or setting."""


def _setting_names() -> set[str]:
    return {f.name for f in fields(TrainConfig)} - {"preset", "overrides", "device"}


def _base_values(preset: str) -> dict[str, Any]:
    """Every setting of ``preset``: its own values, and TrainConfig's defaults for the settings no preset varies
    (``block_bytes``, ``cpu_threads``)."""
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name in _setting_names()}
    return {**defaults, **PRESETS[preset]}


def make_config(preset: str = DEFAULT_PRESET, device: str = "auto", **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of ``preset`` with ``overrides`` applied (``None`` values are ignored).

    Only settings whose value differs from the preset count as overrides and are listed in ``overrides``.
    """
    if preset not in PRESETS:
        raise PresetError(f"unknown preset {preset!r}; use one of {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - _setting_names())
    if unknown:
        raise PresetError(f"unknown training setting(s) {unknown}; settings: {', '.join(sorted(_setting_names()))}")
    values = _base_values(preset)
    changed = []
    for name, value in overrides.items():
        if value is None:
            continue
        if name == "betas":
            value = tuple(float(v) for v in value)
        if value != values[name]:
            changed.append(name)
        values[name] = value
    return TrainConfig(preset=preset, overrides=tuple(sorted(changed)), device=device, **values)


def preset_of(config: TrainConfig) -> TrainConfig:
    """``config`` with its ``overrides`` recomputed against its preset (for configs built by hand)."""
    if config.preset not in PRESETS:
        return replace(config, overrides=())
    base = _base_values(config.preset)
    changed = tuple(sorted(k for k, v in base.items() if getattr(config, k) != v))
    return replace(config, overrides=changed)


def preset_label(preset: str, overrides: tuple[str, ...] | list[str] | str = ()) -> str:
    """``paper`` or ``paper + dropout, lr`` (the preset and the settings it was run with differently)."""
    if isinstance(overrides, str):
        overrides = tuple(o for o in overrides.split(";") if o)
    return preset if not overrides else f"{preset} + {', '.join(overrides)}"
