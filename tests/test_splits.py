"""Speaker-independent splits: disjoint speakers, determinism, stratification, fold coverage, hashing, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.run.splits import (
    LOSO_MAX_SPEAKERS,
    PARTS,
    Split,
    SplitError,
    describe_split,
    distinct_partitions,
    holdout_split,
    kfold_split,
    load_split,
    save_split,
    split_hash,
)


def make_manifest(
    n_speakers: int,
    labels: list[str],
    per_speaker: tuple[int, int] = (20, 60),
    weights: list[float] | None = None,
    seed: int = 0,
    skew: float | None = None,
) -> pd.DataFrame:
    """Speakers with varying numbers of utterances; labels drawn with ``weights`` (imbalanced if given).

    With ``skew`` each speaker's label distribution is the global one times Dirichlet(1/skew) noise, so speakers
    differ (as in acted corpora where not every actor records every emotion equally).
    """
    rng = np.random.default_rng(seed)
    base = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    rows = []
    for s in range(n_speakers):
        speaker = f"spk{s:02d}"
        p = base * (rng.dirichlet(np.full(len(labels), 1.0 / skew)) if skew else 1.0)
        p = p / p.sum()
        for u in range(int(rng.integers(*per_speaker))):
            label = labels[rng.choice(len(labels), p=p)]
            rows.append({"id": f"{speaker}/utt{u:03d}", "label": label, "speaker": speaker})
    return pd.DataFrame(rows)


def balanced_manifest(n_speakers: int, labels: list[str], per_label: int) -> pd.DataFrame:
    """Every speaker says every label ``per_label`` times (EMOVO-like)."""
    rows = [
        {"id": f"s{s}/{lab}{i:02d}", "label": lab, "speaker": f"s{s}"}
        for s in range(n_speakers)
        for lab in labels
        for i in range(per_label)
    ]
    return pd.DataFrame(rows)


SMALL = make_manifest(10, ["anger", "happiness", "neutral", "sadness"])
LARGE = make_manifest(
    60,
    ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"],
    per_speaker=(20, 80),
    weights=[30, 20, 12, 10, 10, 6, 3],
    seed=1,
    skew=0.5,
)


def speakers_by_part(split: Split, manifest: pd.DataFrame, fold: int = 0) -> dict[str, set[str]]:
    spk = manifest.set_index("id")["speaker"]
    rows = split.frame[split.frame["fold"] == fold]
    return {p: set(spk[rows.loc[rows["part"] == p, "id"]]) for p in PARTS}


def assert_disjoint(parts: dict[str, set[str]]) -> None:
    assert all(parts[p] for p in PARTS), f"an empty part: {parts}"
    assert not parts["train"] & parts["val"]
    assert not parts["train"] & parts["test"]
    assert not parts["val"] & parts["test"]


def label_tv(manifest: pd.DataFrame, ids: list[str]) -> float:
    overall = manifest["label"].value_counts(normalize=True)
    part = manifest.set_index("id").loc[ids, "label"].value_counts(normalize=True)
    return 0.5 * float(part.reindex(overall.index, fill_value=0.0).sub(overall).abs().sum())


# ---------------------------------------------------------------------------------------------------------------
# holdout


@pytest.mark.parametrize("manifest", [SMALL, LARGE], ids=["10spk", "60spk"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holdout_no_speaker_in_two_parts(manifest: pd.DataFrame, seed: int) -> None:
    split = holdout_split(manifest, seed=seed)
    assert_disjoint(speakers_by_part(split, manifest))
    assert sorted(split.frame["id"]) == sorted(manifest["id"])  # every utterance exactly once
    assert split.frame["id"].is_unique
    assert set(split.frame["fold"]) == {0}


def test_holdout_six_speakers_is_4_1_1() -> None:
    manifest = balanced_manifest(6, ["anger", "disgust", "neutral"], per_label=14)
    split = holdout_split(manifest, seed=3)
    parts = speakers_by_part(split, manifest)
    assert {p: len(parts[p]) for p in PARTS} == {"train": 4, "val": 1, "test": 1}
    ratios = split.ratios()
    assert ratios["speakers"] == pytest.approx({"train": 4 / 6, "val": 1 / 6, "test": 1 / 6})
    assert ratios["utterances"] == pytest.approx({"train": 4 / 6, "val": 1 / 6, "test": 1 / 6})


@pytest.mark.parametrize(("n_speakers", "expected"), [(3, (1, 1, 1)), (6, (4, 1, 1)), (10, (8, 1, 1))])
def test_holdout_speaker_counts_small(n_speakers: int, expected: tuple[int, int, int]) -> None:
    """Below 10 speakers each speaker is a fold: one speaker tests, one validates."""
    manifest = make_manifest(n_speakers, ["a", "b"], per_speaker=(5, 10))
    for seed in range(3):
        counts = holdout_split(manifest, seed=seed).stats.set_index("part")["speakers"]
        assert tuple(int(counts[p]) for p in PARTS) == expected


@pytest.mark.parametrize("n_speakers", [60, 87])
def test_holdout_speaker_counts_large(n_speakers: int) -> None:
    """Ten stratified folds of whole speakers: val and test hold about a tenth of the speakers each."""
    manifest = make_manifest(n_speakers, ["a", "b"], per_speaker=(5, 10))
    counts = holdout_split(manifest).stats.set_index("part")["speakers"]
    assert int(counts.sum()) == n_speakers
    for part in ("val", "test"):
        assert abs(int(counts[part]) - n_speakers / 10) <= 3, counts.to_dict()


@pytest.mark.parametrize("manifest", [SMALL, balanced_manifest(6, ["a", "b", "c"], per_label=5), LARGE],
                         ids=["10spk", "6spk-balanced", "60spk"])
def test_seeds_draw_distinct_speaker_partitions(manifest: pd.DataFrame) -> None:
    """Seeds 0..k-1 test disjoint speakers, and every seed gives another partition (while the corpus allows)."""
    splits = [holdout_split(manifest, seed=s) for s in range(12)]
    partitions = {tuple(tuple(sorted(speakers_by_part(sp, manifest)[p])) for p in PARTS) for sp in splits}
    assert len(partitions) == 12
    tested = [speakers_by_part(sp, manifest)["test"] for sp in splits[:3]]
    assert not (tested[0] & tested[1] or tested[0] & tested[2] or tested[1] & tested[2])
    n_spk = manifest["speaker"].nunique()
    assert distinct_partitions(n_spk) == (n_spk * (n_spk - 1) if n_spk <= 10 else 90)


def test_three_speakers_repeat_after_six_partitions() -> None:
    three = balanced_manifest(3, ["a", "b"], per_label=3)
    hashes = [holdout_split(three, seed=s).hash for s in range(8)]
    assert len(set(hashes[:6])) == 6 and distinct_partitions(3) == 6
    assert hashes[6] in hashes[:6]


def test_holdout_ratios_and_stratification_large() -> None:
    split = holdout_split(LARGE, seed=0)
    utt = split.ratios()["utterances"]
    assert utt["train"] == pytest.approx(0.8, abs=0.03)
    assert utt["val"] == pytest.approx(0.1, abs=0.03)
    assert utt["test"] == pytest.approx(0.1, abs=0.03)
    labels = set(LARGE["label"])
    for part in PARTS:
        ids = split.ids(part)
        assert set(LARGE.set_index("id").loc[ids, "label"]) == labels, f"{part} misses a label"
        assert label_tv(LARGE, ids) < 0.08, part
    # the recorded statistics agree with an independent computation
    stats = split.stats.set_index("part")
    assert stats.loc["test", "label_tv"] == pytest.approx(label_tv(LARGE, split.ids("test")))
    assert int(stats.loc["test", "utterances"]) == len(split.ids("test"))


def test_folds_are_stratified_better_than_random_draws() -> None:
    """StratifiedGroupKFold's folds are better stratified than typical random speaker draws of similar size."""
    chosen = holdout_split(LARGE, seed=0)
    chosen_tv = label_tv(LARGE, chosen.ids("test")) + label_tv(LARGE, chosen.ids("val"))
    rng = np.random.default_rng(0)
    speakers = np.array(sorted(LARGE["speaker"].unique()))
    random_tvs = []
    for _ in range(50):
        perm = rng.permutation(speakers)
        test = LARGE.loc[LARGE["speaker"].isin(perm[:6]), "id"].tolist()
        val = LARGE.loc[LARGE["speaker"].isin(perm[6:12]), "id"].tolist()
        random_tvs.append(label_tv(LARGE, test) + label_tv(LARGE, val))
    assert chosen_tv < np.percentile(random_tvs, 50)


def test_holdout_small_stratification_tolerance() -> None:
    split = holdout_split(SMALL, seed=0)
    for part in PARTS:
        ids = split.ids(part)
        assert set(SMALL.set_index("id").loc[ids, "label"]) == set(SMALL["label"])
        assert label_tv(SMALL, ids) < 0.2


def test_holdout_determinism_and_seed() -> None:
    first, again = holdout_split(LARGE, seed=7), holdout_split(LARGE, seed=7)
    assert split_hash(first) == split_hash(again)
    assert first.frame.equals(again.frame)
    hashes = {split_hash(holdout_split(LARGE, seed=s)) for s in range(4)}
    assert len(hashes) > 1  # seeds do change the split


def test_holdout_ignores_row_order_and_extra_columns() -> None:
    shuffled = SMALL.sample(frac=1.0, random_state=0).assign(path="x.wav", gender="f")
    assert split_hash(holdout_split(shuffled, seed=2)) == split_hash(holdout_split(SMALL, seed=2))


def test_hash_changes_with_the_manifest() -> None:
    base = split_hash(holdout_split(SMALL, seed=0))
    assert split_hash(holdout_split(SMALL.iloc[1:], seed=0)) != base
    renamed = SMALL.assign(id=SMALL["id"].str.replace("utt000", "utt999", regex=False))
    assert split_hash(holdout_split(renamed, seed=0)) != base


def test_custom_ratios() -> None:
    split = holdout_split(LARGE, ratios=(0.6, 0.2, 0.2))
    utt = split.ratios()["utterances"]
    assert utt == pytest.approx({"train": 0.6, "val": 0.2, "test": 0.2}, abs=0.04)
    with pytest.raises(SplitError, match="summing to 1"):
        holdout_split(LARGE, ratios=(0.8, 0.1, 0.2))


@pytest.mark.parametrize("func", [holdout_split, kfold_split])
def test_two_speakers_raise(func) -> None:  # noqa: ANN001
    tess_like = balanced_manifest(2, ["anger", "fear", "neutral"], per_label=5)
    with pytest.raises(SplitError, match=r"2 speaker\(s\).*at least 3"):
        func(tess_like)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (pd.DataFrame({"id": ["a"], "label": ["x"]}), "lacks column"),
        (pd.DataFrame(columns=["id", "label", "speaker"]), "empty"),
        (pd.DataFrame({"id": ["a", "a", "b"], "label": ["x", "y", "x"], "speaker": ["1", "2", "3"]}), "duplicated"),
        (pd.DataFrame({"id": ["a", "b", "c"], "label": ["x", None, "x"], "speaker": ["1", "2", "3"]}), "empty id"),
    ],
)
def test_bad_manifests(manifest: pd.DataFrame, message: str) -> None:
    with pytest.raises(SplitError, match=message):
        holdout_split(manifest)


# ---------------------------------------------------------------------------------------------------------------
# k-fold


def assert_valid_kfold(split: Split, manifest: pd.DataFrame, k: int) -> None:
    assert split.folds == list(range(k))
    tests = split.frame[split.frame["part"] == "test"]
    # fold coverage: every utterance is tested exactly once
    assert sorted(tests["id"]) == sorted(manifest["id"])
    for fold in split.folds:
        rows = split.frame[split.frame["fold"] == fold]
        assert sorted(rows["id"]) == sorted(manifest["id"])
        assert_disjoint(speakers_by_part(split, manifest, fold))


def test_loso_for_few_speakers() -> None:
    split = kfold_split(SMALL, seed=0)
    assert split.kind == "kfold"
    assert_valid_kfold(split, SMALL, 10)
    for fold in split.folds:
        parts = speakers_by_part(split, SMALL, fold)
        assert len(parts["test"]) == 1 and len(parts["val"]) == 1 and len(parts["train"]) == 8
    # leave-one-speaker-out tests the speakers in sorted order
    tested = [next(iter(speakers_by_part(split, SMALL, f)["test"])) for f in split.folds]
    assert tested == sorted(SMALL["speaker"].unique())


def test_loso_threshold() -> None:
    at_threshold = make_manifest(LOSO_MAX_SPEAKERS, ["a", "b", "c"], per_speaker=(5, 10))
    above = make_manifest(LOSO_MAX_SPEAKERS + 1, ["a", "b", "c"], per_speaker=(5, 10))
    assert kfold_split(at_threshold).folds == list(range(LOSO_MAX_SPEAKERS))
    assert kfold_split(above).folds == list(range(5))


@pytest.mark.parametrize("k", [None, 3, 10])
def test_kfold_large(k: int | None) -> None:
    split = kfold_split(LARGE, seed=0, k=k)
    n_folds = 5 if k is None else k
    assert_valid_kfold(split, LARGE, n_folds)
    n_spk = LARGE["speaker"].nunique()
    per_fold = split.stats[split.stats["part"] == "test"]["speakers"].astype(int)
    assert per_fold.sum() == n_spk
    assert per_fold.max() - per_fold.min() <= max(2, n_spk // n_folds // 2)
    test_tv = split.stats[split.stats["part"] == "test"]["label_tv"]
    assert test_tv.max() < 0.12  # StratifiedGroupKFold keeps folds close to the corpus label distribution
    val_share = split.stats[split.stats["part"] == "val"]["speakers"].astype(int)
    rest = n_spk - per_fold.to_numpy()
    assert np.all(np.abs(val_share.to_numpy() - rest / 9) <= 2)  # one stratified fold of 9 from the rest


def test_kfold_determinism_and_explicit_k_bounds() -> None:
    assert split_hash(kfold_split(LARGE, seed=4)) == split_hash(kfold_split(LARGE, seed=4))
    assert len({split_hash(kfold_split(LARGE, seed=s)) for s in range(3)}) > 1
    with pytest.raises(SplitError, match="between 2 and the number of speakers"):
        kfold_split(SMALL, k=11)
    with pytest.raises(SplitError, match="between 2 and the number of speakers"):
        kfold_split(SMALL, k=1)
    three = balanced_manifest(3, ["a", "b"], per_label=3)
    with pytest.raises(SplitError, match="fewer than 2 for train and val"):
        kfold_split(three, k=2)
    assert_valid_kfold(kfold_split(three), three, 3)  # LOSO: 1/1/1 in each fold


def test_kfold_explicit_k_equal_to_speakers_is_loso() -> None:
    manifest = make_manifest(15, ["a", "b", "c"], per_speaker=(5, 10))
    split = kfold_split(manifest, k=15)
    assert all(len(speakers_by_part(split, manifest, f)["test"]) == 1 for f in split.folds)


# ---------------------------------------------------------------------------------------------------------------
# files, hashes, masks, description


def test_save_load_roundtrip(tmp_path: Path) -> None:
    split = kfold_split(SMALL, seed=1)
    path = save_split(split, tmp_path / "sub" / "split.csv")
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest()[:16] == split_hash(split)
    loaded = load_split(path)
    assert split_hash(loaded) == split_hash(split)
    assert loaded.kind == "kfold" and loaded.seed is None
    assert loaded.stats["speakers"].isna().all()
    with_manifest = load_split(path, SMALL)
    pd.testing.assert_frame_equal(with_manifest.stats, split.stats)
    holdout = holdout_split(SMALL)
    assert load_split(save_split(holdout, tmp_path / "h.csv")).kind == "holdout"


def test_load_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,part\na,train\n")
    with pytest.raises(SplitError, match="not a split file"):
        load_split(bad)
    bad.write_text("id,part,fold\na,training,0\n")
    with pytest.raises(SplitError, match="unknown part"):
        load_split(bad)
    good = save_split(holdout_split(SMALL), tmp_path / "good.csv")
    with pytest.raises(SplitError, match="same utterance ids"):
        load_split(good, SMALL.iloc[1:])
    with pytest.raises(SplitError, match="cannot read"):
        load_split(tmp_path / "missing.csv")


def test_hash_is_of_canonical_content() -> None:
    split = holdout_split(SMALL)
    reordered = split.frame.sample(frac=1.0, random_state=0)
    assert split_hash(reordered) == split_hash(split)
    changed = split.frame.copy()
    changed.loc[0, "part"] = "val" if changed.loc[0, "part"] != "val" else "train"
    assert split_hash(changed) != split_hash(split)
    assert len(split_hash(split)) == 16 and int(split_hash(split), 16) >= 0


def test_masks_follow_the_given_order() -> None:
    split = holdout_split(SMALL)
    order = list(SMALL["id"].sample(frac=1.0, random_state=3))
    masks = split.masks(order)
    assert sum(m.sum() for m in masks.values()) == len(order)
    assert not np.any(masks["train"] & masks["test"])
    test_ids = set(split.ids("test"))
    assert [i for i, m in zip(order, masks["test"], strict=True) if m] == [i for i in order if i in test_ids]
    with pytest.raises(SplitError, match="disagree"):
        split.masks(order[1:])
    with pytest.raises(SplitError, match="no fold 3"):
        split.masks(order, fold=3)


def test_describe_split() -> None:
    text = describe_split(holdout_split(balanced_manifest(6, ["a", "b"], per_label=4), seed=0))
    assert text.startswith("holdout split, seed 0, hash ")
    assert "train" in text and "4 speakers ( 66.7%)" in text
    kf = describe_split(kfold_split(SMALL))
    assert kf.count("fold ") >= 10 and "mean over folds" in kf
