"""The runner's records of work: a planned run (:class:`RunSpec`), what happened to it (:class:`RunOutcome`), a
cache left out (:class:`CacheIssue`), the summary of a whole :func:`probe.runner.run_all`, progress callbacks, and
the model traits a record carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class RunSpec:
    """One planned run: which cache, head, seed and fold, where its record goes and what it hashes to."""

    cache_path: Path
    corpus: str
    model: str
    probe: str
    protocol: str
    seed: int
    fold: int
    n_folds: int
    class_set: str
    classes: tuple[str, ...]
    path: Path
    config: dict[str, Any]
    config_hash: str
    split: dict[str, Any]
    parts: dict[str, np.ndarray] = field(repr=False)
    config_id: str = ""

    @property
    def label(self) -> str:
        """``corpus/model/probe seed k [fold f]``."""
        fold = f" fold {self.fold}" if self.protocol == "kfold" else ""
        return f"{self.corpus}/{self.model}/{self.probe} seed {self.seed}{fold}"


@dataclass
class RunOutcome:
    """What happened to a planned run: ``trained``, ``skipped`` (recorded with the same hash), ``conflict`` (a
    record of the same configuration but another split or cache is at its path; kept) or ``failed``."""

    spec: RunSpec
    status: str
    macro_f1: float | None = None
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class CacheIssue:
    """A cache left out, and why (speakers that cannot be separated, too few classes, unreadable file)."""

    path: Path
    reason: str


@dataclass
class RunSummary:
    """Everything :func:`run_all` did."""

    outcomes: list[RunOutcome]
    issues: list[CacheIssue]
    leaderboard: Path | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many runs ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)


class RunListener(Protocol):
    """Progress callbacks of :func:`run_all` (the CLI's progress bar)."""

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue]) -> None: ...

    def started(self, spec: RunSpec) -> None: ...

    def finished(self, outcome: RunOutcome) -> None: ...


class SilentListener:
    """A listener that ignores every event."""

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue]) -> None:
        pass

    def started(self, spec: RunSpec) -> None:
        pass

    def finished(self, outcome: RunOutcome) -> None:
        pass


def model_traits(attrs: dict[str, Any]) -> dict[str, str]:
    """``language``, ``family``, ``pretraining``, ``languages`` of a cache (its attributes; inferred from the
    model name for caches that lack them)."""
    model = str(attrs.get("model", "")).lower()
    family = str(attrs.get("family") or ("whisper" if "whisper" in model else "wav2vec2"))
    pretraining = str(attrs.get("pretraining") or ("weakly supervised" if family == "whisper" else "self-supervised"))
    english = model.endswith(".en") or model in ("wav2vec2-base", "wav2vec2-large")
    languages = str(attrs.get("languages") or ("en" if english else "multi"))
    return {"language": str(attrs.get("language") or ""), "family": family, "pretraining": pretraining,
            "languages": languages}


@dataclass(frozen=True)
class RunSettings:
    """Every setting of one ``probe run`` that decides what is trained and recorded, held once: the inline path
    passes :meth:`run_options` to :func:`probe.runner.run_all`, and each cluster task
    (:class:`probe.cluster.tasks.ProbeTask`) carries the same object. The torch thread count is in ``config``
    (``cpu_threads``). How the local process runs (``wait_lock``, ``jobs``) is not here: it is not a task's."""

    seeds: str | int | Sequence[int] = "3"
    protocol: str = "holdout"
    folds: int | None = None
    classes: str | Sequence[str] | None = "all"
    config: Any = None  # probe.train.TrainConfig; None: the default one
    split_seed: int | None = None
    memory_budget: int | None = None
    force: bool = False

    def run_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`probe.runner.run_all` (shallow: ``config`` stays a TrainConfig)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}
