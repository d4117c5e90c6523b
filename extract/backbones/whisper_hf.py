"""Whisper checkpoints in transformers format (fine-tuned, distilled, large-v3-turbo), by hub id.

Only the ``WhisperModel`` encoder is kept. Its states follow the suite's convention exactly as the
openai-whisper path does (state 0 = convolutional front end plus positional embedding, state l = output of
block l, last = after the encoder's final LayerNorm), with the same log-mel input (openai-whisper's
``log_mel_spectrogram``), the same ``pad30``/``trim`` choice and the same 30 s windows, so the same weights give
the same states on either path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # transformers loads when such a model is built: an openai-whisper run never imports it
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

from extract.backbones.hub import hub_offline
from extract.backbones.wav2vec2 import no_training_randomness
from extract.backbones.whisper import WhisperBackbone

# Encoder (and decoder size, for the record) of the registered transformers-format Whisper checkpoints.
LARGE_V3_ENCODER: dict[str, object] = {
    "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120,
    "num_mel_bins": 128, "max_source_positions": 1500, "vocab_size": 51866,
}  # fmt: skip


def random_whisper_encoder(overrides: dict[str, object], seed: int = 0) -> WhisperEncoder:
    """A transformers ``WhisperEncoder`` of the given config with seeded random weights."""
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(seed)
    return WhisperEncoder(WhisperConfig(**overrides)).eval()


def download_whisper_encoder(checkpoint: str) -> WhisperEncoder:
    """The encoder of a transformers-format Whisper checkpoint (hub download or local cache)."""
    from transformers import WhisperModel

    return WhisperModel.from_pretrained(checkpoint, local_files_only=hub_offline()).get_encoder().eval()


class HFWhisperBackbone(WhisperBackbone):
    """All L+1 states of a transformers ``WhisperEncoder`` (the first argument, in place of openai-whisper's
    model), through the same input path and constructor options as :class:`WhisperBackbone`."""

    def _attach(self, model: torch.nn.Module) -> None:
        """Put the ``WhisperEncoder`` on the device without training randomness; set ``encoder`` and ``n_mels``."""
        self.encoder = no_training_randomness(model).to(self.device)
        self.model = self.encoder
        self.config: Any = self.encoder.config
        self.n_mels = int(self.config.num_mel_bins)

    @property
    def n_states(self) -> int:
        return len(self.encoder.layers) + 1

    @property
    def dim(self) -> int:
        return int(self.config.d_model)

    def attrs(self) -> dict[str, object]:
        return {**super().attrs(), "model_type": "whisper"}

    def encoder_states(self, mel: torch.Tensor, frames: int | None = None) -> list[torch.Tensor]:
        """The L+1 encoder states, each ``(batch, frames, dim)``, for a log-mel batch ``(batch, n_mels, T)``; every
        frame of every state whatever ``frames`` asks (the transformers layers run whole)."""
        enc = self.encoder
        if enc.training:
            enc.eval()
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = (x + enc.embed_positions.weight[: x.shape[1]]).to(x.dtype)
        states = [x]
        for layer in enc.layers:
            out = layer(x, attention_mask=None)
            x = out[0] if isinstance(out, tuple) else out
            states.append(x)
        states[-1] = enc.layer_norm(x)
        return states
