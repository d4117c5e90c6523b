"""Registered transformers checkpoints beyond Wav2Vec 2.0: their full-size configs (for random-weight controls
built offline) and what is known about their pre-training.

Each config holds only what differs from transformers' defaults for its ``model_type``; a random-init control
built from it has the checkpoint's architecture and parameter count.
"""

from __future__ import annotations

from extract.backbones.base import ModelSpec
from extract.backbones.wav2vec2 import BASE_CONFIG, LARGE_CONFIG
from extract.backbones.whisper_hf import LARGE_V3_ENCODER

# Post-norm base models with a group-norm front end (HuBERT, WavLM and UniSpeech-SAT base).
_BASE_GROUP = {k: v for k, v in BASE_CONFIG.items()}
# Pre-norm ("stable layer norm") large models with a layer-norm front end.
_LARGE_LAYER = {k: v for k, v in LARGE_CONFIG.items()}
_LARGE_SIZE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}

MMS_1B: dict[str, object] = {**_LARGE_LAYER, "hidden_size": 1280, "num_hidden_layers": 48, "intermediate_size": 5120}
WAVLM_LARGE: dict[str, object] = {**_LARGE_LAYER, "conv_bias": False}
DATA2VEC_BASE: dict[str, object] = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                    "intermediate_size": 3072}
DATA2VEC_LARGE: dict[str, object] = dict(_LARGE_SIZE)
CONFORMER_LARGE: dict[str, object] = {**_LARGE_SIZE, "feat_extract_norm": "layer", "conv_bias": True,
                                      "position_embeddings_type": "relative", "conv_depthwise_kernel_size": 31}
W2V_BERT_2: dict[str, object] = {**_LARGE_SIZE, "feature_projection_input_dim": 160,
                                 "position_embeddings_type": "relative_key", "conv_depthwise_kernel_size": 31,
                                 "add_adapter": False}

SSL = "self-supervised"


def transformers_spec(
    name: str, model_type: str, checkpoint: str, languages: str, config: dict[str, object],
    pretraining: str = SSL, notes: str = "",
) -> ModelSpec:
    """A registry entry for a transformers encoder; states × dim come from the config."""
    if model_type == "whisper":
        layers, dim = int(config["encoder_layers"]), int(config["d_model"])
        family = "whisper"
    else:
        layers, dim = int(config["num_hidden_layers"]), int(config["hidden_size"])
        family = "w2v-bert-2.0" if model_type == "wav2vec2-bert" else model_type
    return ModelSpec(name, family, checkpoint, pretraining, languages, layers + 1, dim, notes=notes,
                     extra=dict(config), model_type=model_type)


FAMILY_SPECS: tuple[ModelSpec, ...] = (
    transformers_spec("hubert-base", "hubert", "facebook/hubert-base-ls960", "en", _BASE_GROUP),
    transformers_spec("hubert-large", "hubert", "facebook/hubert-large-ll60k", "en", _LARGE_LAYER),
    transformers_spec("wavlm-base-plus", "wavlm", "microsoft/wavlm-base-plus", "en", _BASE_GROUP),
    transformers_spec("wavlm-large", "wavlm", "microsoft/wavlm-large", "en", WAVLM_LARGE),
    transformers_spec("data2vec-audio-base", "data2vec-audio", "facebook/data2vec-audio-base", "en", DATA2VEC_BASE),
    transformers_spec("data2vec-audio-large", "data2vec-audio", "facebook/data2vec-audio-large", "en",
                      DATA2VEC_LARGE),
    transformers_spec("unispeech-sat-base-plus", "unispeech-sat", "microsoft/unispeech-sat-base-plus", "en",
                      _BASE_GROUP),
    transformers_spec("unispeech-sat-large", "unispeech-sat", "microsoft/unispeech-sat-large", "en", _LARGE_LAYER),
    transformers_spec("wav2vec2-conformer-large", "wav2vec2-conformer", "facebook/wav2vec2-conformer-rel-pos-large",
                      "en", CONFORMER_LARGE),
    transformers_spec("w2v-bert-2.0", "wav2vec2-bert", "facebook/w2v-bert-2.0", "multi", W2V_BERT_2,
                      notes="160-dim stacked log-mel filterbank input"),
    transformers_spec("mms-300m", "wav2vec2", "facebook/mms-300m", "multi", _LARGE_LAYER,
                      notes="Wav2Vec 2.0 large architecture, 1400+ languages"),
    transformers_spec("mms-1b", "wav2vec2", "facebook/mms-1b", "multi", MMS_1B,
                      notes="Wav2Vec 2.0 architecture, 48 blocks × 1280, 1400+ languages"),
    transformers_spec("whisper-large-v3-turbo", "whisper", "openai/whisper-large-v3-turbo", "multi",
                      {**LARGE_V3_ENCODER, "decoder_layers": 4}, pretraining="weakly supervised",
                      notes="transformers format; encoder of large-v3, 4-block decoder"),
    transformers_spec("distil-large-v3", "whisper", "distil-whisper/distil-large-v3", "en",
                      {**LARGE_V3_ENCODER, "decoder_layers": 2}, pretraining="weakly supervised",
                      notes="transformers format; large-v3 encoder, distilled on English"),
)
