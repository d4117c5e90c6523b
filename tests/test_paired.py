"""Paired comparisons (probe.paired): runs paired on the same splits, and the exact sign-flip test over speakers."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

from probe.metrics import classification_metrics
from probe.uncertainty import UncertaintyError, compare_records
from tests.records_factory import FOUR, planted_record


def _pair(n_speakers: int, clips: int = 6, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.3, 0.8, n_speakers)
    a = [dict(planted_record(acc, clips, rng, seed=s), split={"hash": f"h{s}"}) for s in range(2)]
    b = [dict(planted_record(np.minimum(acc + 0.2, 0.95), clips, rng, seed=s), split={"hash": f"h{s}"})
         for s in range(2)]
    return a, b


def _macro_f1(record: dict) -> float:
    p = record["predictions"]
    return classification_metrics(np.array([FOUR.index(x) for x in p["true"]]),
                                  np.array([FOUR.index(x) for x in p["pred"]]), FOUR)["macro_f1"]


def test_exact_p_value_is_the_share_of_speaker_flips_as_extreme() -> None:
    a, b = _pair(5)
    observed = np.mean([_macro_f1(x) for x in a]) - np.mean([_macro_f1(x) for x in b])
    speakers = sorted(set(a[0]["predictions"]["speaker"]))
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
    b[1] = copy.deepcopy(b[1])
    for key in ("id", "speaker", "true", "pred"):
        b[1]["predictions"][key] = b[1]["predictions"][key][:-3]  # a cache that skipped three clips
    b[1]["split"] = {"hash": "other"}
    with pytest.raises(UncertaintyError, match="tested on different splits .*split hash h1 vs other"):
        compare_records(a, b)


def test_same_clips_other_split_hash_and_missing_runs_are_noted() -> None:
    a, b = _pair(6)
    b[0] = dict(b[0], split={"hash": "retrained"})
    note = compare_records(a, b)["note"]
    assert "split hashes differ (h0 vs retrained) but the test clips are the same" in note
    only = compare_records(a, b[1:])
    assert "compared on the 1 runs both sides have (A has 2, B 1)" in only["note"]
    assert only["mean_a"] == pytest.approx(_macro_f1(a[1]))
    with pytest.raises(UncertaintyError, match="share no"):
        compare_records(a[:1], b[1:])
