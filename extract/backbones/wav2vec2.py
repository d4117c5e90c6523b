"""Self-supervised speech encoders through transformers: Wav2Vec 2.0, XLS-R, MMS, HuBERT, WavLM, data2vec-audio,
UniSpeech-SAT, Wav2Vec2-Conformer and w2v-BERT 2.0.

The states are captured with hooks on the encoder's blocks rather than taken from ``hidden_states``:
transformers 5 changed what ``hidden_states[-1]`` holds for stable-layer-norm models. State 0 is the input of
the first block, state l the output of block l, and the last state is the model's own ``last_hidden_state``
(after the final LayerNorm where the architecture has one). Layer drop and SpecAugment masking are switched
off in the config and the model is kept in eval mode, so every forward yields the same number of states.

Checkpoints whose feature extractor uses group norm (wav2vec2-base, the original large, HuBERT/WavLM base),
data2vec-audio and Wav2Vec2-Conformer change their output when a clip is zero-padded, so they are only ever
batched with clips of equal length.
w2v-BERT 2.0 takes 160-dim stacked log-mel filterbanks (its own ``SeamlessM4TFeatureExtractor``), not samples.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # transformers loads when a model of these families is built: a Whisper run never imports it
    from transformers import PretrainedConfig, PreTrainedModel

from extract.backbones.base import Backbone, ModelSpec, resolve_device, to_device
from extract.backbones.hub import hub_offline

W2V_BERT = "wav2vec2-bert"  # transformers' model_type of w2v-BERT 2.0
# Families whose features do not change when a clip is zero-padded in a batch (with an attention mask), as long
# as the front end uses layer norm; measured and tested. data2vec-audio's convolutional positional embedding and
# the Conformer's convolution module see the padding, so those batch equal lengths only.
PADDING_SAFE: frozenset[str] = frozenset({"wav2vec2", "hubert", "wavlm", "unispeech-sat", W2V_BERT})

# Full-size configurations of the named checkpoints, for random-weight controls built offline.
BASE_CONFIG: dict[str, object] = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "feat_extract_norm": "group",
    "do_stable_layer_norm": False,
    "conv_bias": False,
}
LARGE_CONFIG: dict[str, object] = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "feat_extract_norm": "layer",
    "do_stable_layer_norm": True,
    "conv_bias": True,
}


def random_transformers(model_type: str, overrides: dict[str, object], seed: int = 0) -> PreTrainedModel:
    """A transformers encoder (``model_type`` such as "hubert") of the real architecture, seeded random weights."""
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(seed)
    return AutoModel.from_config(AutoConfig.for_model(model_type, **overrides)).eval()


def random_wav2vec2(overrides: dict[str, object], seed: int = 0) -> PreTrainedModel:
    """A Wav2Vec 2.0 model of the real architecture with seeded random weights."""
    return random_transformers("wav2vec2", overrides, seed)


def download_wav2vec2(checkpoint: str) -> tuple[PreTrainedModel, Any]:
    """A pre-trained model from the Hugging Face hub (or its local cache) and its feature extractor."""
    from transformers import AutoModel, SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor

    model = AutoModel.from_pretrained(checkpoint, local_files_only=hub_offline()).eval()
    loader = SeamlessM4TFeatureExtractor if model.config.model_type == W2V_BERT else Wav2Vec2FeatureExtractor
    try:
        extractor = loader.from_pretrained(checkpoint, local_files_only=hub_offline())
    except (OSError, ValueError):
        extractor = None
    return model, extractor


def group_norm(config: PretrainedConfig) -> bool:
    """Whether the convolutional front end uses group norm (then padding changes a clip's features)."""
    return getattr(config, "feat_extract_norm", "layer") == "group"


def default_extractor(config: PretrainedConfig) -> Any:
    """The input processing a checkpoint of this config ships with: per-clip zero mean and unit variance of the
    samples, or (w2v-BERT 2.0) 80 log-mel filterbanks stacked in pairs to 160 dims, normalised per bin."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2FeatureExtractor

    if config.model_type == W2V_BERT:
        return SeamlessM4TFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=16000, stride=2)
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
        return_attention_mask=not group_norm(config),
    )


def no_training_randomness(model: PreTrainedModel) -> PreTrainedModel:
    """Eval mode, layer drop 0 and no SpecAugment masking, so a forward is deterministic and keeps every block."""
    for key in ("layerdrop", "encoder_layerdrop"):
        if hasattr(model.config, key):
            setattr(model.config, key, 0.0)
    if hasattr(model.config, "apply_spec_augment"):
        model.config.apply_spec_augment = False
    return model.eval()


def hub_config(checkpoint: str) -> PretrainedConfig:
    """The configuration of a hub checkpoint (small download, or from the local cache)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(checkpoint, local_files_only=hub_offline())


class Wav2Vec2Backbone(Backbone):
    """All L+1 encoder states of a transformers speech encoder of the Wav2Vec 2.0 lineage (any model whose base
    model has ``encoder.layers``: Wav2Vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech-SAT, Conformer, w2v-BERT)."""

    def __init__(
        self,
        model: PreTrainedModel,
        spec: ModelSpec,
        *,
        checkpoint: str,
        weights: str,
        extractor: Any = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        if getattr(model.config, "add_adapter", False):
            raise ValueError(f"{spec.name}: this checkpoint has a downsampling adapter after the encoder (add_adapter="
                             "True), so its final state has fewer frames than its blocks; load the base checkpoint")
        self.device = resolve_device(device)
        self.model = no_training_randomness(model).to(self.device)
        self.config = model.config
        self.features = self.config.model_type == W2V_BERT  # filterbank input instead of samples
        self.extractor = extractor or default_extractor(self.config)
        self.spec = spec
        self.checkpoint = checkpoint
        self.weights = weights
        self.precision = precision
        self.layers = self.model.encoder.layers
        self.group_norm = group_norm(self.config)
        self.padding_safe = not self.group_norm and self.config.model_type in PADDING_SAFE
        self.params = sum(p.numel() for p in self.model.parameters())

    @property
    def n_states(self) -> int:
        return len(self.layers) + 1

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    def n_frames(self, n_samples: int) -> int:
        if self.features:  # 25 ms windows every 10 ms (no centring), then pairs of windows: 20 ms frames
            return max(0, (n_samples - 400) // 160 + 1) // 2
        return int(self.model._get_feat_extract_output_lengths(n_samples))

    def group_key(self, n_samples: int) -> Hashable:
        return "padded" if self.padding_safe else n_samples

    def batch_plan(self, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
        """Padding-safe models (layer-norm front end, attention mask): length-bucketed batches, clips sorted by
        length so that each batch pads little. Group-norm models batch only clips of equal length (their key)."""
        return self.length_bucketed(lengths, batch_size)

    def attrs(self) -> dict[str, object]:
        norm = "fbank" if self.features else "group" if self.group_norm else "layer"
        return {**super().attrs(), "feat_extract_norm": norm, "model_type": self.config.model_type}

    def _inputs(self, waves: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor | None]:
        inputs = self.extractor(
            [np.asarray(w, dtype=np.float32) for w in waves],
            sampling_rate=16000,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        values = to_device(inputs["input_features" if self.features else "input_values"], self.device)
        mask = to_device(inputs["attention_mask"], self.device) if not self.group_norm else None
        return values, mask

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        values, mask = self._inputs(waves)
        if self.model.training:  # someone switched it back: dropout and layer drop must stay off
            self.model.eval()
        captured: list[torch.Tensor] = []

        def grab_input(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            captured.append(args[0] if args else kwargs["hidden_states"])

        def grab_output(_module: torch.nn.Module, _args: tuple, output: object) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)

        handles = [self.layers[0].register_forward_pre_hook(grab_input, with_kwargs=True)]
        handles += [layer.register_forward_hook(grab_output) for layer in self.layers]
        try:
            out = self.model(values, attention_mask=mask)
        finally:
            for handle in handles:
                handle.remove()
        if len(captured) != self.n_states:
            raise RuntimeError(f"{self.name}: captured {len(captured)} states, expected {self.n_states} "
                               "(layer drop or a skipped block)")
        captured[-1] = out.last_hidden_state
        states = torch.stack(captured)  # (n_states, batch, frames, dim)
        return [states[:, i, : self.n_frames(len(w))] for i, w in enumerate(waves)]
