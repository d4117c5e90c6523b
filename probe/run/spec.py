"""The runner's records of work, shared by in-domain runs (:func:`probe.run.runner.run_all`) and transfer
(:func:`probe.run.transfer_run.run_transfer`): the job a stage runs (:class:`RunJob`, with :class:`TransferSetup` for
transfer), a planned run (:class:`RunSpec`), what happened to it (:class:`RunOutcome`), a cache left out
(:class:`CacheIssue`), the summary of a whole run (:class:`RunSummary`), progress callbacks, and the model traits a
record carries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from probe.train.config import TrainConfig


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
    language: str | None = None
    """The record's ``language`` when it is not the cache's (a transfer's test domain); ``None``: the cache's."""
    transfer: dict[str, Any] | None = None
    """A transfer cell's ``transfer`` block as planned (the trained result adds ``n_test`` and
    ``standardization``); ``None`` for an in-domain run. ``corpus`` is then the test domain."""

    @property
    def label(self) -> str:
        """``corpus/model/probe seed k [fold f]``; a transfer cell: ``train → test probe seed k``."""
        if self.transfer is not None:
            return f"{self.transfer['train']} → {self.corpus} {self.probe} seed {self.seed}"
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
    throughput: dict[str, Any] | None = None  # a trained run's TrainMeter summary (probe.train.loop)


@dataclass(frozen=True)
class CacheIssue:
    """A cache left out, and why (speakers that cannot be separated, too few classes, unreadable file)."""

    path: Path
    reason: str


def training_rate(meters: Sequence[dict[str, Any]]) -> tuple[float, str, float]:
    """Over runs' ``throughput`` (:meth:`probe.train.loop.TrainMeter.summary`) of one kind of head, all frame-level
    or all pooled: units per second of training, the unit (``frames`` or ``clips``) and the share of the training
    time spent waiting for data. The seconds must add up to more than 0."""
    frame_level = meters[0]["train_frames"] is not None
    seconds = sum(m["train_seconds"] for m in meters)
    count = sum(m["train_frames"] if frame_level else m["train_clips"] for m in meters)
    return count / seconds, "frames" if frame_level else "clips", sum(m["data_seconds"] for m in meters) / seconds


@dataclass
class RunSummary:
    """Everything one :func:`probe.run.runner.run_all` or :func:`probe.run.transfer_run.run_transfer` did (transfer
    writes no leaderboard)."""

    outcomes: list[RunOutcome] = field(default_factory=list)
    issues: list[CacheIssue] = field(default_factory=list)
    leaderboard: Path | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many runs ended with ``status``."""
        return sum(o.status == status for o in self.outcomes)

    def throughput_lines(self) -> list[str]:
        """How fast the runs trained here: frames per second of the frame-level heads' training steps and the share
        of that time spent waiting for data, then clips per second of the pooled heads (from each trained run's
        ``throughput``; validation excluded). Empty when nothing trained."""
        meters = [o.throughput for o in self.outcomes if o.status == "trained" and o.throughput]
        lines = []
        for frame_level in (True, False):
            chosen = [m for m in meters if (m["train_frames"] is not None) == frame_level]
            if not chosen or sum(m["train_seconds"] for m in chosen) <= 0:
                continue
            rate, unit, waiting = training_rate(chosen)
            lines.append(f"{'frame-level' if frame_level else 'pooled'} heads ({len(chosen)} run(s)): "
                         f"{rate:,.0f} {unit}/s in training, {waiting:.0%} of it waiting for data")
        return lines

    @property
    def records(self) -> list[Path]:
        """The records this run stands on: those it wrote and those already recorded, in the order of the
        outcomes."""
        return [o.spec.path for o in self.outcomes if o.status in ("trained", "skipped")]


class RunListener(Protocol):
    """Progress callbacks of a run (the CLI's progress bars). ``planned`` comes once per plan (transfer: once per
    model) with the caches left out and the notes of what the plan itself left out (transfer's tasks and probes
    that cannot run; ``probe run`` prints its notes with the summary instead)."""

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue], notes: Sequence[str] = ()) -> None: ...

    def started(self, spec: RunSpec) -> None: ...

    def finished(self, outcome: RunOutcome) -> None: ...


class SilentListener:
    """A listener that ignores every event."""

    def planned(self, total: int, pending: int, issues: Sequence[CacheIssue], notes: Sequence[str] = ()) -> None:
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


def _default_train_config() -> TrainConfig:
    from probe.train.config import TrainConfig

    return TrainConfig()


@dataclass(frozen=True)
class TransferSetup:
    """What makes a stage a transfer matrix (:mod:`probe.run.transfer`): the protocol (``pair``,
    ``leave-one-language-out``, ``multilingual``, ``sequential``), the training and test domains (default all),
    what a domain is (``corpus`` or ``language``) and whether regional variants stay apart."""

    protocol: str = "pair"
    train: Sequence[str] | None = None
    test: Sequence[str] | None = None
    group_by: str = "corpus"
    regional: bool = False


@dataclass(frozen=True)
class RunJob:
    """Every setting of one ``probe run`` or ``probe transfer`` stage that decides what is trained and recorded,
    held once: the command builds it, the inline engine runs it (:func:`probe.run.runner.run_all`,
    :func:`probe.run.transfer_run.run_transfer`) and each cluster task carries the same object. The torch thread count
    is ``config.cpu_threads`` (part of the configuration, applied by :func:`probe.train.config.training_threads`). Which
    caches and probes is the selection's (:class:`probe.run.selection.RunSelection`); how the local process runs
    (``wait_lock``, ``jobs``) is not a task's and is not here.

    ``transfer`` is set for a transfer stage; transfer splits every domain by holdout with each seed, so
    ``protocol``, ``folds`` and ``split_seed`` keep their defaults there."""

    features: Path = Path("features")
    results: Path = Path("results")
    seeds: str | int | Sequence[int] = "3"
    protocol: str = "holdout"
    folds: int | None = None
    classes: str | Sequence[str] | None = "all"
    config: TrainConfig = field(default_factory=_default_train_config)
    split_seed: int | None = None
    memory_budget: int | None = None
    force: bool = False
    transfer: TransferSetup | None = None

    def resolved(self) -> RunJob:
        """The same job with absolute ``features`` and ``results`` (what a cluster task carries)."""
        return replace(self, features=Path(self.features).resolve(), results=Path(self.results).resolve())
