"""Speaker-clustered bootstrap intervals and paired tests on the test predictions of run records.

Clips of one speaker are correlated, so the unit of resampling is the **speaker** (Ferrer & Riera's bootstrap for
speech classification), not the clip. For one configuration (the seeds or folds of one leaderboard row):

* the pool is every test speaker of its runs (the union over seeds/folds; ``n_test_speakers``);
* a resample draws that many speakers with replacement; every run is scored on its own clips of the drawn
  speakers (a speaker drawn twice counts twice) and the resample's value is the mean over runs of the metric,
  exactly as the point estimate is the mean over runs (a run none of whose speakers were drawn sits that
  resample out);
* the interval is the percentile interval of 1000 resamples by default, seeded.

Paired comparisons (:func:`compare_records`) score A and B on the **same** resamples of the union of their
speakers; the difference's percentile interval and a two-sided p-value follow. ``p_value`` is the normal
approximation from the bootstrap standard error (``2·Φ(−|d|/se*)``), so that it is not floored at 2/(B+1) and can
survive a Holm correction over many comparisons; ``p_percentile`` (twice the smaller tail of the bootstrap
distribution beyond 0, with the +1 correction) is reported beside it. Averages over corpora (:func:`interval_over_corpora`,
:func:`compare_over_corpora`) resample speakers within each corpus independently. :func:`holm` corrects a table's
p-values.

The resampling is :func:`scipy.stats.bootstrap` with the speakers' indices as its observations (one sample per
corpus, ``vectorized=True``): the thin layer here turns a batch of drawn indices into per-speaker multiplicities,
and multiplies them with per-speaker class counts (true positives, true and predicted labels per class), so a
resample costs one matrix product per configuration and every metric is computed exactly from its resampled counts
(macro-F1 over the classes in the truth or predictions and UAR over the classes in the truth, as
:mod:`probe.metrics` does). All metrics asked for are computed on the same resamples.

Records without ``predictions.speaker`` (schema ``/1``): each clip is its own cluster, and the result says so
(``cluster: "clip"``). Intervals from one speaker cannot be estimated: they are NaN, with a note.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import bootstrap, norm

METRICS: tuple[str, ...] = ("macro_f1", "uar", "accuracy")
CLUSTERS: tuple[str, ...] = ("speaker", "clip")
N_RESAMPLES = 1000
LEVEL = 0.95

Record = Mapping[str, Any]


class UncertaintyError(ValueError):
    """Records whose predictions cannot be bootstrapped (missing, malformed, or of mixed class sets)."""


def _name(record: Record) -> str:
    fold = f" fold {record.get('fold')}" if record.get("protocol") == "kfold" else ""
    return f"{record.get('corpus')}/{record.get('model')}/{record.get('probe')} seed {record.get('seed')}{fold}"


def has_speakers(record: Record) -> bool:
    """Whether the record's predictions name the speaker of every test clip."""
    pred = record.get("predictions") or {}
    speakers = pred.get("speaker")
    return bool(speakers) and len(speakers) == len(pred.get("true") or []) and all(s not in (None, "")
                                                                                   for s in speakers)


def _clusters(record: Record, cluster: str) -> list[str]:
    pred = record.get("predictions") or {}
    if cluster == "speaker":
        return [str(s) for s in pred["speaker"]]
    ids = pred.get("id") or []
    return [str(i) for i in ids] if len(ids) == len(pred["true"]) else [f"#{i}" for i in range(len(pred["true"]))]


def _check(records: Sequence[Record]) -> list[str]:
    """The records' shared class list; :class:`UncertaintyError` for missing predictions or mixed class sets."""
    if not records:
        raise UncertaintyError("no records to bootstrap")
    classes = [str(c) for c in records[0].get("classes") or []]
    for record in records:
        pred = record.get("predictions") or {}
        if not pred.get("true") or len(pred.get("pred") or []) != len(pred["true"]):
            raise UncertaintyError(f"{_name(record)}: the record has no test predictions (true and pred)")
        if [str(c) for c in record.get("classes") or []] != classes:
            raise UncertaintyError(f"{_name(record)}: its classes differ from {_name(records[0])}'s; runs of one "
                                   "configuration share one class list")
    return classes


class _Arm:
    """One configuration's runs as per-cluster sums ``(S, R, 3, k)``: true positives, true and predicted counts
    per class (all a macro-F1, UAR or accuracy needs), over a given cluster pool."""

    def __init__(self, records: Sequence[Record], pool: Mapping[str, int], cluster: str) -> None:
        classes = _check(records)
        index = {c: i for i, c in enumerate(classes)}
        self.sums = np.zeros((len(pool), len(records), 3, len(classes)))
        for r, record in enumerate(records):
            pred = record["predictions"]
            try:
                t = np.array([index[str(x)] for x in pred["true"]])
                p = np.array([index[str(x)] for x in pred["pred"]])
            except KeyError as exc:
                raise UncertaintyError(f"{_name(record)}: label {exc} is not among its classes {classes}") from None
            s = np.array([pool[c] for c in _clusters(record, cluster)])
            np.add.at(self.sums, (s[t == p], r, 0, t[t == p]), 1.0)
            np.add.at(self.sums, (s, r, 1, t), 1.0)
            np.add.at(self.sums, (s, r, 2, p), 1.0)

    def values(self, weights: np.ndarray, metrics: Sequence[str]) -> np.ndarray:
        """Mean over runs of each metric for each row of cluster multiplicities ``weights`` ``(B, S)`` →
        ``(metrics, B)``."""
        sums = np.tensordot(weights, self.sums, axes=(1, 0))  # (B, R, 3, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample where no run has clips: NaN
            return np.stack([np.nanmean(_metric(sums[..., 0, :], sums[..., 1, :], sums[..., 2, :], m), axis=-1)
                             for m in metrics])


def _metric(tp: np.ndarray, truth: np.ndarray, predicted: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` in percent from per-class true positives, true and predicted counts ``(..., k)``; NaN where
    there are no clips."""
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


def metric_from_confusion(conf: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` in percent from confusion matrices ``(..., k, k)`` (rows true); NaN where a matrix is empty."""
    conf = np.asarray(conf, dtype=float)
    return _metric(np.diagonal(conf, axis1=-2, axis2=-1), conf.sum(axis=-1), conf.sum(axis=-2), metric)


def _n_clips(records: Sequence[Record]) -> int:
    """Distinct test clips of the runs (by id; the largest run's size for records without ids)."""
    preds = [r["predictions"] for r in records]
    if all(len(p.get("id") or []) == len(p["true"]) for p in preds):
        return len({str(i) for p in preds for i in p["id"]})
    return max(len(p["true"]) for p in preds)


def _multiplicities(idx: np.ndarray, n: int) -> np.ndarray:
    """Drawn indices ``(..., m)`` → how often each of ``n`` clusters was drawn, ``(B, n)``."""
    idx = np.asarray(idx).reshape(-1, np.shape(idx)[-1])
    rows = np.arange(len(idx))[:, None] * n
    return np.bincount((idx + rows).ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(float)


def _cluster_mode(groups: Sequence[Sequence[Record]], cluster: str) -> str:
    if cluster not in CLUSTERS:
        raise ValueError(f"cluster must be one of {CLUSTERS}, got {cluster!r}")
    if cluster == "speaker" and not all(has_speakers(r) for g in groups for r in g):
        return "clip"
    return cluster


def _bootstrap(
    strata: Sequence[Sequence[Sequence[Record]]],
    combine: Callable[[np.ndarray], np.ndarray],
    metrics: Sequence[str],
    n_resamples: int,
    seed: int,
    level: float,
    cluster: str,
) -> list[dict[str, Any]]:
    """The core, one result per metric (all on the same resamples): ``strata[c][j]`` are arm ``j``'s records in
    stratum (corpus) ``c``; arms of a stratum share its cluster pool and resamples; ``combine`` maps values
    ``(arms, strata, metrics, B)`` to the statistic ``(metrics, B)``."""
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics or any(m not in METRICS for m in metrics):
        raise ValueError(f"metric must be one of {METRICS}, got {metrics!r}")
    mode = _cluster_mode([g for stratum in strata for g in stratum], cluster)
    pools, arms = [], []
    for stratum in strata:
        for g in stratum:
            _check(g)
        names = sorted({c for g in stratum for r in g for c in _clusters(r, mode)})
        pool = {c: i for i, c in enumerate(names)}
        pools.append(pool)
        arms.append([_Arm(g, pool, mode) for g in stratum])

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        values = [[a.values(_multiplicities(i, len(p)), metrics) for a in stratum_arms]
                  for i, p, stratum_arms in zip(idx, pools, arms)]
        out = combine(np.asarray(values).transpose(1, 0, 2, 3))
        return out.reshape((len(metrics), *np.shape(idx[0])[:-1]))

    observed = np.asarray([[a.values(np.ones((1, len(p))), metrics) for a in sa]
                           for p, sa in zip(pools, arms)]).transpose(1, 0, 2, 3)  # (arms, strata, metrics, 1)
    estimates = combine(observed)[:, 0]
    base: dict[str, Any] = {
        "ci_low": float("nan"), "ci_high": float("nan"), "level": level, "n_resamples": n_resamples, "seed": seed,
        "cluster": mode, "n_test_speakers": sum(len(p) for p in pools),
        "n_test_clips": sum(_n_clips(stratum[0]) for stratum in strata), "note": "", "distribution": np.empty(0),
    }
    if mode == "clip" and cluster == "speaker":
        base["note"] = "records lack predictions.speaker: each clip is its own cluster (intervals too narrow)"
        base["n_test_speakers"] = None
    results = [dict(base, metric=m, estimate=float(estimates[i]),
                    arm_means=[float(v) for v in observed[:, :, i, 0].mean(axis=1)]) for i, m in enumerate(metrics)]
    if min(len(p) for p in pools) < 2:
        for result in results:
            result["note"] = (f"{min(len(p) for p in pools)} test {mode} in a stratum: no {mode}-level interval "
                              "can be estimated")
        return results
    res = bootstrap(tuple(np.arange(len(p)) for p in pools), statistic, n_resamples=n_resamples,
                    vectorized=True, paired=False, confidence_level=level, method="percentile",
                    random_state=np.random.default_rng(seed))
    for i, result in enumerate(results):
        dist = np.asarray(res.bootstrap_distribution, dtype=float)[i]
        low, high = float(res.confidence_interval.low[i]), float(res.confidence_interval.high[i])
        if np.isnan(dist).any():  # a resample in which one side had no clips: drop it from the percentiles
            kept = dist[~np.isnan(dist)]
            low, high = float(np.percentile(kept, 50 * (1 - level))), float(np.percentile(kept, 50 * (1 + level)))
            result["note"] = f"{int(np.isnan(dist).sum())} resamples without clips on one side were left out"
        result.update(ci_low=low, ci_high=high, distribution=dist)
    return results


FIRST_KEYS: tuple[str, ...] = ("metric", "mean", "difference", "mean_a", "mean_b", "ci_low", "ci_high", "half_width",
                               "p_value", "n_test_speakers", "n_test_clips", "cluster")


def _public(result: dict[str, Any], keep_distribution: bool) -> dict[str, Any]:
    """The result with its main keys first, and without the bootstrap distribution unless asked."""
    if not keep_distribution:
        result.pop("distribution", None)
    first = {k: result[k] for k in FIRST_KEYS if k in result}
    return {**first, **{k: v for k, v in result.items() if k not in first}}


Groups = Mapping[str, Sequence[Record]]
"""Records per corpus: corpus → the runs of one configuration on it."""


def intervals_over_corpora(groups: Groups, metrics: Sequence[str] = METRICS, n_resamples: int = N_RESAMPLES,
                           seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                           keep_distribution: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`interval_over_corpora` for several metrics at once, on the same resamples: metric → result."""
    strata = [[list(records)] for records in groups.values()]
    out = {}
    for result in _bootstrap(strata, lambda v: v[0].mean(axis=0), metrics, n_resamples, seed, level, cluster):
        result["mean"] = result.pop("estimate")
        result.pop("arm_means")
        result["n_corpora"] = len(strata)
        out[result["metric"]] = _public(result, keep_distribution)
    return out


def interval_over_corpora(groups: Groups, metric: str = "macro_f1", n_resamples: int = N_RESAMPLES, seed: int = 0,
                          level: float = LEVEL, cluster: str = "speaker",
                          keep_distribution: bool = False) -> dict[str, Any]:
    """CI of the mean over corpora of a configuration's per-corpus means (``groups``: corpus → its records),
    resampling speakers within each corpus independently. Keys as :func:`interval_of_records`, and
    ``n_corpora``."""
    return intervals_over_corpora(groups, (metric,), n_resamples, seed, level, cluster, keep_distribution)[metric]


def intervals_of_records(records: Sequence[Record], metrics: Sequence[str] = METRICS,
                         n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                         cluster: str = "speaker", keep_distribution: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`interval_of_records` for several metrics at once, on the same resamples: metric → result."""
    out = intervals_over_corpora({"": records}, metrics, n_resamples, seed, level, cluster, keep_distribution)
    for result in out.values():
        result.pop("n_corpora")
    return out


def interval_of_records(records: Sequence[Record], metric: str = "macro_f1", n_resamples: int = N_RESAMPLES,
                        seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                        keep_distribution: bool = False) -> dict[str, Any]:
    """Speaker-clustered bootstrap CI of ``metric`` (percent) pooled over the runs (seeds/folds) of one
    configuration: a dict with ``mean`` (mean over runs, recomputed from the predictions), ``ci_low``,
    ``ci_high``, ``n_test_speakers`` (clusters in the pool), ``n_test_clips`` (distinct test clips), ``cluster``
    (``speaker``, or ``clip`` for records without speakers or when asked), ``note``, ``level``, ``n_resamples``,
    ``seed`` (and ``distribution`` when ``keep_distribution``)."""
    return intervals_of_records(records, (metric,), n_resamples, seed, level, cluster, keep_distribution)[metric]


def comparisons_over_corpora(groups_a: Groups, groups_b: Groups, metrics: Sequence[str] = METRICS,
                             n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                             cluster: str = "speaker", keep_distribution: bool = False) -> dict[str, dict[str, Any]]:
    """:func:`compare_over_corpora` for several metrics at once, on the same resamples: metric → result."""
    shared = [c for c in groups_a if c in groups_b]
    if not shared:
        raise UncertaintyError(f"A ({', '.join(groups_a)}) and B ({', '.join(groups_b)}) share no corpus")
    strata = [[list(groups_a[c]), list(groups_b[c])] for c in shared]
    out = {}
    for result in _bootstrap(strata, lambda v: (v[0] - v[1]).mean(axis=0), metrics, n_resamples, seed, level,
                             cluster):
        result["difference"] = result.pop("estimate")
        mean_a, mean_b = result.pop("arm_means")
        result.update(mean_a=mean_a, mean_b=mean_b, n_corpora=len(shared), p_value=float("nan"))
        dist = result["distribution"]
        dist = dist[~np.isnan(dist)]
        if dist.size:
            below, above = (np.sum(dist <= 0) + 1) / (dist.size + 1), (np.sum(dist >= 0) + 1) / (dist.size + 1)
            result["p_percentile"] = float(min(1.0, 2 * min(below, above)))
            se = float(np.std(dist, ddof=1)) if dist.size > 1 else 0.0
            result["p_value"] = (float(2 * norm.sf(abs(result["difference"]) / se)) if se > 0
                                 else result["p_percentile"])
        result["half_width"] = (result["ci_high"] - result["ci_low"]) / 2
        out[result["metric"]] = _public(result, keep_distribution)
    return out


def compare_over_corpora(groups_a: Groups, groups_b: Groups, metric: str = "macro_f1",
                         n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                         cluster: str = "speaker", keep_distribution: bool = False) -> dict[str, Any]:
    """Paired bootstrap of (mean over corpora of A) − (same of B) on the corpora both have, resampling speakers
    within each corpus independently and the same speakers for A and B. Keys as :func:`compare_records`, and
    ``n_corpora``."""
    return comparisons_over_corpora(groups_a, groups_b, (metric,), n_resamples, seed, level, cluster,
                                    keep_distribution)[metric]


def compare_records(records_a: Sequence[Record], records_b: Sequence[Record], metric: str = "macro_f1",
                    n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                    keep_distribution: bool = False) -> dict[str, Any]:
    """Paired speaker-clustered bootstrap of A − B on the same test speakers: a dict with ``difference``
    (``mean_a − mean_b``), ``mean_a``, ``mean_b``, ``ci_low``, ``ci_high`` (of the difference), ``half_width``,
    ``p_value`` (two-sided, from the bootstrap standard error), ``p_percentile``, ``n_test_speakers``,
    ``n_test_clips``, ``cluster``, ``note``, ``level``, ``n_resamples``, ``seed``."""
    result = compare_over_corpora({"": records_a}, {"": records_b}, metric, n_resamples, seed, level, cluster,
                                  keep_distribution)
    result.pop("n_corpora")
    return result


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and does not count as a test)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out
