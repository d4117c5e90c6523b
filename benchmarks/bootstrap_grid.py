"""How long do the speaker-clustered intervals and paired tests of the full paper grid take?

Builds run records in memory for 9 corpora × 6 backbones × 3 probes × 3 seeds with the test parts a holdout
80/10/10 speaker split gives on the real corpora (files and speakers from ``corpora.md``; each seed draws its own
test speakers, as ``probe run`` does; predictions right with a per-speaker probability), then times what the
leaderboard and the report compute (:mod:`probe.results.uncertainty` at its defaults: the speaker × run jackknife, and
the sign-flip or two-way clustered t test; the labels below still say "bootstraps"):

* a 95% CI of macro-F1, UAR and accuracy for every configuration (the leaderboard's columns);
* paired comparisons of every pair of backbones for every probe on every corpus (the tables' significance);
* the average-over-corpora CI of every (backbone, probe) and the paired comparisons of its backbones.

Prints each part's time, the total and the machine. Target: seconds, not minutes.

    python benchmarks/bootstrap_grid.py [--resamples 1000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time

import numpy as np

from probe.results.uncertainty import METRICS, compare_over_corpora, compare_records, interval_over_corpora, \
    intervals_of_records

CORPORA: dict[str, tuple[int, int, int]] = {  # files, speakers, classes (corpora.md)
    "aesdd": (604, 6, 5), "cafe": (936, 12, 7), "demos": (9697, 68, 8), "emodb": (535, 10, 7),
    "emomatch": (2000, 50, 7), "emovo": (588, 6, 7), "eyase": (540, 6, 4), "oreau": (434, 32, 7),
    "shemo": (3000, 87, 6),
}
MODELS = ("wav2vec2-base", "wav2vec2-large", "xls-r-300m", "whisper-small.en", "whisper-small", "whisper-medium")
PROBES = ("linear", "nonlinear", "multilayer")
SEEDS = (0, 1, 2)


def grid(rng: np.random.Generator) -> dict[tuple[str, str, str], list[dict]]:
    """Records per (corpus, model, probe): the same test speakers for every model of a corpus and seed."""
    out: dict[tuple[str, str, str], list[dict]] = {}
    for corpus, (files, n_speakers, k) in CORPORA.items():
        classes = [f"c{i}" for i in range(k)]
        per_speaker = files // n_speakers
        n_test = max(1, round(0.1 * n_speakers))
        tests = [rng.choice(n_speakers, n_test, replace=False) for _ in SEEDS]
        for model, probe in itertools.product(MODELS, PROBES):
            skill = rng.uniform(0.3, 0.8, n_speakers)
            records = []
            for seed, speakers in zip(SEEDS, tests):
                spk = np.repeat(speakers, per_speaker)
                true = rng.integers(0, k, len(spk))
                right = rng.random(len(spk)) < skill[spk]
                pred = np.where(right, true, (true + rng.integers(1, k, len(spk))) % k)
                records.append({
                    "corpus": corpus, "model": model, "probe": probe, "seed": seed, "classes": classes,
                    "predictions": {"id": [f"{s}-{i}" for i, s in enumerate(spk)], "speaker": [str(s) for s in spk],
                                    "true": [classes[i] for i in true], "pred": [classes[i] for i in pred]},
                })
            out[(corpus, model, probe)] = records
    return out


def _cpu() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else what :mod:`platform` knows."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _now() -> float:
    """Wall time, in seconds."""
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per interval")
    args = parser.parse_args()
    cells = grid(np.random.default_rng(0))
    n_records = sum(map(len, cells.values()))
    options = {"n_resamples": args.resamples, "seed": 0}
    times: dict[str, tuple[int, float]] = {}
    cpu = time.process_time()

    start = _now()
    for records in cells.values():
        intervals_of_records(records, METRICS, **options)
    times[f"leaderboard CIs ({len(METRICS)} metrics on the same resamples)"] = (len(cells), _now() - start)

    start, n = _now(), 0
    for corpus, probe in itertools.product(CORPORA, PROBES):
        for a, b in itertools.combinations(MODELS, 2):
            compare_records(cells[(corpus, a, probe)], cells[(corpus, b, probe)], **options)
            n += 1
    times["paired backbone comparisons per corpus and probe"] = (n, _now() - start)

    start, n = _now(), 0
    by_corpus = {(m, p): {c: cells[(c, m, p)] for c in CORPORA} for m, p in itertools.product(MODELS, PROBES)}
    for groups in by_corpus.values():
        interval_over_corpora(groups, **options)
        n += 1
    for probe in PROBES:
        for a, b in itertools.combinations(MODELS, 2):
            compare_over_corpora(by_corpus[(a, probe)], by_corpus[(b, probe)], **options)
            n += 1
    times["average-over-corpora CIs and comparisons"] = (n, _now() - start)

    total, cpu = sum(t for _, t in times.values()), time.process_time() - cpu
    print(f"grid: {len(CORPORA)} corpora × {len(MODELS)} backbones × {len(PROBES)} probes × {len(SEEDS)} seeds = "
          f"{n_records} records; {args.resamples} resamples per bootstrap")
    for name, (count, seconds) in times.items():
        print(f"  {name}: {count} bootstraps in {seconds:.2f} s ({1000 * seconds / count:.1f} ms each)")
    print(f"total: {total:.2f} s wall, {cpu:.2f} s CPU time of this process (wall > CPU: other work shares the "
          "machine)")
    print(f"machine: {platform.platform()}, {_cpu()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, NumPy {np.__version__}")


if __name__ == "__main__":
    main()
