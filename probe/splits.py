"""Speaker-independent, label-stratified splits: a function of the manifest (id, label, speaker) and a seed only.

Every model of a corpus gets the same split, and every probe run records :func:`split_hash` of it.

* :func:`holdout_split`: train/val/test by **whole speakers**, 80/10/10 as close as whole speakers allow.
  Part sizes in speakers are fixed by rounding (``max(1, round(n_speakers * ratio))`` for val and test, the rest
  for train: 6 speakers give 4/1/1, 10 give 8/1/1, 68 give 54/7/7). Among :data:`N_CANDIDATES` seeded draws of
  those sizes (sklearn's :class:`~sklearn.model_selection.GroupShuffleSplit`), the one with the lowest cost wins:
  labels missing from a part (1 each), plus the L1 distance of the achieved utterance ratios from the targets,
  plus each part's total-variation distance from the corpus's label distribution. Ties go to the earliest draw,
  so the result is deterministic given the seed.
* :func:`kfold_split`: speaker-disjoint cross-validation. Leave-one-speaker-out when a corpus has at most
  :data:`LOSO_MAX_SPEAKERS` speakers (each fold tests one speaker), otherwise :data:`DEFAULT_FOLDS`-fold
  :class:`~sklearn.model_selection.StratifiedGroupKFold`; an explicit ``k`` overrides the rule (``k`` equal to
  the number of speakers is leave-one-speaker-out). In each fold, a validation part of whole speakers is carved
  from the non-test speakers by the same candidate search (train:val = 8:1 of those speakers, at least one).

Corpora with fewer than three speakers (TESS has two) cannot be split into speaker-disjoint train, val and test
parts: both functions raise :class:`SplitError` rather than split them silently by utterance.
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
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, LeaveOneGroupOut, StratifiedGroupKFold

PARTS: tuple[str, ...] = ("train", "val", "test")
SPLIT_COLUMNS: tuple[str, ...] = ("id", "part", "fold")
DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
LOSO_MAX_SPEAKERS = 12  # at most this many speakers: k-fold defaults to leave-one-speaker-out
DEFAULT_FOLDS = 5  # k-fold default above that
N_CANDIDATES = 128  # seeded speaker assignments compared per search
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
    "holdout_split",
    "kfold_split",
    "load_split",
    "save_split",
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
    """Train/val/test by whole speakers, label-stratified, ``ratios`` (train, val, test) as close as possible."""
    targets = _check_ratios(ratios)
    table, speakers, counts = _prepare(manifest)
    n_spk = len(speakers)
    n_val = max(1, _round(n_spk * targets[1]))
    n_test = max(1, _round(n_spk * targets[2]))
    n_train = n_spk - n_val - n_test
    if n_train < 1:
        raise SplitError(
            f"{n_spk} speakers cannot give {n_val} val and {n_test} test speakers and still leave one for training"
        )
    rng = np.random.RandomState(seed)
    assignment = _search(counts, (n_train, n_val, n_test), targets, rng)
    part_of_speaker = dict(zip(speakers, (PARTS[a] for a in assignment), strict=True))
    frame = pd.DataFrame(
        {"id": table["id"], "part": table["speaker"].map(part_of_speaker), "fold": 0}
    )
    return _finish(frame, "holdout", seed, table)


def kfold_split(
    manifest: pd.DataFrame,
    seed: int = 0,
    k: int | None = None,
    val_ratio: float = DEFAULT_RATIOS[1] / (DEFAULT_RATIOS[0] + DEFAULT_RATIOS[1]),
) -> Split:
    """Speaker-disjoint k-fold CV; leave-one-speaker-out when ``k`` is None and speakers are few.

    Fold ``f`` tests its own speakers; its val part is whole speakers carved from the others (``val_ratio`` of
    them, at least one) and train is the rest. The frame has one row per (id, fold), folds ``0 .. k-1``.
    """
    if not 0.0 < val_ratio < 1.0:
        raise SplitError(f"val_ratio must be between 0 and 1, got {val_ratio}")
    table, speakers, counts = _prepare(manifest)
    n_spk = len(speakers)
    if k is None:
        k = n_spk if n_spk <= LOSO_MAX_SPEAKERS else DEFAULT_FOLDS
    if not 2 <= k <= n_spk:
        raise SplitError(f"k must be between 2 and the number of speakers ({n_spk}), got {k}")
    test_groups = _test_folds(table, speakers, k, seed)
    rng = np.random.RandomState(seed)
    pieces = []
    for fold, test_idx in enumerate(test_groups):
        rest = np.setdiff1d(np.arange(n_spk), test_idx)
        if len(rest) < 2:
            raise SplitError(
                f"fold {fold} tests {len(test_idx)} of {n_spk} speakers, leaving fewer than 2 for train and val; "
                "use more folds"
            )
        n_val = min(max(1, _round(len(rest) * val_ratio)), len(rest) - 1)
        sub = _search(counts[rest], (len(rest) - n_val, n_val), (1.0 - val_ratio, val_ratio), rng)
        part_of_speaker = {speakers[i]: "test" for i in test_idx}
        part_of_speaker.update({speakers[i]: PARTS[a] for i, a in zip(rest, sub, strict=True)})
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


def _search(
    counts: np.ndarray, sizes: Sequence[int], targets: Sequence[float], rng: np.random.RandomState
) -> np.ndarray:
    """Best of :data:`N_CANDIDATES` seeded assignments of speakers (rows of ``counts``) to parts of ``sizes``.

    Returns the part index (0 = train, ...) of each speaker. Candidates come from successive
    :class:`GroupShuffleSplit` draws, last part first; see the module docstring for the cost.
    """
    n_spk = counts.shape[0]
    speakers = np.arange(n_spk)
    candidates = np.empty((N_CANDIDATES, n_spk), dtype=np.int64)
    for c in range(N_CANDIDATES):
        assignment = np.zeros(n_spk, dtype=np.int64)
        remaining = speakers
        for part in range(len(sizes) - 1, 0, -1):
            splitter = GroupShuffleSplit(n_splits=1, test_size=int(sizes[part]), random_state=rng)
            keep, take = next(splitter.split(remaining, groups=remaining))
            assignment[remaining[take]] = part
            remaining = remaining[keep]
        candidates[c] = assignment
    costs = np.array([_cost(counts, a, targets) for a in candidates])
    return candidates[int(np.argmin(costs))]


def _cost(counts: np.ndarray, assignment: np.ndarray, targets: Sequence[float]) -> float:
    """Missing labels per part + L1 ratio error + summed total-variation distance of label distributions."""
    total = counts.sum(axis=0)
    overall = total / total.sum()
    present = total > 0
    cost = 0.0
    for part, target in enumerate(targets):
        part_counts = counts[assignment == part].sum(axis=0)
        n = part_counts.sum()
        cost += float(np.count_nonzero(present & (part_counts == 0)))
        cost += abs(n / total.sum() - target)
        if n > 0:
            cost += 0.5 * float(np.abs(part_counts / n - overall).sum())
    return cost


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
