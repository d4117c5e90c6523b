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
from whisper.audio import HOP_LENGTH, N_FFT, N_SAMPLES, mel_filters
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
        """Log-mel input of one ≤ 30 s window on the CPU: padded to 3000 frames (pad30) or of its own length (trim).
        openai-whisper's own computation, one window at a time: the reference :meth:`log_mel_batch` is tested
        against."""
        audio = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))
        audio = F.pad(audio, (0, self._input_samples(len(window)) - audio.numel()))
        return whisper.log_mel_spectrogram(audio, self.n_mels)

    def _input_samples(self, n_samples: int) -> int:
        """Samples a window of ``n_samples`` is zero-padded to: 30 s (pad30), or whole encoder frames (trim, so
        that the frame count is ``ceil(n / 320)``, at least one STFT window)."""
        if self.whisper_input == "pad30":
            return N_SAMPLES
        return max(SAMPLES_PER_FRAME * math.ceil(n_samples / SAMPLES_PER_FRAME), N_FFT)

    def log_mel_batch(self, windows: Sequence[np.ndarray]) -> torch.Tensor:
        """Log-mel inputs ``(batch, n_mels, T)`` of windows that pad to the same length, computed on the model's
        device in one batched STFT (the samples cross to the device once, through pinned memory on CUDA);
        equal to :meth:`log_mel` window by window (tested)."""
        size = self._input_samples(len(windows[0]))
        audio = np.zeros((len(windows), size), dtype=np.float32)
        for row, window in enumerate(windows):
            audio[row, : len(window)] = window
        return batched_log_mel(to_device(torch.from_numpy(audio), self.device), self.n_mels)

    def encoder_states(self, mel: torch.Tensor, frames: int | None = None) -> list[torch.Tensor]:
        """The L+1 encoder states, each ``(batch, frames, dim)``, for a log-mel batch ``(batch, n_mels, T)``.

        ``frames``: only the first ``frames`` encoder frames of each state are needed (pad30: those covering real
        audio). On the CPU in float32 the last block then runs on fewer frames (:func:`last_block_leading`), so the
        last state may hold fewer frames than the others, never fewer than ``frames``; the values are the same.
        """
        enc = self.encoder
        x = F.gelu(enc.conv1(mel))
        x = F.gelu(enc.conv2(x)).permute(0, 2, 1)
        x = (x + enc.positional_embedding[: x.shape[1]]).to(x.dtype)
        states = [x]
        lead = frames is not None and self.device.type == "cpu" and self.precision == "fp32"
        for i, block in enumerate(enc.blocks):
            x = last_block_leading(block, x, frames) if lead and i == len(enc.blocks) - 1 else block(x)
            states.append(x)
        states[-1] = enc.ln_post(x)
        return states

    def encode_states(self, mel: torch.Tensor) -> torch.Tensor:
        """Encoder states stacked, ``(n_states, batch, frames, dim)``, for a log-mel batch (every frame)."""
        return torch.stack(self.encoder_states(mel))

    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        windows: list[np.ndarray] = []
        owner: list[int] = []
        for i, wave in enumerate(waves):
            for window in _windows(wave):
                windows.append(window)
                owner.append(i)
        # Windows that pad to the same input length share an encoder call (pad30: all; trim: equal lengths, so a
        # clip's shorter last window never shares a call with a full 30 s one), in order.
        by_size: dict[int, list[int]] = {}
        for w, window in enumerate(windows):
            by_size.setdefault(self._input_samples(len(window)), []).append(w)
        pieces: list[torch.Tensor | None] = [None] * len(windows)
        step = self.batch_windows or max(1, len(waves))
        for members in by_size.values():
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                needed = max(math.ceil(len(windows[w]) / SAMPLES_PER_FRAME) for w in chunk)
                states = self.encoder_states(self.log_mel_batch([windows[w] for w in chunk]), needed)
                for j, w in enumerate(chunk):  # only the frames that cover real audio are copied, state by state
                    real = math.ceil(len(windows[w]) / SAMPLES_PER_FRAME)
                    pieces[w] = torch.stack([state[j, :real] for state in states])
                del states
        per_clip: list[list[torch.Tensor]] = [[] for _ in waves]
        for w, piece in enumerate(pieces):
            per_clip[owner[w]].append(piece)  # type: ignore[arg-type]
        return [parts[0] if len(parts) == 1 else torch.cat(parts, dim=1) for parts in per_clip]


LEADING_MIN_FRAMES = 256
"""The fewest query frames :func:`last_block_leading` attends from. torch's CPU attention kernel gives other bits
for a query block under 192 frames (130 queries differed from the same rows of 1500 in the last bit; 256 to 1024
matched): the equality with the plain block is tested, not assumed."""


def last_block_leading(block: torch.nn.Module, x: torch.Tensor, frames: int) -> torch.Tensor:
    """openai-whisper's ``ResidualAttentionBlock`` ``block(x)`` computed for the first ``max(frames,
    LEADING_MIN_FRAMES)`` frames only (all of them when ``x`` has no more): their queries still attend to every
    frame's keys and values, and every other operation works frame by frame. The encoder's last block is the only
    one whose later frames nothing reads, so the frames past real audio in a 30 s pad30 window are skipped there
    (about 85 % of the block for clips of a few seconds). Equal to ``block(x)[:, :n]`` bit for bit on the CPU
    (tested: row-wise matrix products and the attention kernel for at least 256 queries)."""
    n = min(x.shape[1], max(int(frames), LEADING_MIN_FRAMES))
    if n >= x.shape[1]:
        return block(x)
    h = block.attn_ln(x)
    y = x[:, :n] + block.attn(h[:, :n].contiguous(), xa=h)[0]
    return y + block.mlp(block.mlp_ln(y))


def batched_log_mel(audio: torch.Tensor, n_mels: int) -> torch.Tensor:
    """openai-whisper's ``log_mel_spectrogram`` of each row of ``audio`` ``(batch, samples)``, on its device: the
    same STFT, filter bank and scaling, with the 80 dB clamp taken from each row's own maximum (whisper's function
    takes one maximum over everything it is given, so it cannot be handed a batch)."""
    window = torch.hann_window(N_FFT, device=audio.device)
    stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=window, return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel_spec = mel_filters(audio.device, n_mels) @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.amax(dim=(1, 2), keepdim=True) - 8.0)
    return (log_spec + 4.0) / 4.0


def _windows(wave: np.ndarray) -> list[np.ndarray]:
    """Consecutive 30 s windows of a clip (the last one shorter); a clip is never dropped."""
    return [wave[start : start + N_SAMPLES] for start in range(0, max(len(wave), 1), N_SAMPLES)]
