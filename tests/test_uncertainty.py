"""Speaker-clustered bootstrap intervals and paired tests (probe.results.uncertainty) on planted predictions."""

from __future__ import annotations

import numpy as np
import pytest

from probe.train.metrics import classification_metrics
from probe.results.uncertainty import (
    METRICS,
    UncertaintyError,
    compare_over_corpora,
    compare_records,
    holm,
    interval_of_records,
    interval_over_corpora,
    metric_from_confusion,
)
from tests.records_factory import FOUR as CLASSES
from tests.records_factory import make_record
from tests.records_factory import planted_record as planted


def test_point_estimates_match_probe_metrics() -> None:
    rng = np.random.default_rng(1)
    records = [planted(rng.uniform(0.3, 0.9, 6), 12, rng, seed=s) for s in range(3)]
    for metric in METRICS:
        expected = []
        for r in records:
            p = r["predictions"]
            y = np.array([CLASSES.index(x) for x in p["true"]]), np.array([CLASSES.index(x) for x in p["pred"]])
            expected.append(classification_metrics(*y, CLASSES)[metric])
        assert interval_of_records(records, metric, n_resamples=50)["mean"] == pytest.approx(np.mean(expected))


def test_confusion_metrics_follow_sklearn_label_sets() -> None:
    # class 2 is predicted but never true: macro-F1 counts it (F1 0), UAR does not
    conf = np.array([[3, 0, 1], [0, 2, 0], [0, 0, 0]], dtype=float)
    assert metric_from_confusion(conf, "accuracy") == pytest.approx(500 / 6)
    assert metric_from_confusion(conf, "uar") == pytest.approx(100 * (0.75 + 1.0) / 2)
    assert metric_from_confusion(conf, "macro_f1") == pytest.approx(100 * (2 * 3 / 7 + 1.0 + 0.0) / 3)
    assert np.isnan(metric_from_confusion(np.zeros((3, 3)), "macro_f1"))


def test_planted_margin_is_significant() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0.35, 0.55, 16)
    a = [planted(np.minimum(base + 0.3, 0.95), 10, rng, seed=s) for s in range(3)]
    b = [planted(base, 10, rng, seed=s) for s in range(3)]
    result = compare_records(a, b, n_resamples=1000, seed=0)
    assert result["difference"] > 20
    assert result["ci_low"] > 0 and result["p_value"] < 0.01
    # every run tests all 16 speakers, who share each run's seed luck: the p-value is the two-way clustered t
    # with min(16 speakers, 3 runs) - 1 = 2 degrees of freedom (issue 20 replaced the bootstrap's normal p)
    assert result["test"] == "two-way clustered t (speakers × runs), df 2" and result["df"] == 2
    assert result["interval"] == "jackknife-t" and result["p_min"] == 0
    assert result["mean_a"] - result["mean_b"] == pytest.approx(result["difference"])
    assert result["n_test_speakers"] == 16 and result["cluster"] == "speaker"


def test_same_distribution_false_positive_rate_near_five_percent() -> None:
    rng = np.random.default_rng(3)
    rejections, draws = 0, 200
    for _ in range(draws):
        acc = rng.uniform(0.3, 0.8, 12)  # speakers differ; A and B are two draws from the same model of them
        result = compare_records([planted(acc, 8, rng)], [planted(acc, 8, rng)], n_resamples=400,
                                 seed=int(rng.integers(1 << 30)))
        rejections += result["p_value"] < 0.05
    assert 0.01 <= rejections / draws <= 0.10


def test_clustered_interval_is_wider_than_clip_level_when_speakers_differ() -> None:
    rng = np.random.default_rng(4)
    acc = np.array([0.95, 0.9, 0.2, 0.85, 0.15, 0.9, 0.25, 0.8])  # speakers very unlike each other
    records = [planted(acc, 25, rng, seed=s) for s in range(2)]
    by_speaker = interval_of_records(records, seed=0)
    by_clip = interval_of_records(records, seed=0, cluster="clip")
    assert by_speaker["mean"] == pytest.approx(by_clip["mean"])
    width = lambda r: r["unclipped"][1] - r["unclipped"][0]  # noqa: E731 - 2 runs: df 1, both clipped to 0-100
    assert width(by_speaker) > 1.5 * width(by_clip)
    assert by_speaker["n_test_speakers"] == 8 and by_clip["n_test_speakers"] == 200
    assert by_speaker["ci_low"] < by_speaker["mean"] < by_speaker["ci_high"]


def test_deterministic_given_seed() -> None:
    rng = np.random.default_rng(5)
    records = [planted(rng.uniform(0.3, 0.9, 7), 9, rng, seed=s) for s in range(3)]
    first = interval_of_records(records, "uar", seed=7, interval="bootstrap")
    assert interval_of_records(records, "uar", seed=7, interval="bootstrap") == first
    assert interval_of_records(records, "uar", seed=8, interval="bootstrap")["ci_low"] != first["ci_low"]
    # 7 speakers: the default interval is the jackknife-t, which has no randomness at all
    jack = interval_of_records(records, "uar", seed=7)
    assert jack["interval"] == "jackknife-t" and jack == interval_of_records(records, "uar", seed=8) | {"seed": 7}


def test_records_without_speakers_fall_back_to_clips() -> None:
    rng = np.random.default_rng(6)
    records = [planted(rng.uniform(0.3, 0.9, 5), 10, rng, speakers=False)]
    result = interval_of_records(records, n_resamples=200)
    assert result["cluster"] == "clip" and "each clip is its own cluster" in result["note"]
    assert result["n_test_clips"] == 50 and result["ci_low"] < result["ci_high"]


def test_one_speaker_gives_no_interval() -> None:
    rng = np.random.default_rng(7)
    result = interval_of_records([planted(np.array([0.6]), 30, rng)], n_resamples=100)
    assert np.isnan(result["ci_low"]) and "no speaker-level interval" in result["note"]


def test_corpora_resampled_independently() -> None:
    rng = np.random.default_rng(8)
    groups = {c: [planted(rng.uniform(0.3, 0.9, 6), 10, rng, corpus=c)] for c in ("x", "y", "z")}
    overall = interval_over_corpora(groups, n_resamples=500)
    singles = [interval_of_records(g, n_resamples=500) for g in groups.values()]
    assert overall["mean"] == pytest.approx(np.mean([s["mean"] for s in singles]))
    assert overall["n_corpora"] == 3 and overall["n_test_speakers"] == 18
    # averaging three independent corpora shrinks the interval below the mean single-corpus width
    assert overall["ci_high"] - overall["ci_low"] < np.mean([s["ci_high"] - s["ci_low"] for s in singles])
    better = {c: [planted(np.full(6, 0.95), 10, rng, corpus=c)] for c in groups}
    assert compare_over_corpora(better, groups, n_resamples=500)["p_value"] < 0.01


def test_factory_records_and_errors() -> None:
    records = [make_record("aesdd", "wav2vec2-base", "linear", seed=s, n_speakers=4) for s in range(3)]
    result = interval_of_records(records, n_resamples=100)
    assert result["n_test_speakers"] == 4 and result["n_test_clips"] == 60
    broken = dict(records[0], predictions={})
    with pytest.raises(UncertaintyError, match="aesdd/wav2vec2-base/linear seed 0"):
        interval_of_records([broken])
    with pytest.raises(ValueError, match="metric"):
        interval_of_records(records, "auc")


def test_holm() -> None:
    adjusted = holm([0.01, 0.04, 0.03, float("nan")])
    assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06]) and np.isnan(adjusted[3])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
