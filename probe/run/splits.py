"""Speaker-independent, label-stratified splits: a function of the manifest (id, label, speaker) and a seed only.

Every model of a corpus gets the same split, and every probe run records :func:`split_hash` of it.

* :func:`holdout_split`: train/val/test by **whole speakers**, 80/10/10 as close as whole speakers allow. The
  speakers are dealt once into k = 10 label-stratified folds by scikit-learn's
  :class:`~sklearn.model_selection.StratifiedGroupKFold` (a function of the manifest only; one speaker per fold
  when a corpus has fewer than 10). Seed ``s`` tests fold ``s mod k`` and validates on the next fold (shifted by
  one more fold for each further round of k seeds): seeds are really different speaker partitions, and seeds
  0 .. k-1 test disjoint speakers, so their spread is speaker variance, not initialisation noise. Stratification
  is the folds' tolerance, not a searched optimum. A corpus of n < 10 speakers allows n·(n-1) distinct partitions
  (:func:`distinct_partitions`); more seeds than that repeat partitions, and the leaderboard says so.
* :func:`kfold_split`: speaker-disjoint cross-validation. Leave-one-speaker-out when a corpus has at most
  :data:`LOSO_MAX_SPEAKERS` speakers (each fold tests one speaker), otherwise :data:`DEFAULT_FOLDS`-fold
  :class:`~sklearn.model_selection.StratifiedGroupKFold`; an explicit ``k`` overrides the rule (``k`` equal to
  the number of speakers is leave-one-speaker-out). In each fold, the validation part is one stratified fold of
  whole speakers dealt from the non-test speakers (train:val = 8:1 of those speakers, at least one). For corpora
  of few speakers this is the honest protocol: a holdout test part of one or two speakers says little.

Corpora with fewer than three speakers (TESS has two) cannot be split into speaker-disjoint train, val and test
parts: both functions raise :class:`SplitError` rather than split them silently by utterance.

One module of about 440 lines on purpose: the :class:`Split` type, the two splitters and the split file share one
canonical form (``_prepare``, ``_canonical``, ``_finish``) and one hash, and a split read back from a file must be
built exactly as a fresh one; its three sections (the type, building, identity and files) are marked below.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, StratifiedGroupKFold

PARTS: tuple[str, ...] = ("train", "val", "test")
SPLIT_COLUMNS: tuple[str, ...] = ("id", "part", "fold")
DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
LOSO_MAX_SPEAKERS = 12  # at most this many speakers: k-fold defaults to leave-one-speaker-out
DEFAULT_FOLDS = 5  # k-fold default above that
MIN_SPEAKERS = 3  # one speaker each for train, val and test

__all__ = [
    "DEFAULT_FOLDS",
    "DEFAULT_RATIOS",
    "LOSO_MAX_SPEAKERS",
    "MIN_SPEAKERS",
    "PARTS",
    "Split",
    "SplitError",
    "describe_split",
    "distinct_partitions",
    "fold_roles",
    "holdout_split",
    "kfold_split",
    "load_split",
    "resolve_protocol",
    "save_split",
    "speaker_folds",
    "split_hash",
]


class SplitError(Exception):
    """A manifest cannot be split speaker-independently (too few speakers, bad columns, ...)."""


@dataclass(frozen=True, eq=False)
class Split:
    """A split: ``frame`` has one row per (id, fold) with columns id, part (train/val/test), fold (int).

    ``stats`` has one row per (fold, part): utterances, speakers, their ratios within the fold, the part's
    total-variation distance from the corpus label distribution (``label_tv``) and its speakers (``;``-joined).
    Speaker and label columns are missing (NA) when the split was loaded from a file without its manifest.
    """

    frame: pd.DataFrame
    kind: str  # "holdout" or "kfold"
    seed: int | None
    stats: pd.DataFrame = field(repr=False)

    @property
    def folds(self) -> list[int]:
        """The fold numbers, ascending (``[0]`` for a holdout split)."""
        return sorted(int(f) for f in self.frame["fold"].unique())

    @property
    def hash(self) -> str:
        """:func:`split_hash` of this split."""
        return split_hash(self)

    def ratios(self, fold: int | None = None) -> dict[str, dict[str, float]]:
        """Achieved ratios ``{"utterances": {part: r}, "speakers": {part: r}}`` of one fold, or the mean over folds."""
        stats = self.stats if fold is None else self.stats[self.stats["fold"] == fold]
        if stats.empty:
            raise SplitError(f"no fold {fold} in this split (folds: {self.folds})")
        means = stats.groupby("part")[["utterance_ratio", "speaker_ratio"]].mean()
        return {
            "utterances": {p: float(means.loc[p, "utterance_ratio"]) for p in PARTS if p in means.index},
            "speakers": {p: float(means.loc[p, "speaker_ratio"]) for p in PARTS if p in means.index},
        }

    def ids(self, part: str, fold: int = 0) -> list[str]:
        """The utterance ids of ``part`` in ``fold``, sorted."""
        rows = self.frame[(self.frame["fold"] == fold) & (self.frame["part"] == part)]
        return sorted(rows["id"].tolist())

    def masks(self, ids: Sequence[str], fold: int = 0) -> dict[str, np.ndarray]:
        """Boolean masks over ``ids`` (e.g. a cache's utterance order) for train, val and test of ``fold``.

        Raises :class:`SplitError` when ``ids`` and the split do not hold the same utterances.
        """
        rows = self.frame[self.frame["fold"] == fold]
        if rows.empty:
            raise SplitError(f"no fold {fold} in this split (folds: {self.folds})")
        part_of = dict(zip(rows["id"], rows["part"], strict=True))
        ids = [str(i) for i in ids]
        unknown = [i for i in ids if i not in part_of]
        missing = set(part_of) - set(ids)
        if unknown or missing:
            raise SplitError(
                f"the split and the given ids disagree: {len(unknown)} ids not in the split "
                f"(e.g. {unknown[:3]}), {len(missing)} split ids not given (e.g. {sorted(missing)[:3]})"
            )
        parts = np.array([part_of[i] for i in ids], dtype=object)
        return {p: parts == p for p in PARTS}


# ---------------------------------------------------------------------------------------------------------------
# building splits


def holdout_split(
    manifest: pd.DataFrame, seed: int = 0, ratios: Sequence[float] = DEFAULT_RATIOS
) -> Split:
    """Train/val/test by whole speakers, label-stratified, ``ratios`` (train, val, test) as close as folds allow.

    The speakers are dealt into :func:`speaker_folds` (k = 1 / the smaller of the val and test ratios, 10 for
    80/10/10); seed ``s`` picks which folds test and validate (:func:`fold_roles`), so seeds give distinct speaker
    partitions (seeds ``0 .. k-1`` test disjoint speakers) until the corpus runs out of them.
    """
    targets = _check_ratios(ratios)
    if seed < 0:
        raise SplitError(f"a split seed must be 0 or more, got {seed}")
    table, speakers, _ = _prepare(manifest)
    k_wanted = _round(1.0 / min(targets[1], targets[2]))
    n_val_folds, n_test_folds = max(1, _round(targets[1] * k_wanted)), max(1, _round(targets[2] * k_wanted))
    k = min(k_wanted, len(speakers))
    if k < k_wanted:  # fewer speakers than folds: one speaker per fold, one fold each for val and test
        n_val_folds = n_test_folds = 1
    if n_val_folds + n_test_folds >= k:
        raise SplitError(
            f"{len(speakers)} speakers cannot give {n_val_folds} val and {n_test_folds} test fold(s) of whole "
            "speakers and still leave one for training"
        )
    fold_of = speaker_folds(table, speakers, k)
    test, val = fold_roles(seed, k, n_test_folds, n_val_folds)
    part_of_fold = {**{f: "test" for f in test}, **{f: "val" for f in val}}
    part_of_speaker = {spk: part_of_fold.get(f, "train") for spk, f in fold_of.items()}
    frame = pd.DataFrame(
        {"id": table["id"], "part": table["speaker"].map(part_of_speaker), "fold": 0}
    )
    return _finish(frame, "holdout", seed, table)


def speaker_folds(table: pd.DataFrame, speakers: list[str], k: int, random_state: int = 0) -> dict[str, int]:
    """Deal the speakers into ``k`` label-stratified folds: speaker → fold index.

    With as many folds as speakers, each speaker is its own fold, in sorted order. Otherwise scikit-learn's
    :class:`~sklearn.model_selection.StratifiedGroupKFold` (shuffled with ``random_state``) balances the folds'
    label distributions and sizes; should its greedy pass leave a fold empty, :class:`GroupKFold` is used.
    """
    if k == len(speakers):
        return {spk: i for i, spk in enumerate(speakers)}
    groups = table["speaker"].map({s: i for i, s in enumerate(speakers)}).to_numpy()
    labels = table["label"].to_numpy()
    with warnings.catch_warnings():
        # a class rarer than k members only weakens stratification; the folds stay valid
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(StratifiedGroupKFold(k, shuffle=True, random_state=random_state).split(labels, labels, groups))
    if any(len(test) == 0 for _, test in splits):
        splits = list(GroupKFold(k).split(labels, labels, groups))
    fold_of = {}
    for fold, (_, test) in enumerate(splits):
        for g in np.unique(groups[test]):
            fold_of[speakers[int(g)]] = fold
    return fold_of


def fold_roles(seed: int, k: int, n_test: int = 1, n_val: int = 1) -> tuple[list[int], list[int]]:
    """The folds that test and validate for ``seed``: test folds start at ``seed mod k``; the val folds follow
    them, shifted by one more fold each further round of ``k`` seeds. Seeds ``0 .. k-1`` test disjoint folds, and
    the first ``k · (k - n_test - n_val + 1)`` seeds all differ."""
    base = seed % k
    shift = (seed // k) % (k - n_test - n_val + 1)
    test = [(base + j) % k for j in range(n_test)]
    val = [(base + n_test + shift + j) % k for j in range(n_val)]
    return test, val


def resolve_protocol(protocol: str, n_speakers: int) -> str:
    """``auto`` → ``kfold`` (leave-one-speaker-out: every speaker tested once) for corpora of at most
    :data:`LOSO_MAX_SPEAKERS` speakers, where 3 holdout seeds test only 3 speakers and no paired test over them can
    reach p < 0.05, else ``holdout``; any other protocol as given."""
    if protocol != "auto":
        return protocol
    return "kfold" if n_speakers <= LOSO_MAX_SPEAKERS else "holdout"


def distinct_partitions(n_speakers: int, ratios: Sequence[float] = DEFAULT_RATIOS) -> int:
    """How many distinct holdout partitions the seeds of a corpus of ``n_speakers`` can give."""
    targets = _check_ratios(ratios)
    k_wanted = _round(1.0 / min(targets[1], targets[2]))
    n_val, n_test = max(1, _round(targets[1] * k_wanted)), max(1, _round(targets[2] * k_wanted))
    k = min(k_wanted, n_speakers)
    if k < k_wanted:
        n_val = n_test = 1
    return max(0, k * (k - n_test - n_val + 1))


def kfold_split(
    manifest: pd.DataFrame,
    seed: int = 0,
    k: int | None = None,
    val_ratio: float = DEFAULT_RATIOS[1] / (DEFAULT_RATIOS[0] + DEFAULT_RATIOS[1]),
) -> Split:
    """Speaker-disjoint k-fold CV; leave-one-speaker-out when ``k`` is None and speakers are few.

    Fold ``f`` tests its own speakers; its val part is one stratified fold of whole speakers dealt from the others
    (about ``val_ratio`` of them, at least one) and train is the rest. The frame has one row per (id, fold), folds
    ``0 .. k-1``.
    """
    if not 0.0 < val_ratio < 1.0:
        raise SplitError(f"val_ratio must be between 0 and 1, got {val_ratio}")
    table, speakers, _ = _prepare(manifest)
    n_spk = len(speakers)
    if k is None:
        k = n_spk if n_spk <= LOSO_MAX_SPEAKERS else DEFAULT_FOLDS
    if not 2 <= k <= n_spk:
        raise SplitError(f"k must be between 2 and the number of speakers ({n_spk}), got {k}")
    test_groups = _test_folds(table, speakers, k, seed)
    pieces = []
    for fold, test_idx in enumerate(test_groups):
        rest = [speakers[i] for i in np.setdiff1d(np.arange(n_spk), test_idx)]
        if len(rest) < 2:
            raise SplitError(
                f"fold {fold} tests {len(test_idx)} of {n_spk} speakers, leaving fewer than 2 for train and val; "
                "use more folds"
            )
        k_val = min(max(2, _round(1.0 / val_ratio)), len(rest))
        rest_table = table[table["speaker"].isin(rest)]
        val_fold = fold % k_val
        part_of_speaker = {speakers[i]: "test" for i in test_idx}
        part_of_speaker.update({spk: "val" if f == val_fold else "train"
                                for spk, f in speaker_folds(rest_table, rest, k_val, seed).items()})
        pieces.append(
            pd.DataFrame({"id": table["id"], "part": table["speaker"].map(part_of_speaker), "fold": fold})
        )
    return _finish(pd.concat(pieces, ignore_index=True), "kfold", seed, table)


def _test_folds(table: pd.DataFrame, speakers: list[str], k: int, seed: int) -> list[np.ndarray]:
    """Speaker indices tested by each fold: leave-one-group-out for ``k == n_speakers``, else stratified."""
    groups = table["speaker"].map({s: i for i, s in enumerate(speakers)}).to_numpy()
    labels = table["label"].to_numpy()
    if k == len(speakers):
        splitter = LeaveOneGroupOut().split(labels, labels, groups)
    else:
        with warnings.catch_warnings():
            # a class rarer than k members only weakens stratification; the split stays valid
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            splits = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(labels, labels, groups))
        if any(len(test) == 0 for _, test in splits):  # the stratifying greedy pass can leave a fold empty
            splits = list(GroupKFold(k).split(labels, labels, groups))
        splitter = iter(splits)
    return [np.unique(groups[test]) for _, test in splitter]


def _prepare(manifest: pd.DataFrame) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Validate the manifest; return it sorted by id (strings), sorted speakers, and speaker × label counts."""
    missing = [c for c in ("id", "label", "speaker") if c not in manifest.columns]
    if missing:
        raise SplitError(f"the manifest lacks column(s) {missing}; it needs id, label and speaker")
    if manifest.empty:
        raise SplitError("the manifest is empty")
    if manifest[["id", "label", "speaker"]].isna().any().any():
        raise SplitError("the manifest has empty id, label or speaker values")
    table = manifest[["id", "label", "speaker"]].astype(str)
    duplicated = table["id"][table["id"].duplicated()]
    if not duplicated.empty:
        raise SplitError(f"the manifest has {duplicated.size} duplicated id(s), e.g. {duplicated.iloc[0]!r}")
    table = table.sort_values("id", kind="stable").reset_index(drop=True)
    speakers = sorted(table["speaker"].unique())
    if len(speakers) < MIN_SPEAKERS:
        raise SplitError(
            f"the corpus has {len(speakers)} speaker(s) ({', '.join(speakers)}): a speaker-independent split needs "
            f"at least {MIN_SPEAKERS} (one each for train, val and test). Its utterances cannot be split without "
            "putting a speaker on both sides, so no split is made; leave this corpus out of speaker-independent "
            "evaluation."
        )
    counts = pd.crosstab(table["speaker"], table["label"]).reindex(speakers).to_numpy(dtype=np.int64)
    return table, speakers, counts


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Three positive ratios summing to 1 (within 1e-6)."""
    values = tuple(float(r) for r in ratios)
    if len(values) != 3 or any(r <= 0 for r in values) or abs(sum(values) - 1.0) > 1e-6:
        raise SplitError(f"ratios must be three positive numbers (train, val, test) summing to 1, got {ratios}")
    return values  # type: ignore[return-value]


def _round(x: float) -> int:
    """Round half up (Python's round() rounds half to even)."""
    return int(math.floor(x + 0.5))


def _finish(frame: pd.DataFrame, kind: str, seed: int | None, table: pd.DataFrame | None) -> Split:
    """Canonical order and dtypes, then statistics."""
    frame = _canonical(frame)
    return Split(frame=frame, kind=kind, seed=seed, stats=_stats(frame, table))


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns id, part, fold; sorted by (fold, id); string ids and parts, integer folds."""
    out = pd.DataFrame(
        {
            "id": frame["id"].astype(str).to_numpy(),
            "part": frame["part"].astype(str).to_numpy(),
            "fold": frame["fold"].astype(np.int64).to_numpy(),
        }
    )
    return out.sort_values(["fold", "id"], kind="stable").reset_index(drop=True)


def _stats(frame: pd.DataFrame, table: pd.DataFrame | None) -> pd.DataFrame:
    """One row per (fold, part): counts, ratios within the fold, label TV distance, speakers."""
    if table is not None:
        frame = frame.merge(table, on="id", how="left", validate="many_to_one")
        overall = table["label"].value_counts(normalize=True)
    rows = []
    for fold, in_fold in frame.groupby("fold", sort=True):
        for part in PARTS:
            rows_part = in_fold[in_fold["part"] == part]
            row: dict[str, object] = {
                "fold": int(fold),
                "part": part,
                "utterances": len(rows_part),
                "utterance_ratio": len(rows_part) / len(in_fold),
                "speakers": pd.NA,
                "speaker_ratio": np.nan,
                "label_tv": np.nan,
                "speaker_ids": pd.NA,
            }
            if table is not None:
                spk = sorted(rows_part["speaker"].unique())
                row["speakers"] = len(spk)
                row["speaker_ratio"] = len(spk) / in_fold["speaker"].nunique()
                row["speaker_ids"] = ";".join(spk)
                if len(rows_part):
                    dist = rows_part["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0.0)
                    row["label_tv"] = 0.5 * float((dist - overall).abs().sum())
            rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# identity, files, display


def canonical_csv(split: Split | pd.DataFrame) -> str:
    """The split as canonical CSV text: columns id,part,fold, sorted by (fold, id), ``\\n`` line ends."""
    frame = split.frame if isinstance(split, Split) else _canonical(split)
    return frame[list(SPLIT_COLUMNS)].to_csv(index=False, lineterminator="\n")


def split_hash(split: Split | pd.DataFrame) -> str:
    """Content hash of a split: first 16 hex digits of the sha256 of :func:`canonical_csv`."""
    return hashlib.sha256(canonical_csv(split).encode("utf-8")).hexdigest()[:16]


def save_split(split: Split, path: str | Path) -> Path:
    """Write the split as canonical CSV (so the file's content hashes to :func:`split_hash`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(canonical_csv(split), encoding="utf-8", newline="")
    return path


def load_split(path: str | Path, manifest: pd.DataFrame | None = None) -> Split:
    """Read a split written by :func:`save_split`; pass the manifest to get speaker and label statistics."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        frame = pd.read_csv(io.StringIO(text), dtype={"id": str, "part": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SplitError(f"cannot read split file {path}: {exc}") from None
    if list(frame.columns) != list(SPLIT_COLUMNS):
        raise SplitError(f"{path} is not a split file: columns {list(frame.columns)}, expected {list(SPLIT_COLUMNS)}")
    bad = sorted(set(frame["part"]) - set(PARTS))
    if bad:
        raise SplitError(f"{path}: unknown part(s) {bad}; parts are {', '.join(PARTS)}")
    if frame.duplicated(["id", "fold"]).any():
        raise SplitError(f"{path}: an id appears twice in the same fold")
    kind = "holdout" if set(frame["fold"]) == {0} else "kfold"
    table = None
    if manifest is not None:
        table, _, _ = _prepare(manifest)
        if set(table["id"]) != set(frame["id"]):
            raise SplitError(f"{path} and the given manifest do not hold the same utterance ids")
    return _finish(frame, kind, None, table)


def describe_split(split: Split) -> str:
    """A few readable lines: kind, seed, hash, and per fold each part's utterances and speakers with ratios."""
    n_ids = split.frame["id"].nunique()
    seed = "unknown" if split.seed is None else str(split.seed)
    head = f"{split.kind} split, seed {seed}, hash {split.hash}: {n_ids} utterances, {len(split.folds)} fold(s)"
    lines = [head]
    for fold in split.folds:
        stats = split.stats[split.stats["fold"] == fold]
        if split.kind != "holdout":
            lines.append(f"fold {fold}:")
        for row in stats.itertuples(index=False):
            text = f"  {row.part:<5} {row.utterances:>6} utterances ({row.utterance_ratio:6.1%})"
            if not pd.isna(row.speakers):
                text += f", {row.speakers:>3} speakers ({row.speaker_ratio:6.1%})"
                text += f", label TV {row.label_tv:.3f}" if not pd.isna(row.label_tv) else ""
                if row.speakers <= 6:
                    text += f" [{row.speaker_ids.replace(';', ', ')}]"
            lines.append(text)
    if split.kind != "holdout" and split.stats["speakers"].notna().all():
        means = split.ratios()
        parts = ", ".join(
            f"{p} {means['utterances'][p]:.1%} of utterances / {means['speakers'][p]:.1%} of speakers" for p in PARTS
        )
        lines.append(f"mean over folds: {parts}")
    return "\n".join(lines)
