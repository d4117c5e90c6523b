"""Do the suite's p-values and intervals hold their level with few speakers? A record-level simulation.

A corpus of ``n`` speakers, each saying every one of 4 classes 6 times (24 clips). The runs are the ones
``probe run`` makes with 3 seeds: the test speakers of each seed's holdout split, or every fold of each seed's
k-fold split (:mod:`probe.run.splits`, leave-one-speaker-out up to 12 speakers). Two configurations A and B predict
every test clip of every run; a clip is right with probability ``sigmoid(μ + u_s + w_as + v_ar + δ_a)``, otherwise
one of the wrong classes at random:

* ``u_s`` ~ N(0, 0.6): how hard speaker ``s`` is (shared by A and B);
* ``w_as`` ~ N(0, 0.3): how well configuration ``a`` suits speaker ``s`` (independent features, independent noise);
* ``v_ar`` ~ N(0, 0.15): the training seed's luck of configuration ``a`` in run ``r`` (a few macro-F1 points);
* ``μ`` = 0.3; ``δ_a`` = 0 under the null, ``δ_A`` = 0.5 for the coverage check.

The records are written as ``probe run`` writes them (ids, speakers, true and predicted labels, seed, fold, split
hash) and compared with :func:`probe.results.uncertainty.compare_records` at its defaults (macro-F1): the false-positive
rate is the share of null comparisons with p < 0.05; the coverage is the share of 95% intervals of A − B that
contain the true difference, the mean of 4000 simulated estimates at the same settings.

    python benchmarks/calibration.py [--draws 400] [--speakers 4,6,10,24,60]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from probe.results.speaker_counts import metric_from_counts
from probe.results.uncertainty import compare_records
from probe.run.splits import LOSO_MAX_SPEAKERS, holdout_split, kfold_split

CLASSES = ("anger", "happiness", "neutral", "sadness")
PER_CLASS, SEEDS, MU, SD_SPEAKER, SD_SUIT, SD_SEED, EFFECT = 6, (0, 1, 2), 0.3, 0.6, 0.3, 0.15, 0.5


@dataclass
class Design:
    """The test parts of a corpus's runs: per run (seed, fold) the indices of its test clips."""

    n_speakers: int
    protocol: str
    runs: list[tuple[int, int, np.ndarray]]
    speaker: np.ndarray
    true: np.ndarray

    @property
    def n_tested(self) -> int:
        return len(np.unique(np.concatenate([self.speaker[c] for _, _, c in self.runs])))


def design(n_speakers: int, protocol: str) -> Design:
    """The runs ``probe run`` makes with 3 seeds on a corpus of ``n_speakers`` speakers."""
    speaker = np.repeat(np.arange(n_speakers), PER_CLASS * len(CLASSES))
    true = np.tile(np.repeat(np.arange(len(CLASSES)), PER_CLASS), n_speakers)
    manifest = pd.DataFrame({"id": [f"c{i:05d}" for i in range(len(speaker))], "label": [CLASSES[t] for t in true],
                             "speaker": [f"s{s:02d}" for s in speaker]})
    runs = []
    for seed in SEEDS:
        split = holdout_split(manifest, seed) if protocol == "holdout" else kfold_split(manifest, seed)
        for fold in split.folds:
            test = split.masks(manifest["id"].tolist(), fold)["test"]
            runs.append((seed, fold, np.flatnonzero(test)))
    return Design(n_speakers, protocol, runs, speaker, true)


def _predict(d: Design, rng: np.random.Generator, effect: float, u: np.ndarray) -> list[np.ndarray]:
    """One configuration's predicted class of every run's test clips."""
    suit = rng.normal(0.0, SD_SUIT, d.n_speakers)
    out = []
    for _, _, clips in d.runs:
        logit = MU + u[d.speaker[clips]] + suit[d.speaker[clips]] + rng.normal(0.0, SD_SEED) + effect
        right = rng.random(len(clips)) < 1.0 / (1.0 + np.exp(-logit))
        wrong = (d.true[clips] + rng.integers(1, len(CLASSES), len(clips))) % len(CLASSES)
        out.append(np.where(right, d.true[clips], wrong))
    return out


def _records(d: Design, preds: list[np.ndarray]) -> list[dict[str, Any]]:
    names = np.array(CLASSES)
    return [{"corpus": "sim", "model": "m", "probe": "linear", "protocol": d.protocol, "seed": seed, "fold": fold,
             "classes": list(CLASSES), "split": {"hash": f"{d.protocol}-{seed}"},
             "predictions": {"id": [f"c{i:05d}" for i in clips], "speaker": [f"s{s:02d}" for s in d.speaker[clips]],
                             "true": names[d.true[clips]].tolist(), "pred": names[p].tolist()}}
            for (seed, fold, clips), p in zip(d.runs, preds)]


def draw(d: Design, rng: np.random.Generator, effect: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A's and B's records for one simulated corpus (A better by ``effect`` on the logit scale)."""
    u = rng.normal(0.0, SD_SPEAKER, d.n_speakers)
    return _records(d, _predict(d, rng, effect, u)), _records(d, _predict(d, rng, 0.0, u))


def _macro_f1(d: Design, preds: list[np.ndarray]) -> float:
    k = len(CLASSES)
    values = []
    for (_, _, clips), p in zip(d.runs, preds):
        t = d.true[clips]
        counts = [np.bincount(t[t == p], minlength=k), np.bincount(t, minlength=k), np.bincount(p, minlength=k)]
        values.append(float(metric_from_counts(*counts, "macro_f1")))
    return float(np.mean(values))


def true_difference(d: Design, effect: float, n: int = 4000, seed: int = 12345) -> float:
    """The expected estimate of A − B at these settings: the mean of ``n`` simulated estimates."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        u = rng.normal(0.0, SD_SPEAKER, d.n_speakers)
        diffs.append(_macro_f1(d, _predict(d, rng, effect, u)) - _macro_f1(d, _predict(d, rng, 0.0, u)))
    return float(np.mean(diffs))


def calibrate(n_speakers: int, protocol: str, draws: int = 200, seed: int = 0, alpha: float = 0.05,
              truth_draws: int = 4000) -> dict[str, Any]:
    """False-positive rate at ``alpha`` over ``draws`` null comparisons, and the 95% coverage of a planted
    difference over as many, for one corpus size and protocol."""
    d = design(n_speakers, protocol)
    rng = np.random.default_rng(seed)
    truth = true_difference(d, EFFECT, truth_draws)
    rejected = covered = 0
    widths, p_min = [], 1.0
    for _ in range(draws):
        null = compare_records(*draw(d, rng, 0.0))
        rejected += null["p_value"] < alpha
        p_min = null["p_min"]
        found = compare_records(*draw(d, rng, EFFECT))
        covered += found["ci_low"] <= truth <= found["ci_high"]
        widths.append(found["ci_high"] - found["ci_low"])
    return {"speakers": n_speakers, "protocol": protocol, "runs": len(d.runs), "tested": d.n_tested,
            "p_min": p_min, "false_positive_rate": rejected / draws, "coverage": covered / draws,
            "true_difference": truth, "mean_width": float(np.mean(widths)), "draws": draws,
            "interval": found["interval"], "test": found["test"]}


def settings(speakers: list[int]) -> list[tuple[int, str]]:
    """The protocols users run: k-fold (``--protocol auto`` for ≤ 12 speakers) and the paper's holdout; and 5-fold
    k-fold from 30 speakers (every speaker tested, several per run: the two-way clustered t)."""
    def protocols(n: int) -> tuple[str, ...]:
        if n <= LOSO_MAX_SPEAKERS:
            return ("kfold", "holdout")
        return ("holdout", "kfold") if n >= 30 else ("holdout",)

    return [(n, p) for n in speakers for p in protocols(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--speakers", default="4,6,10,24,60")
    args = parser.parse_args()
    print("| speakers | protocol | runs | speakers tested | smallest p | false positives (α 0.05) | 95% coverage "
          "| true difference | mean width | interval | test |")
    print("|---:|:---|---:|---:|---:|---:|---:|---:|---:|:---|:---|")
    start = time.perf_counter()
    for n, protocol in settings([int(x) for x in args.speakers.split(",")]):
        r = calibrate(n, protocol, args.draws)
        print(f"| {n} | {protocol} | {r['runs']} | {r['tested']} | {r['p_min']:.3g} | "
              f"{r['false_positive_rate']:.3f} | {r['coverage']:.3f} | {r['true_difference']:+.1f} | "
              f"{r['mean_width']:.1f} | {r['interval']} | {r['test']} |", flush=True)
    print(f"\n{args.draws} null and {args.draws} planted comparisons per row; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
