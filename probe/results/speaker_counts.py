"""Per-speaker class counts of a configuration's runs, and the metrics computed from reweighted counts.

A configuration (the seeds or folds of one leaderboard row) is stored as per-cluster sums ``(S, R, 3, k)``: for
each test speaker (cluster) ``s`` and run ``r``, the true positives, true and predicted counts per class. That is
all a macro-F1, UAR or accuracy needs, so any reweighting of the speakers (a bootstrap draw, a left-out speaker,
a sign flip that swaps two arms' counts) costs one matrix product and every metric is exact for its counts.

The point estimate is the **mean over runs** of each run's metric (what the leaderboard reports). Under weights
``m_s`` (how often speaker ``s`` is drawn, 0 when it is left out) run ``r`` counts with weight
``Σ_s m_s n_rs / Σ_s n_rs`` (its clips' multiplicity), so a run whose one test speaker is drawn three times counts
three times, as it would if the runs' counts were pooled, and all-ones weights give the plain mean.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

METRICS: tuple[str, ...] = ("macro_f1", "uar", "accuracy")
CLUSTERS: tuple[str, ...] = ("speaker", "clip")

Record = Mapping[str, Any]


class UncertaintyError(ValueError):
    """Records whose predictions cannot be resampled (missing, malformed, of mixed class sets, or paired runs
    tested on different clips)."""


def run_name(record: Record) -> str:
    """``corpus/model/probe seed s [fold f]`` for messages."""
    fold = f" fold {record.get('fold')}" if record.get("protocol") == "kfold" else ""
    return f"{record.get('corpus')}/{record.get('model')}/{record.get('probe')} seed {record.get('seed')}{fold}"


def has_speakers(record: Record) -> bool:
    """Whether the record's predictions name the speaker of every test clip."""
    pred = record.get("predictions") or {}
    speakers = pred.get("speaker")
    return bool(speakers) and len(speakers) == len(pred.get("true") or []) and all(s not in (None, "")
                                                                                   for s in speakers)


def clusters_of(record: Record, cluster: str) -> list[str]:
    """Each test clip's cluster: its speaker, or the clip itself (its id, else its position)."""
    pred = record.get("predictions") or {}
    if cluster == "speaker":
        return [str(s) for s in pred["speaker"]]
    ids = pred.get("id") or []
    return [str(i) for i in ids] if len(ids) == len(pred["true"]) else [f"#{i}" for i in range(len(pred["true"]))]


def check_records(records: Sequence[Record]) -> list[str]:
    """The records' shared class list; :class:`UncertaintyError` for missing predictions or mixed class sets."""
    if not records:
        raise UncertaintyError("no records to resample")
    classes = [str(c) for c in records[0].get("classes") or []]
    for record in records:
        pred = record.get("predictions") or {}
        if not pred.get("true") or len(pred.get("pred") or []) != len(pred["true"]):
            raise UncertaintyError(f"{run_name(record)}: the record has no test predictions (true and pred)")
        if [str(c) for c in record.get("classes") or []] != classes:
            raise UncertaintyError(f"{run_name(record)}: its classes differ from {run_name(records[0])}'s; runs of "
                                   "one configuration share one class list")
    return classes


def cluster_mode(groups: Sequence[Sequence[Record]], cluster: str) -> str:
    """``cluster``, or ``clip`` when speakers are asked for but some record lacks them."""
    if cluster not in CLUSTERS:
        raise ValueError(f"cluster must be one of {CLUSTERS}, got {cluster!r}")
    if cluster == "speaker" and not all(has_speakers(r) for g in groups for r in g):
        return "clip"
    return cluster


def check_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """``metrics`` as a tuple; ValueError for an unknown one."""
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics or any(m not in METRICS for m in metrics):
        raise ValueError(f"metric must be one of {METRICS}, got {metrics!r}")
    return metrics


class Counts:
    """One configuration's runs as per-cluster sums ``(S, R, 3, k)`` over a given cluster pool."""

    def __init__(self, records: Sequence[Record], pool: Mapping[str, int], cluster: str) -> None:
        classes = check_records(records)
        index = {c: i for i, c in enumerate(classes)}
        self.sums = np.zeros((len(pool), len(records), 3, len(classes)))
        for r, record in enumerate(records):
            pred = record["predictions"]
            try:
                t = np.array([index[str(x)] for x in pred["true"]])
                p = np.array([index[str(x)] for x in pred["pred"]])
            except KeyError as exc:
                raise UncertaintyError(f"{run_name(record)}: label {exc} is not among its classes {classes}") from None
            s = np.array([pool[c] for c in clusters_of(record, cluster)])
            np.add.at(self.sums, (s[t == p], r, 0, t[t == p]), 1.0)
            np.add.at(self.sums, (s, r, 1, t), 1.0)
            np.add.at(self.sums, (s, r, 2, p), 1.0)
        self.clips = self.sums[:, :, 1, :].sum(axis=-1)  # (S, R)
        self.run_clips = self.clips.sum(axis=0)  # (R,)

    def values(self, weights: np.ndarray, metrics: Sequence[str]) -> np.ndarray:
        """Multiplicity-weighted mean over runs of each metric for each row of cluster weights ``(B, S)`` →
        ``(metrics, B)``."""
        return run_mean(np.tensordot(weights, self.sums, axes=(1, 0)), self.run_weights(weights), metrics)

    def run_weights(self, weights: np.ndarray) -> np.ndarray:
        """Each run's weight under cluster weights ``(B, S)``: its clips' mean multiplicity ``(B, R)``."""
        return (weights @ self.clips) / np.where(self.run_clips > 0, self.run_clips, 1.0)

    def leave_one_out(self, metrics: Sequence[str]) -> np.ndarray:
        """The statistic with each cluster left out in turn, ``(metrics, S)`` (jackknife replicates)."""
        sums = self.sums.sum(axis=0)[None] - self.sums
        weights = 1.0 - self.clips / np.where(self.run_clips > 0, self.run_clips, 1.0)
        return run_mean(sums, weights, metrics)

    def leave_one_run_out(self, metrics: Sequence[str]) -> np.ndarray:
        """The statistic with each run left out in turn, ``(metrics, R)``."""
        n_runs = self.sums.shape[1]
        sums = np.broadcast_to(self.sums.sum(axis=0), (n_runs, *self.sums.shape[1:]))
        return run_mean(sums, 1.0 - np.eye(n_runs), metrics)

    def cells(self) -> np.ndarray:
        """The (cluster, run) pairs with clips, ``(C, 2)``."""
        return np.argwhere(self.clips > 0)

    def leave_one_cell_out(self, metrics: Sequence[str]) -> np.ndarray:
        """The statistic with each (cluster, run) cell of :meth:`cells` left out in turn, ``(metrics, C)``."""
        cells = self.cells()
        total = self.sums.sum(axis=0)  # (R, 3, k)
        sums = np.repeat(total[None], len(cells), axis=0)
        runs = cells[:, 1]
        sums[np.arange(len(cells)), runs] -= self.sums[cells[:, 0], runs]
        weights = np.ones((len(cells), total.shape[0]))
        weights[np.arange(len(cells)), runs] -= self.clips[cells[:, 0], runs] / self.run_clips[runs]
        return run_mean(sums, weights, metrics)

    def runs_nested_in_clusters(self) -> bool:
        """Whether every run tests exactly one cluster (leave-one-speaker-out, or one test speaker per seed)."""
        return bool(((self.clips > 0).sum(axis=0) == 1).all())


def run_mean(sums: np.ndarray, weights: np.ndarray, metrics: Sequence[str]) -> np.ndarray:
    """Weighted mean over runs of each metric from sums ``(B, R, 3, k)`` and run weights ``(B, R)``; runs with no
    clips sit out; NaN where no run has clips → ``(metrics, B)``."""
    out = []
    for metric in metrics:
        value = metric_from_counts(sums[..., 0, :], sums[..., 1, :], sums[..., 2, :], metric)
        w = np.where(np.isnan(value), 0.0, weights)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out.append(np.nansum(w * np.nan_to_num(value), axis=-1) / np.where(w.sum(-1) > 0, w.sum(-1), np.nan))
    return np.stack(out)


def metric_from_counts(tp: np.ndarray, truth: np.ndarray, predicted: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` in percent from per-class true positives, true and predicted counts ``(..., k)``; NaN where
    there are no clips (macro-F1 over the classes in the truth or predictions, UAR over those in the truth, as
    :mod:`probe.train.metrics` does)."""
    total = truth.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "accuracy":
            value = tp.sum(axis=-1) / total
        elif metric == "uar":
            present = truth > 0
            recall = np.where(present, tp / np.where(present, truth, 1.0), 0.0)
            value = recall.sum(axis=-1) / present.sum(axis=-1)
        elif metric == "macro_f1":
            present = (truth + predicted) > 0
            f1 = np.where(present, 2 * tp / np.where(present, truth + predicted, 1.0), 0.0)
            value = f1.sum(axis=-1) / present.sum(axis=-1)
        else:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return np.where(total > 0, 100.0 * value, np.nan)


def n_clips(records: Sequence[Record]) -> int:
    """Distinct test clips of the runs (by id; the largest run's size for records without ids)."""
    preds = [r["predictions"] for r in records]
    if all(len(p.get("id") or []) == len(p["true"]) for p in preds):
        return len({str(i) for p in preds for i in p["id"]})
    return max(len(p["true"]) for p in preds)


def multiplicities(idx: np.ndarray, n: int) -> np.ndarray:
    """Drawn indices ``(..., m)`` → how often each of ``n`` clusters was drawn, ``(B, n)``."""
    idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
    rows = np.arange(len(idx))[:, None] * n
    return np.bincount((idx + rows).ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(float)
