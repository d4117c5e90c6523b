"""``logmel-128``: 128-bin log-mel frames as a one-state "model", the input of the from-scratch baselines.

The frames are openai-whisper's ``log_mel_spectrogram(audio, n_mels=128)``: a 400-sample (25 ms) periodic Hann
window, 160-sample (10 ms) hop, centred (reflect-padded) STFT, power spectrum, the Slaney-style 128-band mel filter
bank of librosa (0–8 kHz), ``log10(max(·, 1e-10))``, clamped to the clip's maximum minus 8 (an 80 dB dynamic
range), then ``(x + 4) / 4``. Whisper drops the STFT's last frame, so a clip of ``n`` samples gives ``n // 160``
frames (100 per second); clips shorter than one window are zero-padded to 400 samples first.

The cache has one state (``layers/00``, ``(total_frames, 128)``) and ``pooled/mean`` is the clip's mean log-mel
spectrum. No weights, no device: the computation is the same everywhere (CPU).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import torch
import whisper
from whisper.audio import HOP_LENGTH, N_FFT

from extract.backbones.base import ModelSpec, OneStateBackbone

N_MELS = 128
FRAME_RATE = 16000 / HOP_LENGTH  # 100 frames per second

LOGMEL_SPEC = ModelSpec(
    "logmel-128", "spectrogram", f"whisper.log_mel_spectrogram(n_mels={N_MELS})", "none", "none", 1, N_MELS,
    notes="128-bin log-mel frames (25 ms window, 10 ms hop); the input of the AST and CNN baselines",
)


def logmel_frames(wave: np.ndarray, n_mels: int = N_MELS) -> torch.Tensor:
    """Log-mel frames ``(n_frames, n_mels)`` float32 of a 16 kHz clip (``n_frames = max(n, 400) // 160``)."""
    audio = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    if audio.numel() < N_FFT:
        audio = torch.nn.functional.pad(audio, (0, N_FFT - audio.numel()))
    return whisper.log_mel_spectrogram(audio, n_mels).T.contiguous()


class LogMelBackbone(OneStateBackbone):
    """A fixed feature transform in the backbone interface: one state of 128 log-mel bins, 100 frames/s."""

    frame_rate = FRAME_RATE

    def __init__(self, spec: ModelSpec = LOGMEL_SPEC) -> None:
        super().__init__(spec, spec.checkpoint)

    def n_frames(self, n_samples: int) -> int:
        return max(n_samples, N_FFT) // HOP_LENGTH

    def group_key(self, n_samples: int) -> Hashable:
        return "logmel"  # clips are transformed one by one: any of them may share a batch

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        return [logmel_frames(w, self.dim).unsqueeze(0) for w in waves]

    def attrs(self) -> dict[str, object]:
        return {**super().attrs(), "window": N_FFT, "hop": HOP_LENGTH, "n_mels": self.dim,
                "scaling": "log10 power mel, clamped to clip max - 8, then (x + 4) / 4 (openai-whisper)"}
