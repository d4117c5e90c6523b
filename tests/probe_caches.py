"""Synthetic feature caches for the probe tests: emotion information planted in chosen states only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from extract.cache import FeatureCache, write_cache_from_states

FOUR = ("anger", "happiness", "neutral", "sadness")


def make_cache(
    path: Path,
    *,
    corpus: str = "synth",
    model: str = "whisper-tiny",
    labels: Sequence[str] = FOUR,
    n_speakers: int = 8,
    per_label: int = 4,
    n_states: int = 5,
    dim: int = 16,
    frames: tuple[int, int] = (8, 24),
    planted: Sequence[int] = (2,),
    shift: float = 1.0,
    speaker_shift: float = 0.0,
    seed: int = 0,
    attrs: dict[str, object] | None = None,
    noise_seed: int | None = None,
) -> Path:
    """Write a complete cache at ``path``: every speaker says every label ``per_label`` times; frames are unit
    Gaussian noise, plus in the ``planted`` states a class-dependent mean of norm about ``shift``·√dim/2 (spread
    over all features), plus an optional per-speaker offset in every state. ``noise_seed`` draws the noise (and
    frame counts) from its own seed: caches of one ``seed`` then carry the same emotion signal with independent
    noise (features of equal quality)."""
    rng = np.random.default_rng(seed)
    class_means = rng.standard_normal((len(labels), dim)) * shift / 2
    speaker_means = rng.standard_normal((n_speakers, n_states, dim)) * speaker_shift
    if noise_seed is not None:
        rng = np.random.default_rng([seed, noise_seed])
    rows, states = [], []
    for s in range(n_speakers):
        for c, label in enumerate(labels):
            for i in range(per_label):
                n = int(rng.integers(frames[0], frames[1] + 1))
                x = rng.standard_normal((n_states, n, dim)) + speaker_means[s][:, None, :]
                for layer in planted:
                    x[layer] += class_means[c]
                states.append(x.astype(np.float32))
                rows.append({"id": f"spk{s:02d}/{label}_{i:02d}", "label": label, "speaker": f"spk{s:02d}",
                             "gender": "f" if s % 2 else "m", "duration": n / 50.0})
    base = {"corpus": corpus, "language": "en", "model": model, "checkpoint": f"test/{model}", "weights": "random",
            "frame_rate": 50.0, "sample_rate": 16000, "created": "2024-01-01T00:00:00+00:00"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cache_from_states(path, {**base, **(attrs or {})}, pd.DataFrame(rows), states)
    return path


def parts_and_labels(cache: FeatureCache) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A fixed split of a :func:`make_cache` cache (speaker spk06 validates, spk07 tests, the rest trains) and
    every row's class index (labels sorted)."""
    speakers = cache.utterances["speaker"].to_numpy()
    part = np.where(speakers == "spk06", "val", np.where(speakers == "spk07", "test", "train"))
    classes = sorted(cache.utterances["label"].unique())
    labels = cache.utterances["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    return {p: np.flatnonzero(part == p) for p in ("train", "val", "test")}, labels


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread (fast and stable on a machine shared with other jobs), then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
