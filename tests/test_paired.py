"""Paired comparisons (probe.results.paired): runs paired on the same splits, and the exact sign-flip test over speakers."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from probe.results.uncertainty import UncertaintyError, compare_records
from probe.train.metrics import classification_metrics
from tests.records_factory import FOUR, planted_record


def _pair(n_speakers: int, clips: int = 6, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Leave-one-speaker-out runs (one test speaker per fold, 2 seeds) of A and of a better B."""
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.3, 0.8, n_speakers)

    a, b = [], []
    for s in range(2):
        for fold in range(n_speakers):
            record = planted_record(acc[fold : fold + 1], clips, rng, seed=s)
            pred = record["predictions"]
            pred.update(speaker=[f"c-s{fold}"] * clips, id=[f"c/{fold}/{i}" for i in range(clips)])
            a.append(dict(record, protocol="kfold", fold=fold, split={"hash": f"h{s}"}))
            true = np.array([FOUR.index(x) for x in pred["true"]])  # B predicts the same clips, more often right
            right = rng.random(clips) < min(acc[fold] + 0.2, 0.95)
            other = np.where(right, true, (true + rng.integers(1, 4, clips)) % 4)
            b.append(copy.deepcopy(a[-1]))
            b[-1]["predictions"]["pred"] = [FOUR[i] for i in other]
    return a, b


def _macro_f1(record: dict) -> float:
    p = record["predictions"]
    return classification_metrics(np.array([FOUR.index(x) for x in p["true"]]),
                                  np.array([FOUR.index(x) for x in p["pred"]]), FOUR)["macro_f1"]


def test_exact_p_value_is_the_share_of_speaker_flips_as_extreme() -> None:
    a, b = _pair(5)
    observed = np.mean([_macro_f1(x) for x in a]) - np.mean([_macro_f1(x) for x in b])
    speakers = sorted({s for r in a for s in r["predictions"]["speaker"]})
    extreme = 0
    for flips in itertools.product((0, 1), repeat=len(speakers)):  # swap A's and B's predictions per speaker
        swapped_a, swapped_b = copy.deepcopy(a), copy.deepcopy(b)
        for ra, rb in zip(swapped_a, swapped_b):
            for i, spk in enumerate(ra["predictions"]["speaker"]):
                if flips[speakers.index(spk)]:
                    ra["predictions"]["pred"][i], rb["predictions"]["pred"][i] = (rb["predictions"]["pred"][i],
                                                                                  ra["predictions"]["pred"][i])
        diff = np.mean([_macro_f1(x) for x in swapped_a]) - np.mean([_macro_f1(x) for x in swapped_b])
        extreme += abs(diff) >= abs(observed) - 1e-9
    result = compare_records(a, b)
    assert result["difference"] == pytest.approx(observed)
    assert result["p_value"] == pytest.approx(extreme / 2**5) and result["test"] == "sign-flip, exact"


def test_three_speakers_say_why_nothing_can_be_significant() -> None:
    a, b = _pair(3, clips=30)
    result = compare_records(a, b)
    assert result["p_min"] == 0.25 and result["p_value"] >= 0.25
    assert "no difference can be significant at α = 0.05" in result["note"] and "2/2^3" in result["note"]
    assert np.isfinite(result["ci_low"]) and result["df"] == 2


def test_runs_tested_on_different_clips_are_refused() -> None:
    a, b = _pair(6)
    b[7] = copy.deepcopy(b[7])
    for key in ("id", "speaker", "true", "pred"):
        b[7]["predictions"][key] = b[7]["predictions"][key][:-3]  # a cache that skipped three clips
    b[7]["split"] = {"hash": "other"}
    with pytest.raises(UncertaintyError, match="tested on different splits .*split hash h1 vs other"):
        compare_records(a, b)


def test_same_clips_other_split_hash_and_missing_runs_are_noted() -> None:
    a, b = _pair(6)
    b[0] = dict(b[0], split={"hash": "retrained"})
    note = compare_records(a, b)["note"]
    assert "split hashes differ (h0 vs retrained) but the test clips are the same" in note
    only = compare_records(a, b[6:])  # B has seed 1 only
    assert "compared on the 6 runs both sides have (A has 12, B 6)" in only["note"]
    assert only["mean_a"] == pytest.approx(np.mean([_macro_f1(r) for r in a[6:]]))
    with pytest.raises(UncertaintyError, match="share no"):
        compare_records(a[:6], b[6:])


def test_runs_of_several_speakers_use_the_two_way_clustered_t() -> None:
    rng = np.random.default_rng(3)
    acc = rng.uniform(0.3, 0.8, 8)
    a = [planted_record(acc, 10, rng, seed=s) for s in range(3)]  # each run tests all 8 speakers
    b = [planted_record(acc, 10, rng, seed=s) for s in range(3)]
    result = compare_records(a, b)
    assert result["test"] == "two-way clustered t (speakers × runs), df 2" and result["p_min"] == 0
    assert 0 < result["p_value"] <= 1 and result["ci_low"] < result["difference"] < result["ci_high"]
