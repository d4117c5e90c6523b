"""Paired comparisons of two configurations: runs paired on the same splits, and an exact sign-flip test over
speakers.

**Pairing** (:func:`pair_runs`): A's and B's runs are paired by (seed, fold); only the runs both sides have are
compared (a note says so), and paired runs must have been tested on the same clips: otherwise the comparison is
refused (:class:`~probe.results.speaker_counts.UncertaintyError`), because a cache that skipped clips deals other
speakers into other folds and the two sides would not be scored on the same speakers. Split hashes that differ
while the test clips agree (other train/val parts) are noted.

**Test** (:func:`sign_flip_p`): the paired permutation ("approximate randomisation") test with the speaker as the
unit. Under the null hypothesis that A and B are exchangeable on each test speaker, swapping A's and B's
predictions of a speaker (in every run that tests it) leaves the distribution of the statistic unchanged. The
statistic is the difference itself (mean over runs of A's metric minus B's, averaged over corpora), recomputed
from the swapped counts, so macro-F1's non-additivity over speakers needs no approximation. All ``2^n`` flips are
enumerated when ``2^n`` ≤ ``n_permutations`` (exact p-values), otherwise that many random flips are drawn with
a fixed seed (p = (1 + hits)/(1 + draws)). The two-sided p-value can never be below ``2 / 2^n``: with 3 test
speakers 0.25, with 5 speakers 0.0625, so nothing can be significant at α = 0.05 with fewer than 6 test speakers
(:func:`smallest_p` says so). :func:`scipy.stats.permutation_test` does the enumeration and counting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import permutation_test

from probe.results.speaker_counts import Counts, Record, UncertaintyError, run_mean, run_name

N_PERMUTATIONS = 2**14  # every flip is enumerated up to 14 test speakers; random flips above


def _key(record: Record) -> tuple[Any, Any]:
    return record.get("seed"), record.get("fold") if record.get("protocol") == "kfold" else 0


def _test_clips(record: Record) -> tuple[str, ...]:
    pred = record["predictions"]
    ids = pred.get("id") or []
    if len(ids) == len(pred.get("true") or []):
        return tuple(sorted(map(str, ids)))
    return tuple(sorted(map(str, pred.get("speaker") or []))) + (f"n={len(pred.get('true') or [])}",)


def pair_runs(records_a: Sequence[Record], records_b: Sequence[Record]) -> tuple[list[Record], list[Record],
                                                                                    list[str]]:
    """A's and B's runs paired by (seed, fold), in key order, and notes; UncertaintyError when they share no run
    or a pair was tested on different clips."""
    by_a, by_b = {_key(r): r for r in records_a}, {_key(r): r for r in records_b}
    if len(by_a) < len(records_a) or len(by_b) < len(records_b):  # no (seed, fold) to pair on: keep the order
        if len(records_a) != len(records_b):
            raise UncertaintyError("runs repeat a (seed, fold), and A and B have different numbers of runs: "
                                   "they cannot be paired")
        by_a, by_b = dict(enumerate(records_a)), dict(enumerate(records_b))
    shared = sorted(set(by_a) & set(by_b), key=str)
    if not shared:
        raise UncertaintyError(f"A's runs ({run_name(records_a[0])}, …) and B's ({run_name(records_b[0])}, …) "
                               "share no (seed, fold): a paired comparison needs runs on the same splits")
    notes = []
    if len(shared) < max(len(by_a), len(by_b)):
        notes.append(f"compared on the {len(shared)} runs both sides have (A has {len(by_a)}, B {len(by_b)})")
    for key in shared:
        a, b = by_a[key], by_b[key]
        hash_a, hash_b = ((r.get("split") or {}).get("hash") for r in (a, b))
        if _test_clips(a) != _test_clips(b):
            raise UncertaintyError(
                f"{run_name(a)} and {run_name(b)} were tested on different splits "
                f"({len(a['predictions']['true'])} vs {len(b['predictions']['true'])} test clips"
                + (f", split hash {hash_a} vs {hash_b}" if hash_a != hash_b else "")
                + "): a paired comparison needs the same test clips (were the caches made from the same files?)")
        if hash_a and hash_b and hash_a != hash_b:
            notes.append(f"split hashes differ ({hash_a} vs {hash_b}) but the test clips are the same")
    return [by_a[k] for k in shared], [by_b[k] for k in shared], sorted(set(notes))


def smallest_p(n_clusters: int, n_permutations: int = N_PERMUTATIONS) -> float:
    """The smallest two-sided p-value the sign-flip test can give with ``n_clusters`` test speakers."""
    if n_clusters < 1:
        return 1.0
    if 2.0**n_clusters <= n_permutations:
        return min(1.0, 2.0 / 2.0**n_clusters)
    return 2.0 / (n_permutations + 1)


def sign_flip_p(strata: Sequence[tuple[Counts, Counts]], metric: str, n_permutations: int = N_PERMUTATIONS,
                seed: int = 0) -> float:
    """Two-sided p-value of the mean over strata of A − B (mean over paired runs of the metric) by flipping A
    and B on each test cluster (all flips, or ``n_permutations`` random ones with ``seed``)."""
    sizes = [a.sums.shape[0] for a, _ in strata]
    n = sum(sizes)
    if n < 2:  # one speaker: the only flip gives −difference, as extreme as the difference itself
        return 1.0 if n else float("nan")
    bounds = np.cumsum([0, *sizes])
    per_resample = max(1, sum(a.sums[0].size for a, _ in strata))

    def statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
        flips = (np.asarray(x) < 0).reshape(-1, n).astype(float)
        out = np.zeros(len(flips))
        for (a, b), lo, hi in zip(strata, bounds[:-1], bounds[1:]):
            swapped = np.tensordot(flips[:, lo:hi], b.sums - a.sums, axes=(1, 0))  # what the flips move from B to A
            sums_a, sums_b = a.sums.sum(axis=0) + swapped, b.sums.sum(axis=0) - swapped
            ones = np.ones(sums_a.shape[:2])
            out += run_mean(sums_a, ones, (metric,))[0] - run_mean(sums_b, ones, (metric,))[0]
        return (out / len(strata)).reshape(np.shape(x)[:-1])

    res = permutation_test((np.arange(1, n + 1, dtype=float),), statistic, permutation_type="samples",
                           vectorized=True, n_resamples=n_permutations, alternative="two-sided",
                           batch=max(64, 2**22 // (per_resample + n)), rng=np.random.default_rng(seed))
    return float(min(1.0, res.pvalue))
