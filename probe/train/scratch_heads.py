"""Models trained from scratch on log-mel frames (``logmel-128`` caches): the Audio Spectrogram Transformer and an
AlexNet-style CNN. They are heads in the probe interface (``embed``/``classify``), so the ordinary runner trains,
selects and records them; :mod:`probe.train.baselines` sets their inputs and training settings.

Input handling (after the AST paper, Gong et al., Interspeech 2021), :class:`SpectrogramInput`:

* a fixed target length of ``target_frames`` frames covering the corpus's clips (its longest clip, capped by the
  settings): longer clips are cut to their first ``target_frames`` frames, as AST's data loader does, shorter ones
  padded;
* dataset normalisation with one mean and one standard deviation computed on the training part's frames:
  ``(x - mean) / (2 · std)`` as in AST; padded frames are set to 0 after normalisation (the training mean);
* in training mode only, SpecAugment masking as in AST: one frequency band of width drawn from ``[0, freqm)`` and
  one time span of width drawn from ``[0, timem)`` per clip, set to 0 after normalisation. The draws come from
  torch's generator, so a seeded run is deterministic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from probe.train.head_layers import Dropout
from probe.train.heads import BaselineHead


@dataclass(frozen=True)
class ASTSize:
    """Transformer dimensions of an AST (patch 16×16, stride 10 in both axes, as in the AST paper)."""

    layers: int = 12
    hidden: int = 768
    heads: int = 12
    intermediate: int = 3072


AST_SIZES: dict[str, ASTSize] = {
    "ast": ASTSize(),  # the AST paper's (DeiT-base) size, 12 × 768
    "ast-small": ASTSize(layers=2, hidden=64, heads=4, intermediate=256),  # CPU-sized: the same input handling
}


class SpectrogramInput(nn.Module):
    """Fixed length, dataset normalisation and (in training) frequency/time masking of padded log-mel batches."""

    def __init__(self, n_mels: int, target_frames: int, freqm: int, timem: int) -> None:
        super().__init__()
        self.n_mels, self.target_frames, self.freqm, self.timem = n_mels, target_frames, freqm, timem
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("scale", torch.ones(()))

    def set(self, mean: float, std: float) -> None:
        """Normalise as ``(x - mean) / (2 · std)`` (AST's dataset normalisation)."""
        self.mean.fill_(float(mean))
        self.scale.fill_(1.0 / (2.0 * max(float(std), 1e-5)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``(B, T, n_mels)`` (any float dtype) + mask → ``(B, target_frames, n_mels)`` float32."""
        b, t, _ = x.shape
        x = (x.float() - self.mean) * self.scale
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), x, torch.zeros((), dtype=x.dtype, device=x.device))
        if t >= self.target_frames:
            x = x[:, : self.target_frames]
        else:
            x = nn.functional.pad(x, (0, 0, 0, self.target_frames - t))
        if self.training and (self.freqm > 0 or self.timem > 0):
            x = x * self._masks(b, x.device)
        return x

    def _masks(self, b: int, device: torch.device) -> torch.Tensor:
        """Multiplicative masks ``(B, T, F)``: one frequency band and one time span of random width per clip."""
        keep = torch.ones(b, self.target_frames, self.n_mels, device=device)
        for axis, limit, size in ((2, self.freqm, self.n_mels), (1, self.timem, self.target_frames)):
            if limit <= 0:
                continue
            width = torch.randint(0, min(limit, size), (b,)).tolist()
            start = [int(torch.randint(0, size - w + 1, ()).item()) for w in width]
            for i, (s, w) in enumerate(zip(start, width)):
                if axis == 2:
                    keep[i, :, s : s + w] = 0
                else:
                    keep[i, s : s + w, :] = 0
        return keep


class ASTHead(BaselineHead):
    """An Audio Spectrogram Transformer (``transformers``' ``ASTModel``, random initialisation), classified from
    the mean of its CLS and distillation tokens through LayerNorm + Linear (``ASTForAudioClassification``'s head)."""

    name = "ast"

    def __init__(self, n_mels: int, n_classes: int, target_frames: int, size: ASTSize, freqm: int,
                 timem: int) -> None:
        super().__init__()
        from transformers import ASTConfig, ASTModel

        if target_frames < 16:
            raise ValueError(f"AST needs at least 16 frames (one patch), got target_frames={target_frames}")
        self.input = SpectrogramInput(n_mels, target_frames, freqm, timem)
        self.config = ASTConfig(
            hidden_size=size.hidden, num_hidden_layers=size.layers, num_attention_heads=size.heads,
            intermediate_size=size.intermediate, patch_size=16, frequency_stride=10, time_stride=10,
            max_length=target_frames, num_mel_bins=n_mels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            layer_norm_eps=1e-6,  # the AST code's (timm's ViT); transformers' default 1e-12 gives NaN gradients
        )                         # on the constant patches of padded and masked regions
        self.model = ASTModel(self.config)
        emb = self.model.embeddings  # transformers leaves these at zero; AST (DeiT) draws them, std 0.02
        for param in (emb.cls_token, emb.distillation_token, emb.position_embeddings):
            nn.init.trunc_normal_(param, std=0.02)
        self.norm = nn.LayerNorm(size.hidden, eps=self.config.layer_norm_eps)
        self.phi = nn.Linear(size.hidden, n_classes)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_values=self.input(x, mask)).pooler_output

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(self.norm(z))

    def describe(self) -> dict[str, Any]:
        """The architecture as recorded in the run's configuration."""
        keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "patch_size",
                "frequency_stride", "time_stride", "max_length", "num_mel_bins")
        n_params = sum(p.numel() for p in self.parameters())
        return {"architecture": "transformers.ASTModel (random init)", **{k: getattr(self.config, k) for k in keys},
                "n_patches": self.n_patches, "n_parameters": n_params}

    @property
    def n_patches(self) -> int:
        c = self.config
        return ((c.num_mel_bins - 16) // 10 + 1) * ((c.max_length - 16) // 10 + 1)


@dataclass(frozen=True)
class CNNSize:
    """Widths of the AlexNet-style CNN: five convolution layers, then three fully connected ones."""

    channels: tuple[int, int, int, int, int] = (64, 192, 384, 256, 256)
    fc: int = 4096
    dropout: float = 0.5


class SpectrogramCNNHead(BaselineHead):
    """AlexNet on a one-channel log-mel image: conv 11×11/4 → pool → conv 5×5 → pool → conv 3×3 ×3 → pool, ReLU
    after every convolution; adaptive average pooling to 6×6; FC → FC (ReLU, dropout) → classifier."""

    name = "cnn"

    def __init__(self, n_mels: int, n_classes: int, target_frames: int, size: CNNSize, freqm: int,
                 timem: int) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = size.channels
        self.size = size
        self.input = SpectrogramInput(n_mels, target_frames, freqm, timem)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.AdaptiveAvgPool2d((6, 6)),
        )
        self.fc = nn.Sequential(
            Dropout(size.dropout), nn.Linear(c5 * 36, size.fc), nn.ReLU(),
            Dropout(size.dropout), nn.Linear(size.fc, size.fc), nn.ReLU(),
        )
        self.phi = nn.Linear(size.fc, n_classes)

    def embed(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        image = self.input(x, mask).transpose(1, 2).unsqueeze(1)  # (B, 1, mels, frames)
        return self.fc(self.features(image).flatten(1))

    def classify(self, z: torch.Tensor) -> torch.Tensor:
        return self.phi(z)

    def describe(self) -> dict[str, Any]:
        """The architecture as recorded in the run's configuration."""
        return {"architecture": "AlexNet-style CNN (5 conv + 3 FC, ReLU)", **asdict(self.size),
                "n_parameters": sum(p.numel() for p in self.parameters())}
