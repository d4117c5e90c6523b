"""Feature caches for the transfer tests: corpora that share (or scramble) one emotion signal."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from extract.cache import write_cache_from_states
from tests.probe_caches import FOUR


def transfer_cache(
    path: Path, corpus: str, *, seed: int, language: str = "en", permute: Sequence[int] | None = None,
    labels: Sequence[str] = FOUR, n_speakers: int = 6, per_label: int = 4, n_states: int = 3, dim: int = 8,
    shift: float = 3.0, signal_seed: int = 123, model: str = "whisper-tiny", languages: Sequence[str] | None = None,
) -> Path:
    """A cache whose clips carry class ``c``'s mean (drawn from ``signal_seed``, the same for every corpus) in
    every state, plus corpus-specific Gaussian noise (``seed``). ``permute`` gives each class another class's mean
    (a corpus whose emotion signal cannot transfer). ``languages`` (one per speaker) writes ids
    ``<lang>/<speaker>/…`` and speakers ``<lang>-sN`` as the synthetic corpus does."""
    means = np.random.default_rng(signal_seed).standard_normal((len(FOUR), dim)) * shift / 2
    order = list(permute) if permute is not None else list(range(len(FOUR)))
    rng = np.random.default_rng(seed)
    rows, states = [], []
    for s in range(n_speakers):
        lang = languages[s] if languages else language
        speaker = f"{lang}-s{s}" if languages else f"spk{s:02d}"
        for label in labels:
            c = FOUR.index(label)
            for i in range(per_label):
                n = int(rng.integers(6, 12))
                x = rng.standard_normal((n_states, n, dim)) + means[order[c]]
                states.append(x.astype(np.float32))
                uid = f"{lang}/{speaker}/{label}_{i:02d}_0" if languages else f"{speaker}/{label}_{i:02d}"
                rows.append({"id": uid, "label": label, "speaker": speaker, "gender": "f" if s % 2 else "m",
                             "duration": n / 50.0})
    attrs = {"corpus": corpus, "language": "multi" if languages else language, "model": model,
             "checkpoint": f"test/{model}", "weights": "random", "frame_rate": 50.0, "sample_rate": 16000,
             "created": "2024-01-01T00:00:00+00:00"}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_cache_from_states(path, attrs, pd.DataFrame(rows), states)
    return path
