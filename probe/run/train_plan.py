"""How long training a grid of probe runs takes on this machine, from rates measured by the real training code.

Each head is timed once per cache shape (states × dim, frames per clip) on random float16 frames held in memory
(:class:`probe.data.cache_data.MemoryFrames`, on the CUDA device when training there, as
:class:`~probe.data.cache_data.CacheData` holds a cache that fits) or pooled vectors
(:class:`probe.data.feeds.PooledFeed`): a :class:`probe.train.loop.SeedRun` of the run's
:class:`~probe.train.config.TrainConfig` takes a few warm-up steps, then timed steps (batch gathering included),
then timed evaluation passes (:func:`probe.train.loop.predict`), under the run's CPU threads
(:func:`probe.train.config.training_threads`). Frame heads cost per frame, pooled heads per clip.

One run of a corpus (:func:`run_seconds`) is what :func:`probe.train.fit.fit_probe` does: ``epochs`` × (training
steps over the train part + a validation pass), then validation and test once more with the best state. The parts
are the holdout protocol's shares, :data:`probe.run.splits.DEFAULT_RATIOS` (80/10/10 by speakers; whole speakers
make a corpus's real shares differ a little). Not counted: reading the cache from disk (once per cache when its
frames are held, once per epoch for all seeds when streamed), padding within length-bucketed batches, the
standardisation statistics of the ``standardized`` preset and each run's set-up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from extract.plan import CachePlan
from probe.data.cache_data import MemoryFrames
from probe.data.feeds import Feed, PooledFeed
from probe.run.splits import DEFAULT_RATIOS
from probe.train.config import TrainConfig, resolve_device, training_threads
from probe.train.heads import PROBES
from probe.train.loop import SeedRun, predict

PAPER_SEEDS = "3"
"""The seeds of the paper grid: ``probe run``'s default ``--seeds 3`` (also ``benchmarks/gpu_rates.py``'s
``PAPER_SEEDS``), the seed count of every grid this suite reports."""

PAPER_PROBES = "linear,nonlinear,multilayer"
"""The paper's three probes (its Table 2), ``probe run``'s default ``--probes``."""

SHARES: tuple[float, float, float] = DEFAULT_RATIOS
"""Train, validation and test shares of a corpus under the holdout protocol (:mod:`probe.run.splits`)."""

TIMING_CLASSES = 7
"""Classes of the timing labels (most benchmark corpora have 7; the head's last layer is a small share)."""


@dataclass(frozen=True)
class CacheShape:
    """What a head's cost depends on: the cache's states and width, and the typical frames per clip."""

    n_states: int
    dim: int
    frames_per_clip: int


@dataclass(frozen=True)
class HeadRate:
    """A head's measured rates on one cache shape: units (frames or clips) per second in training steps and in
    evaluation passes, how many batches of each were timed, and on what."""

    probe: str
    shape: CacheShape
    unit: str  # "frame" or "clip"
    train_per_s: float
    eval_per_s: float
    train_batches: int
    eval_batches: int
    device: str


def head_unit(probe: str) -> str:
    """``frame`` for heads that read frames (their cost grows with them), ``clip`` for pooled heads."""
    return "frame" if PROBES[probe].frames else "clip"


def units_of(probe: str, plan: CachePlan) -> int:
    """What ``probe``'s cost scales with in ``plan``'s cache: its frames, or its clips for a pooled head."""
    return plan.frames if head_unit(probe) == "frame" else plan.clips


def run_seconds(rate: HeadRate, units: float, epochs: int, shares: Sequence[float] = SHARES) -> float:
    """Seconds of one run over a corpus of ``units`` frames or clips: ``epochs`` × (train / train rate + val / eval
    rate), then validation and test once more with the best state (as :meth:`probe.train.loop.SeedRun.finish`)."""
    train, val, test = (units * s for s in shares)
    return epochs * (train / rate.train_per_s + val / rate.eval_per_s) + (val + test) / rate.eval_per_s


def shape_of(n_states: int, dim: int, plans: Iterable[CachePlan]) -> CacheShape:
    """The shape a model's caches are timed at: its states and dim, and the mean frames per clip of ``plans``."""
    plans = list(plans)
    clips = sum(p.clips for p in plans)
    frames = sum(p.frames for p in plans)
    return CacheShape(n_states, dim, max(1, round(frames / clips)) if clips else 1)


def applies(probe: str, shape: CacheShape) -> bool:
    """Whether ``probe`` can run on caches of ``shape`` (a mix of states needs several)."""
    return not (PROBES[probe].cls.all_states and PROBES[probe].frames and shape.n_states < 2)


def _feed(probe: str, shape: CacheShape, clips: int, device: str, seed: int = 0) -> Feed:
    """Random inputs of ``clips`` clips in the form the runner feeds ``probe`` (:mod:`probe.run.execute`)."""
    generator = torch.Generator().manual_seed(seed)
    head = PROBES[probe].cls
    states = shape.n_states if head.all_states else 1
    if not head.frames:
        size = (clips, states, shape.dim) if head.all_states else (clips, shape.dim)
        return PooledFeed(torch.randn(size, generator=generator).numpy())
    frames = torch.empty((clips * shape.frames_per_clip, states, shape.dim), dtype=torch.float16)
    frames.normal_(generator=generator)
    data = frames.to(device) if device.startswith("cuda") else frames.numpy()  # as CacheData holds a cache
    lengths = np.full(clips, shape.frames_per_clip, dtype=np.int64)
    offsets = np.arange(clips, dtype=np.int64) * shape.frames_per_clip
    first = shape.n_states - states
    return MemoryFrames(data, offsets, lengths, range(first, shape.n_states))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def measure_rate(probe: str, shape: CacheShape, config: TrainConfig, batches: int = 5, warmup: int = 2,
                 min_seconds: float = 0.25) -> HeadRate:
    """Time ``probe`` on random inputs of ``shape`` with ``config`` (its batch size, head settings, device and
    CPU threads): ``warmup`` training steps, then at least ``batches`` timed steps and ``min_seconds``; then at
    least ``batches`` evaluation batches and ``min_seconds``. Rates are in :func:`head_unit` units per second."""
    device = resolve_device(config.device)
    clips = config.batch_size  # one batch of clips, stepped on repeatedly: memory stays one batch's frames
    feed = _feed(probe, shape, clips, device)
    rows = np.arange(clips, dtype=np.int64)
    labels = np.arange(clips, dtype=np.int64) % TIMING_CLASSES
    per_batch = clips * (shape.frames_per_clip if head_unit(probe) == "frame" else 1)
    with training_threads(config):
        run = SeedRun(probe, feed, labels, {"train": rows, "val": rows, "test": rows}, TIMING_CLASSES, config, 0)
        steps, start, epoch = 0, time.perf_counter(), 0
        with run.active():
            while True:
                epoch += 1
                for batch, x, mask in run.batches(epoch):
                    run.train_batch(epoch, batch, x, mask)
                    steps += 1
                    if steps == warmup:
                        _sync(device)
                        start = time.perf_counter()
                if steps >= warmup + batches:
                    _sync(device)
                    train_seconds = time.perf_counter() - start
                    if train_seconds >= min_seconds:
                        break
            timed_steps = steps - warmup
            passes = 0
            _sync(device)
            start = time.perf_counter()
            while passes < batches or time.perf_counter() - start < min_seconds:
                predict(run.head, feed, rows, config.batch_size, device)
                passes += 1
                _sync(device)
            eval_seconds = time.perf_counter() - start
    return HeadRate(probe, shape, head_unit(probe), timed_steps * per_batch / train_seconds,
                    passes * per_batch / eval_seconds, timed_steps, passes, device)


def device_label(device: str, threads: int | None = None) -> str:
    """``device`` in words: a GPU's name, or the CPU's model and the torch threads (``threads``, default the
    current count) it computes with."""
    device = resolve_device(device)
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    n = torch.get_num_threads() if threads is None else threads
    return f"{device} ({model + ', ' if model else ''}{n} thread{'s' if n > 1 else ''})"


@dataclass(frozen=True)
class TrainEstimate:
    """The training time of one cache × probe over its seeds."""

    corpus: str
    model: str
    probe: str
    runs: int
    units: int  # frames or clips of the whole corpus
    rate: HeadRate
    seconds: float  # all runs together


def estimate(plan: CachePlan, probe: str, rate: HeadRate, runs: int, epochs: int) -> TrainEstimate:
    """``runs`` runs (seeds) of ``probe`` on ``plan``'s cache at ``rate``."""
    units = units_of(probe, plan)
    return TrainEstimate(plan.corpus, plan.model, probe, runs, units, rate, runs * run_seconds(rate, units, epochs))


def total_hours(estimates: Iterable[TrainEstimate]) -> float:
    """Device-hours of ``estimates`` together."""
    return math.fsum(e.seconds for e in estimates) / 3600
