"""``egemaps`` and ``egemaps-lld``: the eGeMAPSv02 parameter set (Eyben et al., 2016) through audEERING's
``opensmile`` package, as one-state "models" in ordinary caches.

``opensmile`` is an optional extra (``pip install ser-probe[opensmile]``) under audEERING's research-only licence;
nothing else in the suite depends on it, and the two models below are the only users.

How they fit the cache contract (one state, frames in ``layers/00``, ``pooled/mean`` = mean over frames):

* ``egemaps``: the 88 functionals of a clip form its single frame (``n_frames = 1``, ``dim = 88``), so
  ``pooled/mean`` holds exactly the functionals, in float32: the Linear probe and the scikit-learn references
  train on them unchanged. (``layers/00`` stores the same vector in float16, like every cache's frames.)
  ``frame_rate`` is 0: one frame per clip, not a time series.
* ``egemaps-lld``: the 25 low-level descriptors at 100 frames per second (``dim = 25``); ``pooled/mean`` is their
  plain mean over the clip (not the eGeMAPS functionals), for frame-level probes.

The names of the 88 / 25 features are stored in the cache's ``feature_names`` attribute, in column order.
Clips shorter than 0.1 s are zero-padded to 0.1 s so that every clip yields at least one frame.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from extract.backbones.base import ModelSpec, OneStateBackbone

SAMPLE_RATE = 16000
MIN_SAMPLES = SAMPLE_RATE // 10
N_FUNCTIONALS = 88
N_LLD = 25

EGEMAPS_SPEC = ModelSpec(
    "egemaps", "hand-crafted", "opensmile eGeMAPSv02 functionals", "none", "none", 1, N_FUNCTIONALS,
    notes="88 eGeMAPSv02 functionals per clip, stored as one frame (pooled/mean = the functionals)",
)
EGEMAPS_LLD_SPEC = ModelSpec(
    "egemaps-lld", "hand-crafted", "opensmile eGeMAPSv02 low-level descriptors", "none", "none", 1, N_LLD,
    notes="25 eGeMAPSv02 low-level descriptors at 100 frames/s",
)

INSTALL_HINT = (
    "the eGeMAPS models need the optional `opensmile` package (audEERING's research-only licence): "
    "pip install 'ser-probe[opensmile]'"
)


def require_opensmile() -> Any:
    """The ``opensmile`` module, or a :class:`RuntimeError` that says how to install it."""
    try:
        import opensmile
    except ImportError as exc:
        raise RuntimeError(f"{INSTALL_HINT} ({exc})") from None
    return opensmile


@lru_cache(maxsize=2)
def _smile(level: str) -> Any:
    opensmile = require_opensmile()
    feature_level = (opensmile.FeatureLevel.Functionals if level == "functionals"
                     else opensmile.FeatureLevel.LowLevelDescriptors)
    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=feature_level)


def egemaps_features(wave: np.ndarray, level: str = "functionals") -> np.ndarray:
    """eGeMAPSv02 ``functionals`` ``(1, 88)`` or ``lld`` ``(n_frames, 25)`` float32 of a 16 kHz clip."""
    signal = np.ascontiguousarray(wave, dtype=np.float32)
    if signal.size < MIN_SAMPLES:
        signal = np.pad(signal, (0, MIN_SAMPLES - signal.size))
    return _smile(level).process_signal(signal, SAMPLE_RATE).to_numpy(np.float32, copy=True)


class EGeMAPSBackbone(OneStateBackbone):
    """eGeMAPSv02 through opensmile: functionals (one 88-dim frame per clip) or low-level descriptors."""

    def __init__(self, level: str = "functionals") -> None:
        if level not in ("functionals", "lld"):
            raise ValueError(f"level must be 'functionals' or 'lld', got {level!r}")
        opensmile = require_opensmile()
        spec = EGEMAPS_SPEC if level == "functionals" else EGEMAPS_LLD_SPEC
        super().__init__(spec, f"{spec.checkpoint} (opensmile {opensmile.__version__})")
        self.level = level
        self.frame_rate = 0.0 if level == "functionals" else 100.0
        self.opensmile_version = str(opensmile.__version__)

    def n_frames(self, n_samples: int) -> int:
        if self.level == "functionals":
            return 1
        return int(egemaps_features(np.zeros(n_samples, dtype=np.float32), "lld").shape[0])

    def group_key(self, n_samples: int) -> Hashable:
        return "egemaps"  # clips are processed one by one

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [torch.from_numpy(egemaps_features(w, self.level)).unsqueeze(0) for w in waves]

    def feature_names(self) -> list[str]:
        """The eGeMAPSv02 feature names, in column order."""
        return list(_smile(self.level).feature_names)

    def attrs(self) -> dict[str, object]:
        return {**super().attrs(), "feature_set": "eGeMAPSv02", "feature_level": self.level,
                "feature_names": self.feature_names(), "opensmile_version": self.opensmile_version,
                "licence": "opensmile: audEERING research-only licence"}
