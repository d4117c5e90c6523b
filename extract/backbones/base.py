"""The backbone interface: a frozen speech model that yields all L+1 hidden states of a clip.

Layer convention (the same for every family, recorded in each cache): state 0 is the input to the first
transformer block (after the convolutional front end and the positional embedding), state l is the output of
block l, and the last state is what the model itself returns as its final hidden state (Whisper: after
``ln_post``; stable-layer-norm Wav2Vec 2.0: after the encoder's final LayerNorm).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class ModelSpec:
    """What the suite knows about a named model before loading it."""

    name: str
    family: str  # "whisper", "wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech-sat", "w2v-bert-2.0", ...
    checkpoint: str  # hub id or openai-whisper model name
    pretraining: str  # "self-supervised", "weakly supervised" or "supervised"
    languages: str  # "en" (English-only) or "multi"
    n_states: int
    dim: int
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)  # full-size config, for random-weight controls offline
    model_type: str = ""  # transformers' model_type ("hubert", "whisper", ...); "" = openai-whisper


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/"auto" picks CUDA when present, else CPU; a :class:`torch.device` is returned as it is."""
    if isinstance(device, torch.device):
        return device
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` (built on the host) on ``device``: through pinned host memory with an asynchronous copy when
    ``device`` is CUDA; on the CPU the tensor itself, untouched."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def to_host(tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Tensors as host numpy arrays. From CUDA: each is copied asynchronously into pinned host memory
    (``non_blocking``), then one synchronisation of the stream waits for all of them, instead of one blocking
    copy per tensor. CPU tensors are returned as arrays sharing their memory (no copy)."""
    out: list[np.ndarray] = [np.empty(0)] * len(tensors)
    pending: list[tuple[int, torch.Tensor]] = []
    for i, tensor in enumerate(tensors):
        if tensor.device.type != "cuda":
            out[i] = tensor.numpy()
            continue
        host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        host.copy_(tensor, non_blocking=True)
        pending.append((i, host))
    if pending:
        torch.cuda.current_stream().synchronize()
    for i, host in pending:
        out[i] = host.numpy()
    return out


@dataclass(frozen=True)
class CacheStates:
    """One clip's states in the form the cache stores, reduced on the model's device before one host copy."""

    frames: np.ndarray  # (n_states, n_frames, dim) float16: the cache's dtype, cast on the device
    pooled: np.ndarray  # (n_states, dim) float32: the mean over frames of the float32 states
    peaks: np.ndarray  # (n_states,) float32: max |value| of each float32 state; NaN or inf when it holds one


def cache_tensors(states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(frames fp16, pooled fp32, peaks fp32)`` of one clip's states ``(n_states, n_frames, dim)``, computed
    where ``states`` lies. The fp16 cast is the same round-to-nearest-even cast of the float32 states that numpy's
    ``astype`` did on the host."""
    full = states.float()
    if full.shape[1] == 0:
        peaks = torch.zeros(full.shape[0], device=full.device)
    else:
        peaks = full.abs().amax(dim=(1, 2))  # NaN and inf propagate: a non-finite state has a non-finite peak
    return full.to(torch.float16), full.mean(dim=1), peaks  # from float32, as before (no double rounding)


class Backbone(ABC):
    """A frozen model that maps 16 kHz mono waveforms to all its hidden states."""

    spec: ModelSpec
    checkpoint: str  # what was actually loaded (hub id@revision, whisper name, or weights checksum)
    weights: str  # "pretrained", "random" or "ct2"
    device: torch.device
    precision: str
    frame_rate: float = 50.0
    params: int = 0  # parameters of the network that computes the states (Whisper: the encoder only)

    @property
    def name(self) -> str:
        """The suite name of the model; random-weight controls are named ``<name>-random`` everywhere
        (cache file, records, tables), so they can never be mistaken for the pre-trained checkpoint."""
        return f"{self.spec.name}-random" if self.weights == "random" else self.spec.name

    @property
    @abstractmethod
    def n_states(self) -> int:
        """L+1: the number of hidden states per frame."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Hidden size."""

    @abstractmethod
    def n_frames(self, n_samples: int) -> int:
        """How many frames a clip of ``n_samples`` samples yields."""

    @abstractmethod
    def group_key(self, n_samples: int) -> Hashable:
        """Clips whose keys are equal may share a batch without changing each other's features."""

    def batch_plan(self, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
        """Positions of clips of these sample ``lengths`` cut into batches of at most ``batch_size`` clips that
        share a :meth:`group_key`: groups in first-appearance order, clips in their order. Backbones that pad
        override it (:meth:`length_bucketed`). Depends only on the lengths, so a resumed run batches the same."""
        return self._grouped_batches(lengths, batch_size, by_length=False)

    def length_bucketed(self, lengths: Sequence[int], batch_size: int) -> list[list[int]]:
        """:meth:`batch_plan` with each group's clips sorted by length first (stable: ties keep their order), so a
        padded batch holds clips of similar lengths and little padding."""
        return self._grouped_batches(lengths, batch_size, by_length=True)

    def _grouped_batches(self, lengths: Sequence[int], batch_size: int, by_length: bool) -> list[list[int]]:
        """Batches of :meth:`batch_plan`: each :meth:`group_key`'s clips (sorted by length when ``by_length``) cut
        into runs of ``batch_size``, groups in first-appearance order."""
        groups: dict[Hashable, list[int]] = {}
        for pos, n in enumerate(lengths):
            groups.setdefault(self.group_key(n), []).append(pos)
        plan: list[list[int]] = []
        for members in groups.values():
            if by_length:
                members = sorted(members, key=lambda pos: lengths[pos])
            plan += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
        return plan

    @abstractmethod
    def _forward(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """States of each clip, ``(n_states, n_frames, dim)``, on the model's device."""

    def extract(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        """All hidden states of each clip as float32 arrays ``(n_states, n_frames, dim)`` on the CPU.

        Clips of one call must share a :meth:`group_key`; callers batch accordingly.
        """
        states = self._states(waves)
        with torch.inference_mode():
            return to_host([s.float() for s in states])

    def extract_for_cache(self, waves: Sequence[np.ndarray]) -> list[CacheStates]:
        """What :meth:`extract` gives, as the cache stores it: float16 frames, the float32 mean over frames and
        each state's peak magnitude, computed on the model's device so that half the bytes cross to the host
        (in one asynchronous batch of copies on CUDA). The frames equal :meth:`extract`'s cast to float16 bit for
        bit; the means equal numpy's to float32 rounding (summation order)."""
        states = self._states(waves)
        with torch.inference_mode():
            parts = [t for s in states for t in cache_tensors(s)]
            host = to_host(parts)
        return [CacheStates(*host[i : i + 3]) for i in range(0, len(host), 3)]

    def _states(self, waves: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """The forward pass of one call (clips sharing a :meth:`group_key`), without autograd, under the
        backbone's autocast: each clip's states on the model's device."""
        keys = {self.group_key(len(w)) for w in waves}
        if len(keys) > 1:
            raise ValueError(f"{self.name}: clips with different group keys {sorted(map(str, keys))} in one batch")
        with torch.inference_mode(), self._autocast():
            return self._forward(waves)

    @contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.precision == "fp32":
            yield
            return
        dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
        with torch.autocast(device_type=self.device.type, dtype=dtype):
            yield

    def attrs(self) -> dict[str, object]:
        """Root attributes this backbone contributes to a cache."""
        return {
            "model": self.name,
            "base_model": self.spec.name,
            "family": self.spec.family,
            "pretraining": self.spec.pretraining,
            "languages": self.spec.languages,
            "checkpoint": self.checkpoint,
            "weights": self.weights,
            "n_layers": self.n_states,
            "dim": self.dim,
            "params": self.params,
            "frame_rate": self.frame_rate,
            "precision": self.precision,
            "device": str(self.device),
        }


class OneStateBackbone(Backbone):
    """A fixed feature transform without weights (log-mel, eGeMAPS): one state of ``spec.dim`` values per frame,
    computed on the CPU in float32."""

    def __init__(self, spec: ModelSpec, checkpoint: str) -> None:
        self.spec = spec
        self.checkpoint = checkpoint
        self.weights = "none"
        self.device = torch.device("cpu")
        self.precision = "fp32"

    @property
    def n_states(self) -> int:
        return 1

    @property
    def dim(self) -> int:
        return self.spec.dim
