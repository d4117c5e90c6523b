"""Planning an extraction before it starts: cache sizes from durations × frame rates × dims, free disk, and a time
estimate from a quick timing of the model on a few clips of this machine.

Sizes follow the cache contract (:mod:`extract.cache`): every state's frames as float16 plus ``pooled/mean`` as
float32 and a small per-utterance table. Frame counts are computed exactly per clip from its header's sample count,
with the same formulas as the backbones (Whisper: 50 per second per 30 s window; the Wav2Vec 2.0 lineage: its
convolutional front end). While a cache is written its shards and the merged file coexist, so a cache needs about
twice its size free at its peak (less what an interrupted run already left in its ``.partial`` folder).
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from extract.audio import MAX_SECONDS, SAMPLE_RATE, AudioError, check_audio, read_clip
from extract.backbones.base import Backbone, ModelSpec
from extract.cache import cache_path, cache_status
from extract.guards import human_bytes as human

WINDOW_SAMPLES = 30 * SAMPLE_RATE
"""Whisper's input window (30 s)."""

UTTERANCE_BYTES = 256
"""Bytes per utterance of the ``utterances/`` table and ``skipped/`` text, an upper estimate."""

W2V_CONV: tuple[tuple[int, ...], tuple[int, ...]] = ((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))
"""Kernel sizes and strides of the Wav2Vec 2.0 front end (also HuBERT, WavLM, data2vec-audio, XLS-R, MMS)."""


def frames_for(spec: ModelSpec, n_samples: int) -> int:
    """Frames a clip of ``n_samples`` 16 kHz samples yields in a cache of ``spec`` (as the backbone computes)."""
    if spec.family == "whisper":
        starts = range(0, max(n_samples, 1), WINDOW_SAMPLES)
        return sum(math.ceil(min(WINDOW_SAMPLES, n_samples - s) / 320) for s in starts)
    if spec.name.startswith("logmel"):
        return max(n_samples, 400) // 160
    if spec.name.startswith("egemaps"):
        return 1 if spec.name == "egemaps" else max(0, (n_samples - 960) // 160 + 1)  # functionals; 10 ms LLDs
    if spec.model_type == "wav2vec2-bert":  # 25 ms filterbank windows every 10 ms, stacked in pairs
        return max(0, (n_samples - 400) // 160 + 1) // 2
    kernels = tuple(spec.extra.get("conv_kernel", W2V_CONV[0]))  # type: ignore[arg-type]
    strides = tuple(spec.extra.get("conv_stride", W2V_CONV[1]))  # type: ignore[arg-type]
    length = n_samples
    for kernel, stride in zip(kernels, strides):
        length = max(0, (length - kernel) // stride + 1)
    return length


def windows_for(n_samples: int) -> int:
    """Whisper windows (30 s) a clip of ``n_samples`` runs through the encoder."""
    return max(1, math.ceil(n_samples / WINDOW_SAMPLES))


def cache_bytes(frames: int, clips: int, n_states: int, dim: int) -> int:
    """Bytes of a complete cache: float16 frames of every state, float32 ``pooled/mean``, the utterance table."""
    return frames * n_states * dim * 2 + clips * n_states * dim * 4 + clips * UTTERANCE_BYTES


@dataclass(frozen=True)
class Durations:
    """Sample counts (16 kHz) of a corpus's usable clips, from their headers, and the files that failed."""

    corpus: str
    samples: np.ndarray
    unreadable: list[tuple[str, str]]  # (path, reason)

    @property
    def seconds(self) -> float:
        return float(self.samples.sum()) / SAMPLE_RATE


def corpus_durations(corpus: str, manifest: pd.DataFrame, max_seconds: float = MAX_SECONDS,
                     progress: Callable[[int], None] | None = None) -> Durations:
    """Each clip's length in 16 kHz samples, read from its header only (no decoding)."""
    samples, bad = [], []
    for path in manifest["path"]:
        try:
            info = check_audio(path, max_seconds)
            samples.append(int(round(info.frames * SAMPLE_RATE / info.sample_rate)))
        except AudioError as exc:
            bad.append((str(path), exc.reason))
        if progress:
            progress(1)
    return Durations(corpus, np.asarray(samples, dtype=np.int64), bad)


@dataclass(frozen=True)
class CachePlan:
    """One cache to write: its size, the space its extraction needs at the peak, and whether work remains."""

    corpus: str
    model: str
    path: Path
    clips: int
    audio_seconds: float
    frames: int
    windows: int
    bytes: int
    partial_bytes: int  # shards an interrupted run left (reused on resume)
    complete: bool  # a complete cache is already there (nothing to write unless forced)

    @property
    def need_bytes(self) -> int:
        """Free space the extraction needs at its peak (remaining shards plus the merged file); 0 when done."""
        return 0 if self.complete else max(0, 2 * self.bytes - self.partial_bytes)


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file()) if folder.is_dir() else 0


def plan_cache(spec: ModelSpec, model: str, durations: Durations, out: Path) -> CachePlan:
    """The plan of ``model``'s cache (``spec``'s states and dims) of one corpus under ``out``."""
    frames = int(sum(frames_for(spec, int(n)) for n in durations.samples))
    windows = int(sum(windows_for(int(n)) for n in durations.samples))
    path = cache_path(out, durations.corpus, model)
    size = cache_bytes(frames, len(durations.samples), spec.n_states, spec.dim)
    partial = _tree_bytes(path.with_name(path.name + ".partial"))
    return CachePlan(durations.corpus, model, path, len(durations.samples), durations.seconds, frames, windows, size,
                     partial, path.is_file() and cache_status(path).complete)


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system where ``folder`` is (or would be created)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def space_needed(plans: Sequence[CachePlan]) -> int:
    """Free space a sequential extraction of ``plans`` needs: every cache to write, plus the larger peak of one
    (its shards and merged file coexist)."""
    todo = [p for p in plans if not p.complete]
    if not todo:
        return 0
    return sum(p.bytes - p.partial_bytes for p in todo) + max(p.bytes for p in todo)


def space_refusal(plan: CachePlan, free: int, margin: float = 1.05) -> str | None:
    """Why ``plan`` cannot fit in ``free`` bytes (with a 5% margin), or None when it can."""
    need = int(plan.need_bytes * margin)
    if need <= free:
        return None
    return (f"{plan.path} would need about {human(need)} free while it is written ({human(plan.bytes)} when done: "
            f"{plan.clips} clips, {plan.frames} frames), but only {human(free)} is free there. Free some space, "
            "choose another --out, or pass --force to start anyway")


@dataclass(frozen=True)
class Timing:
    """A quick measurement of a model on this machine: seconds per unit of work (Whisper ``pad30``: per 30 s
    window, since every window costs the same; otherwise per second of audio)."""

    model: str
    device: str
    unit: str  # "window" or "audio second"
    seconds_per_unit: float
    clips: int

    def estimate(self, plan: CachePlan) -> float:
        """Seconds to extract ``plan``'s clips."""
        amount = plan.windows if self.unit == "window" else plan.audio_seconds
        return 0.0 if plan.complete else amount * self.seconds_per_unit


def time_model(backbone: Backbone, paths: Sequence[str], batch_size: int = 8) -> Timing:
    """Time ``backbone`` on the clips at ``paths`` (after one warm-up clip), in batches as extraction would."""
    waves = [read_clip(p).wave for p in paths]
    if not waves:
        raise ValueError("no clip to time the model on")
    backbone.extract_for_cache(waves[:1])
    _sync(backbone)
    batches = backbone.batch_plan([len(w) for w in waves], batch_size)
    start = time.perf_counter()
    for batch in batches:
        backbone.extract_for_cache([waves[p] for p in batch])
    _sync(backbone)
    seconds = time.perf_counter() - start
    pad30 = backbone.spec.family == "whisper" and getattr(backbone, "whisper_input", "") == "pad30"
    amount = sum(windows_for(len(w)) for w in waves) if pad30 else sum(len(w) for w in waves) / SAMPLE_RATE
    return Timing(backbone.name, str(backbone.device), "window" if pad30 else "audio second", seconds / amount,
                  len(waves))


def _sync(backbone: Backbone) -> None:
    if backbone.device.type == "cuda":
        import torch

        torch.cuda.synchronize(backbone.device)


def sample_paths(manifest: pd.DataFrame, n: int) -> list[str]:
    """``n`` clip paths spread evenly over the manifest (so that timing sees its range of lengths)."""
    if n <= 0 or manifest.empty:
        return []
    picks = np.unique(np.linspace(0, len(manifest) - 1, min(n, len(manifest))).round().astype(int))
    return [str(manifest["path"].iloc[i]) for i in picks]


def extraction_refusal(backbone: Backbone, corpus: str, manifest: pd.DataFrame, out: Path,
                       max_seconds: float = MAX_SECONDS) -> str | None:
    """Why extracting ``manifest`` with ``backbone`` into ``out`` cannot fit on the disk, or None when it can (or
    when a complete cache is already there). Reads only the clips' headers."""
    spec = replace(backbone.spec, n_states=backbone.n_states, dim=backbone.dim)
    plan = plan_cache(spec, backbone.name, corpus_durations(corpus, manifest, max_seconds), out)
    return space_refusal(plan, free_bytes(out))
