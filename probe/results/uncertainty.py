"""Speaker-clustered intervals and paired tests on the test predictions of run records.

Clips of one speaker are correlated, so the unit of every interval and test is the **speaker** (the cluster),
not the clip, and with the 3–24 test speakers of most SER corpora the methods must hold their level with few
clusters. For one configuration (the seeds or folds of one leaderboard row) the pool is every test speaker of its
runs (``n_test_speakers``) and the estimate is the mean over runs of each run's metric, exactly as the leaderboard
states it; the metrics are recomputed from per-speaker class counts (:mod:`probe.results.speaker_counts`).

* **Intervals** (``interval="auto"`` or ``"t"``): a jackknife clustered by speaker and by run, with a Student-t
  quantile (:func:`probe.results.cluster_intervals.jackknife_t`): a run's test speakers share its training seed's luck, so
  with several speakers per run neither the speaker-level jackknife nor the speaker bootstrap holds its level
  (simulated). ``interval="bootstrap"``: a speaker-clustered percentile bootstrap (:func:`scipy.stats.bootstrap`,
  1000 resamples, seeded) in which each run counts with its clips' multiplicity; valid only when runs test one
  speaker each.
* **Paired comparisons** (:func:`compare_records`): A's and B's runs are paired on the same splits
  (:func:`probe.results.paired.pair_runs` refuses runs tested on different clips); the difference's interval as above on
  the same speakers for both sides. The p-value: when every run tests one speaker (leave-one-speaker-out, or a
  holdout of a small corpus), an exact sign-flip permutation test over speakers (:func:`probe.results.paired.sign_flip_p`),
  which can never be below ``2/2^n`` (``p_min``; 0.25 for 3 speakers; the note says when nothing can be
  significant); when runs test several speakers, the two-way clustered t test of the same jackknife
  (``df = min(speakers, runs) − 1``).
* Averages over corpora (:func:`interval_over_corpora`, :func:`compare_over_corpora`) treat corpora as strata:
  speakers are left out, drawn or flipped within each corpus. :func:`holm` corrects a table's p-values.

The calibration is simulated at the users' settings in ``benchmarks/calibration.py`` (the README quotes its table).
Records without ``predictions.speaker`` (schema ``/1``): each clip is its own cluster, and the result says so
(``cluster: "clip"``). Intervals from one speaker cannot be estimated: they are NaN, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import t as student_t

from probe.results.cluster_intervals import cluster_bootstrap, difference, jackknife_t, single
from probe.results.paired import N_PERMUTATIONS, pair_runs, sign_flip_p, smallest_p
from probe.results.speaker_counts import (
    CLUSTERS,
    METRICS,
    Counts,
    Record,
    UncertaintyError,
    check_metrics,
    check_records,
    cluster_mode,
    clusters_of,
    has_speakers,
    metric_from_counts,
    n_clips,
)

__all__ = ["ALPHA", "CLUSTERS", "LEVEL", "METRICS", "N_PERMUTATIONS", "N_RESAMPLES",
           "UncertaintyError", "compare_over_corpora", "compare_records", "comparisons_over_corpora",
           "has_speakers", "holm", "interval_of_records", "interval_over_corpora", "intervals_of_records",
           "intervals_over_corpora", "metric_from_confusion", "smallest_p"]

N_RESAMPLES = 1000
LEVEL = 0.95
ALPHA = 0.05
INTERVALS: tuple[str, ...] = ("auto", "t", "bootstrap")


def metric_from_confusion(conf: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` in percent from confusion matrices ``(..., k, k)`` (rows true); NaN where a matrix is empty."""
    conf = np.asarray(conf, dtype=float)
    return metric_from_counts(np.diagonal(conf, axis1=-2, axis2=-1), conf.sum(axis=-1), conf.sum(axis=-2), metric)


def _estimate(strata: Sequence[Sequence[Sequence[Record]]], contrast: Any, metrics: Sequence[str],
              n_resamples: int, seed: int, level: float, cluster: str,
              interval: str) -> tuple[list[dict[str, Any]], list[list[Counts]]]:
    """One result per metric, and the arms' counts: ``strata[c][j]`` are arm ``j``'s records in stratum (corpus)
    ``c``; arms of a stratum share its cluster pool; the statistic is the mean over strata of ``contrast`` of the
    arms."""
    metrics = check_metrics(metrics)
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}, got {interval!r}")
    mode = cluster_mode([g for stratum in strata for g in stratum], cluster)
    arms = []
    for stratum in strata:
        for g in stratum:
            check_records(g)
        names = sorted({c for g in stratum for r in g for c in clusters_of(r, mode)})
        pool = {c: i for i, c in enumerate(names)}
        arms.append([Counts(g, pool, mode) for g in stratum])
    sizes = [a[0].sums.shape[0] for a in arms]
    use = "t" if interval == "auto" else interval
    estimate, low, high, df, se = jackknife_t(arms, contrast, metrics, level)
    base: dict[str, Any] = {
        "ci_low": float("nan"), "ci_high": float("nan"), "level": level, "interval": "jackknife-t",
        "n_resamples": n_resamples, "seed": seed, "cluster": mode, "n_test_speakers": sum(sizes),
        "n_test_clips": sum(n_clips(stratum[0]) for stratum in strata), "note": "", "distribution": np.empty(0),
    }
    if mode == "clip" and cluster == "speaker":
        base["note"] = "records lack predictions.speaker: each clip is its own cluster (intervals too narrow)"
        base["n_test_speakers"] = None
    ones = [[a.values(np.ones((1, n)), metrics)[:, 0] for a in stratum] for stratum, n in zip(arms, sizes)]
    results = [dict(base, metric=m, estimate=float(estimate[i]), se=float(se[i]), df=float(df[i]),
                    arm_means=[float(np.mean([o[j][i] for o in ones])) for j in range(len(ones[0]))])
               for i, m in enumerate(metrics)]
    if min(sizes) < 2:
        for result in results:
            result["note"] = f"{min(sizes)} test {mode} in a stratum: no {mode}-level interval can be estimated"
        return results, arms
    if use == "t":
        for i, result in enumerate(results):
            result.update(ci_low=float(low[i]), ci_high=float(high[i]))
        return results, arms
    low, high, dist, left_out = cluster_bootstrap(arms, contrast, metrics, level, n_resamples, seed)
    for i, result in enumerate(results):
        result.update(ci_low=float(low[i]), ci_high=float(high[i]), distribution=dist[i], interval="bootstrap")
        if left_out:
            result["note"] = f"{left_out} resamples without clips on one side were left out"
    return results, arms


FIRST_KEYS: tuple[str, ...] = ("metric", "mean", "difference", "mean_a", "mean_b", "ci_low", "ci_high", "half_width",
                               "p_value", "p_min", "n_test_speakers", "n_test_clips", "cluster")


def _public(result: dict[str, Any], keep_distribution: bool) -> dict[str, Any]:
    """The result with its main keys first, and without the bootstrap distribution unless asked."""
    if not keep_distribution:
        result.pop("distribution", None)
    first = {k: result[k] for k in FIRST_KEYS if k in result}
    return {**first, **{k: v for k, v in result.items() if k not in first}}


Groups = Mapping[str, Sequence[Record]]
"""Records per corpus: corpus → the runs of one configuration on it."""


def clip_to_scale(result: dict[str, Any]) -> None:
    """Clip a score's interval to the metric's scale, 0–100 %: a jackknife-t interval is symmetric and, with few
    clusters (df 2), can reach past either end; the true score lies inside the scale, so clipping loses no
    coverage. Says so in the result's ``clipped`` and keeps the bounds before clipping in ``unclipped``.
    Differences (−100 to 100) are never clipped."""
    low, high = result["ci_low"], result["ci_high"]
    result["unclipped"] = (low, high)
    result["clipped"] = bool(low < 0.0 or high > 100.0)
    if result["clipped"]:
        result["ci_low"], result["ci_high"] = max(low, 0.0), min(high, 100.0)


def intervals_over_corpora(groups: Groups, metrics: Sequence[str] = METRICS, n_resamples: int = N_RESAMPLES,
                           seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                           keep_distribution: bool = False, interval: str = "auto") -> dict[str, dict[str, Any]]:
    """:func:`interval_over_corpora` for several metrics at once: metric → result."""
    strata = [[list(records)] for records in groups.values()]
    out = {}
    for result in _estimate(strata, single, metrics, n_resamples, seed, level, cluster, interval)[0]:
        result["mean"] = result.pop("estimate")
        clip_to_scale(result)
        result.pop("arm_means")
        result["n_corpora"] = len(strata)
        out[result["metric"]] = _public(result, keep_distribution)
    return out


def interval_over_corpora(groups: Groups, metric: str = "macro_f1", n_resamples: int = N_RESAMPLES, seed: int = 0,
                          level: float = LEVEL, cluster: str = "speaker", keep_distribution: bool = False,
                          interval: str = "auto") -> dict[str, Any]:
    """CI of the mean over corpora of a configuration's per-corpus means (``groups``: corpus → its records),
    speakers left out or resampled within each corpus. Keys as :func:`interval_of_records`, and ``n_corpora``."""
    return intervals_over_corpora(groups, (metric,), n_resamples, seed, level, cluster, keep_distribution,
                                  interval)[metric]


def intervals_of_records(records: Sequence[Record], metrics: Sequence[str] = METRICS,
                         n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                         cluster: str = "speaker", keep_distribution: bool = False,
                         interval: str = "auto") -> dict[str, dict[str, Any]]:
    """:func:`interval_of_records` for several metrics at once: metric → result."""
    out = intervals_over_corpora({"": records}, metrics, n_resamples, seed, level, cluster, keep_distribution,
                                 interval)
    for result in out.values():
        result.pop("n_corpora")
    return out


def interval_of_records(records: Sequence[Record], metric: str = "macro_f1", n_resamples: int = N_RESAMPLES,
                        seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                        keep_distribution: bool = False, interval: str = "auto") -> dict[str, Any]:
    """Speaker-clustered CI of ``metric`` (percent) pooled over the runs (seeds/folds) of one configuration: a
    dict with ``mean`` (mean over runs, recomputed from the predictions), ``ci_low``, ``ci_high``, ``interval``
    (``jackknife-t`` with ``df``, or ``bootstrap``), ``n_test_speakers`` (clusters in the pool),
    ``n_test_clips`` (distinct test clips), ``cluster`` (``speaker``, or ``clip`` for records without speakers
    or when asked), ``note``, ``level``, ``n_resamples``, ``seed`` (and ``distribution`` when
    ``keep_distribution`` and bootstrapped)."""
    return intervals_of_records(records, (metric,), n_resamples, seed, level, cluster, keep_distribution,
                                interval)[metric]


def comparisons_over_corpora(groups_a: Groups, groups_b: Groups, metrics: Sequence[str] = METRICS,
                             n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                             cluster: str = "speaker", keep_distribution: bool = False, interval: str = "auto",
                             n_permutations: int = N_PERMUTATIONS) -> dict[str, dict[str, Any]]:
    """:func:`compare_over_corpora` for several metrics at once: metric → result."""
    shared = [c for c in groups_a if c in groups_b]
    if not shared:
        raise UncertaintyError(f"A ({', '.join(groups_a)}) and B ({', '.join(groups_b)}) share no corpus")
    strata, pair_notes = [], set()
    for corpus in shared:
        a, b, notes = pair_runs(list(groups_a[corpus]), list(groups_b[corpus]))
        strata.append([a, b])
        pair_notes |= {f"{corpus}: {n}" if corpus else n for n in notes}
    out = {}
    results, arms = _estimate(strata, difference, metrics, n_resamples, seed, level, cluster, interval)
    counts = [(a, b) for a, b in arms]
    n = sum(a.sums.shape[0] for a, _ in counts)
    nested = all(a.runs_nested_in_clusters() for a, _ in counts)
    for result in results:
        result["difference"] = result.pop("estimate")
        mean_a, mean_b = result.pop("arm_means")
        mode = result["cluster"]
        if nested:  # every run tests one speaker: speakers are independent units, the flip test is exact
            p_min = smallest_p(n, n_permutations)
            result.update(p_value=sign_flip_p(counts, result["metric"], n_permutations, seed),
                          test=("sign-flip, exact" if 2.0**n <= n_permutations else
                                f"sign-flip, {n_permutations} random flips"))
        else:  # runs test several speakers who share the run's seed luck: two-way clustered t
            p_min, d, se, df = 0.0, result["difference"], result["se"], result["df"]
            result.update(p_value=float(2 * student_t.sf(abs(d) / se, df)) if se > 0 else (1.0 if d == 0 else
                                                                                             float("nan")),
                          test=f"two-way clustered t (speakers × runs), df {df:.0f}")
        result.update(mean_a=mean_a, mean_b=mean_b, n_corpora=len(shared), p_min=p_min,
                      n_permutations=n_permutations)
        notes = [result["note"]] if result["note"] else []
        if p_min >= ALPHA:
            plural = "s" if n != 1 else ""
            notes.append(f"{n} test {mode}{plural}: the smallest two-sided p-value a paired test over them can "
                         f"give is {p_min:.3g} (2/2^{n}), so no difference can be significant at α = {ALPHA}; "
                         "test more speakers (every speaker once: --protocol kfold)")
        result["note"] = "; ".join(notes + sorted(pair_notes))
        result["half_width"] = (result["ci_high"] - result["ci_low"]) / 2
        out[result["metric"]] = _public(result, keep_distribution)
    return out


def compare_over_corpora(groups_a: Groups, groups_b: Groups, metric: str = "macro_f1",
                         n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL,
                         cluster: str = "speaker", keep_distribution: bool = False, interval: str = "auto",
                         n_permutations: int = N_PERMUTATIONS) -> dict[str, Any]:
    """Paired comparison of (mean over corpora of A) − (same of B) on the corpora both have, speakers left out,
    resampled or flipped within each corpus and the same for A and B. Keys as :func:`compare_records`, and
    ``n_corpora``."""
    return comparisons_over_corpora(groups_a, groups_b, (metric,), n_resamples, seed, level, cluster,
                                    keep_distribution, interval, n_permutations)[metric]


def compare_records(records_a: Sequence[Record], records_b: Sequence[Record], metric: str = "macro_f1",
                    n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL, cluster: str = "speaker",
                    keep_distribution: bool = False, interval: str = "auto",
                    n_permutations: int = N_PERMUTATIONS) -> dict[str, Any]:
    """Paired comparison of A − B on the same test speakers (runs paired by seed and fold, refused when tested
    on different clips): a dict with ``difference`` (``mean_a − mean_b``), ``mean_a``, ``mean_b``, ``ci_low``,
    ``ci_high`` (of the difference), ``half_width``, ``interval``, ``p_value`` (two-sided sign-flip permutation
    test over speakers), ``p_min`` (the smallest p it can give), ``test``, ``n_test_speakers``,
    ``n_test_clips``, ``cluster``, ``note``, ``level``, ``n_resamples``, ``n_permutations``, ``seed``."""
    result = compare_over_corpora({"": records_a}, {"": records_b}, metric, n_resamples, seed, level, cluster,
                                  keep_distribution, interval, n_permutations)
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
