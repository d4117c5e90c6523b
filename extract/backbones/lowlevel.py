"""Low-level feature "models" (no weights): log-mel frames and eGeMAPS, registered beside the speech models so
that the baselines trained from scratch read ordinary caches (``probe extract --model logmel-128``)."""

from __future__ import annotations

from extract.backbones.base import Backbone, ModelSpec
from extract.backbones.egemaps import EGEMAPS_LLD_SPEC, EGEMAPS_SPEC, EGeMAPSBackbone
from extract.backbones.logmel import LOGMEL_SPEC, LogMelBackbone

LOWLEVEL_MODELS: dict[str, ModelSpec] = {s.name: s for s in (LOGMEL_SPEC, EGEMAPS_SPEC, EGEMAPS_LLD_SPEC)}
"""Suite names of the feature transforms; their caches have one state."""


def load_lowlevel(spec: ModelSpec, weights: str = "pretrained") -> Backbone:
    """The feature transform of ``spec``. It has no weights: ``weights`` must be left at its default."""
    if weights != "pretrained":
        raise ValueError(f"{spec.name} is a fixed feature transform without weights; --weights {weights} does not apply")
    if spec.name == LOGMEL_SPEC.name:
        return LogMelBackbone(spec)
    return EGeMAPSBackbone("functionals" if spec.name == EGEMAPS_SPEC.name else "lld")
