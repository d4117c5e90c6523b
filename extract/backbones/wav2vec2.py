"""Wav2Vec 2.0, XLS-R, HuBERT and WavLM encoders through transformers.

The states are captured with hooks on the encoder's blocks rather than taken from ``hidden_states``:
transformers 5 changed what ``hidden_states[-1]`` holds for stable-layer-norm models. State 0 is the input of
the first block, state l the output of block l, and the last state is the model's own ``last_hidden_state``
(after the final LayerNorm where the architecture has one).

Checkpoints whose feature extractor uses group norm (wav2vec2-base, the original large) change their output
when a clip is zero-padded, so they are only ever batched with clips of equal length.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel, Wav2Vec2FeatureExtractor

from extract.backbones.base import Backbone, ModelSpec, resolve_device

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


def random_wav2vec2(overrides: dict[str, object], seed: int = 0) -> PreTrainedModel:
    """A Wav2Vec 2.0 model of the real architecture with seeded random weights."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed)
    return Wav2Vec2Model(Wav2Vec2Config(**overrides)).eval()


def download_wav2vec2(checkpoint: str) -> tuple[PreTrainedModel, Wav2Vec2FeatureExtractor | None]:
    """A pre-trained model from the Hugging Face hub (or its local cache) and its feature extractor."""
    model = AutoModel.from_pretrained(checkpoint).eval()
    try:
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(checkpoint)
    except (OSError, ValueError):
        extractor = None
    return model, extractor


def default_extractor(config: PretrainedConfig) -> Wav2Vec2FeatureExtractor:
    """The input normaliser a checkpoint of this config ships with (zero mean, unit variance per clip)."""
    layer_norm = getattr(config, "feat_extract_norm", "group") == "layer"
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=layer_norm
    )


def hub_config(checkpoint: str) -> PretrainedConfig:
    """The configuration of a hub checkpoint (small download, or from the local cache)."""
    return AutoConfig.from_pretrained(checkpoint)


class Wav2Vec2Backbone(Backbone):
    """All L+1 encoder states of a transformers speech encoder of the Wav2Vec 2.0 family."""

    def __init__(
        self,
        model: PreTrainedModel,
        spec: ModelSpec,
        *,
        checkpoint: str,
        weights: str,
        extractor: Wav2Vec2FeatureExtractor | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.extractor = extractor or default_extractor(self.config)
        self.spec = spec
        self.checkpoint = checkpoint
        self.weights = weights
        self.precision = precision
        self.layers = self.model.encoder.layers
        self.group_norm = getattr(self.config, "feat_extract_norm", "group") == "group"

    @property
    def n_states(self) -> int:
        return len(self.layers) + 1

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    def n_frames(self, n_samples: int) -> int:
        return int(self.model._get_feat_extract_output_lengths(n_samples))

    def group_key(self, n_samples: int) -> Hashable:
        return n_samples if self.group_norm else "padded"

    def attrs(self) -> dict[str, object]:
        return {**super().attrs(), "feat_extract_norm": "group" if self.group_norm else "layer"}

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        inputs = self.extractor(
            [np.asarray(w, dtype=np.float32) for w in waves],
            sampling_rate=16000,
            padding=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        values = inputs["input_values"].to(self.device)
        mask = inputs["attention_mask"].to(self.device) if not self.group_norm else None
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
            raise RuntimeError(f"{self.name}: captured {len(captured)} states, expected {self.n_states}")
        captured[-1] = out.last_hidden_state
        states = torch.stack(captured)  # (n_states, batch, frames, dim)
        return [states[:, i, : self.n_frames(len(w))] for i, w in enumerate(waves)]
