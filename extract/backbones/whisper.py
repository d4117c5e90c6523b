"""Whisper encoders through openai-whisper: every block's output, with ``pad30`` or ``trim`` input.

``pad30`` (default, as in pre-training) pads each 30 s window to 3000 log-mel frames and keeps the encoder
frames that cover real audio (50 per second); ``trim`` feeds only the real length, slicing the positional
embedding. Clips longer than 30 s are cut into 30 s windows whose frames are concatenated.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import whisper
from whisper.audio import HOP_LENGTH, N_FFT, N_SAMPLES
from whisper.model import ModelDimensions, Whisper

from extract.backbones.base import Backbone, ModelSpec, resolve_device, to_device

WHISPER_INPUTS: tuple[str, ...] = ("pad30", "trim")
SAMPLES_PER_FRAME = 2 * HOP_LENGTH  # conv2 has stride 2 over 10 ms mel frames: 20 ms, 50 frames per second

# (n_mels, state, heads, layers, vocab) of each size, for random-weight models built from configs.
_DIMS: dict[str, tuple[int, int, int, int, int]] = {
    "tiny.en": (80, 384, 6, 4, 51864),
    "tiny": (80, 384, 6, 4, 51865),
    "base.en": (80, 512, 8, 6, 51864),
    "base": (80, 512, 8, 6, 51865),
    "small.en": (80, 768, 12, 12, 51864),
    "small": (80, 768, 12, 12, 51865),
    "medium.en": (80, 1024, 16, 24, 51864),
    "medium": (80, 1024, 16, 24, 51865),
    "large-v3": (128, 1280, 20, 32, 51866),
}


def whisper_dims(size: str) -> ModelDimensions:
    """openai-whisper's dimensions of a model size (e.g. "small.en")."""
    n_mels, state, heads, layers, vocab = _DIMS[size]
    return ModelDimensions(
        n_mels=n_mels,
        n_audio_ctx=1500,
        n_audio_state=state,
        n_audio_head=heads,
        n_audio_layer=layers,
        n_vocab=vocab,
        n_text_ctx=448,
        n_text_state=state,
        n_text_head=heads,
        n_text_layer=layers,
    )


def random_whisper(size: str, seed: int = 0) -> Whisper:
    """A Whisper model of the real architecture with seeded random weights."""
    torch.manual_seed(seed)
    model = Whisper(whisper_dims(size)).eval()
    with torch.no_grad():  # openai-whisper leaves this one as torch.empty (it is always loaded from a checkpoint)
        torch.nn.init.normal_(model.decoder.positional_embedding, std=0.01)
    return model


def download_whisper(size: str, device: torch.device) -> Whisper:
    """The official openai-whisper checkpoint (downloaded to whisper's cache on first use)."""
    return whisper.load_model(size, device=str(device))


def whisper_checksum(size: str) -> str:
    """The sha256 prefix openai-whisper checks its download against (part of the checkpoint URL)."""
    url = whisper._MODELS.get(size, "")
    parts = url.split("/")
    return parts[-2][:16] if len(parts) > 2 else ""


class WhisperBackbone(Backbone):
    """All L+1 encoder states of an openai-whisper model.

    ``batch_windows``: the most 30 s windows per encoder call. ``None`` (default) follows the caller's batch: a
    call with ``n`` clips runs its windows ``n`` at a time, so the extraction's ``--batch-size`` sets the encoder
    batch (clips up to 30 s are one window each: one encoder call per batch).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        *,
        checkpoint: str,
        weights: str,
        whisper_input: str = "pad30",
        device: str | torch.device | None = None,
        precision: str = "fp32",
        batch_windows: int | None = None,
    ) -> None:
        if whisper_input not in WHISPER_INPUTS:
            raise ValueError(f"whisper_input must be one of {WHISPER_INPUTS}, got {whisper_input!r}")
        if batch_windows is not None and batch_windows < 1:
            raise ValueError(f"batch_windows must be at least 1 (or None: the caller's batch), got {batch_windows}")
        self.device = resolve_device(device)
        self.spec = spec
        self.checkpoint = checkpoint
        self.weights = weights
        self.whisper_input = whisper_input
        self.precision = precision
        self.batch_windows = batch_windows
        self._attach(model)
        self.params = sum(p.numel() for p in self.encoder.parameters())

    def _attach(self, model: torch.nn.Module) -> None:
        """Put the network on the device in eval mode and set ``model``, ``encoder`` and ``n_mels``."""
        self.model = model.to(self.device).eval()
        self.encoder = self.model.encoder
        self.n_mels = self.model.dims.n_mels

    @property
    def n_states(self) -> int:
        return len(self.encoder.blocks) + 1

    @property
    def dim(self) -> int:
        return self.model.dims.n_audio_state

    def n_frames(self, n_samples: int) -> int:
        return sum(math.ceil(len(w) / SAMPLES_PER_FRAME) for w in _windows(np.empty(n_samples)))

    def group_key(self, n_samples: int) -> Hashable:
        # pad30: every window is 30 s of mel, so any clips batch together; trim: equal lengths only.
        return "pad30" if self.whisper_input == "pad30" else n_samples

    def attrs(self) -> dict[str, object]:
        return {**super().attrs(), "whisper_input": self.whisper_input}

    def log_mel(self, window: np.ndarray) -> torch.Tensor:
        """Log-mel input of one ≤ 30 s window: padded to 3000 frames (pad30) or of its own length (trim)."""
        audio = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))
        if self.whisper_input == "pad30":
            audio = whisper.pad_or_trim(audio, N_SAMPLES)
        else:  # trim: zero-pad to whole encoder frames (< 20 ms) so the frame count is ceil(n / 320)
            target = max(SAMPLES_PER_FRAME * math.ceil(audio.numel() / SAMPLES_PER_FRAME), N_FFT)
            audio = F.pad(audio, (0, target - audio.numel()))
        return whisper.log_mel_spectrogram(audio, self.n_mels)

    def encode_states(self, mel: torch.Tensor) -> torch.Tensor:
        """Encoder states ``(n_states, batch, frames, dim)`` for a log-mel batch ``(batch, n_mels, T)``."""
        enc = self.encoder
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = (x + enc.positional_embedding[: x.shape[1]]).to(x.dtype)
        states = [x]
        for block in enc.blocks:
            x = block(x)
            states.append(x)
        states[-1] = enc.ln_post(x)
        return torch.stack(states)

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        windows: list[np.ndarray] = []
        owner: list[int] = []
        for i, wave in enumerate(waves):
            for window in _windows(wave):
                windows.append(window)
                owner.append(i)
        pieces: list[torch.Tensor] = []
        step = self.batch_windows or max(1, len(waves))
        for start in range(0, len(windows), step):
            chunk = windows[start : start + step]
            mel = to_device(torch.stack([self.log_mel(w) for w in chunk]), self.device)
            states = self.encode_states(mel)
            for j, window in enumerate(chunk):
                pieces.append(states[:, j, : math.ceil(len(window) / SAMPLES_PER_FRAME)])
        return [torch.cat([p for p, o in zip(pieces, owner) if o == i], dim=1) for i in range(len(waves))]


def _windows(wave: np.ndarray) -> list[np.ndarray]:
    """Consecutive 30 s windows of a clip (the last one shorter); a clip is never dropped."""
    return [wave[start : start + N_SAMPLES] for start in range(0, max(len(wave), 1), N_SAMPLES)]
