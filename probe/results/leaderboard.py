"""``results/leaderboard.csv``: one row per (corpus, model, probe, protocol, classes, preset, config id), rebuilt
from all records.

Records are only ever averaged with records of the same configuration (:func:`probe.results.records.config_id`: every
setting but the seed, split seed and fold, and the cache's identity): two configurations of one (corpus, model,
probe) are two rows, told apart by ``preset`` (with its ``overrides``) and ``config_id``. Means and standard
deviations (ddof=1; 0 for a single run) are over the records of a row (seeds, or folds × seeds); ``n_splits`` counts
the distinct speaker partitions they come from (fewer than seeds means part of the spread is initialisation noise
only); ``best_layers`` (layer-wise rows) lists the layers not significantly worse than the best one
(:mod:`probe.results.bestlayers`: paired speaker-clustered tests, Holm-corrected), e.g. ``3;4;5``; sizes are those of the first record (k-fold: the mean over all records, rounded); identities (checkpoint,
weights, Whisper input mode, cache file) are the first record's. Records are taken in path order.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probe.results.bestlayers import best_layer_set, best_layers_text
from probe.results.records import iter_records, record_config_id, record_preset
from probe.results.uncertainty import METRICS as CI_METRICS
from probe.results.uncertainty import UncertaintyError, intervals_of_records

LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "corpus", "language", "model", "family", "pretraining", "languages", "probe", "protocol", "classes", "preset",
    "overrides", "config_id", "n_runs", "seeds", "n_splits", "macro_f1_mean", "macro_f1_std", "uar_mean", "uar_std", "accuracy_mean", "accuracy_std", "weighted_f1_mean",
    "weighted_f1_std", *(f"{m}_ci_{e}" for m in CI_METRICS for e in ("low", "high")), "n_test_speakers",
    "n_test_clips", "ci_cluster", "speakers_tested", "speakers_total", "n_train", "n_val", "n_test", "split_hash", "checkpoint", "weights", "whisper_input",
    "cache_file", "best_layers",
)
GROUP_KEYS: tuple[str, ...] = ("corpus", "model", "probe", "protocol", "classes", "preset", "config_id")
METRICS: tuple[str, ...] = ("macro_f1", "uar", "accuracy", "weighted_f1")
LEADERBOARD_FILE = "leaderboard.csv"
PROBE_ORDER: tuple[str, ...] = ("linear", "nonlinear", "multilayer", "attention", "layerwise")
"""Rows of a corpus and model list probes in this order (that of :data:`probe.train.heads.PROBES`)."""


class LeaderboardError(Exception):
    """No leaderboard to show: no records and no CSV, or a filter that matches nothing."""


def class_set_of(record: dict[str, Any]) -> str:
    """The record's class-set name (``all``, ``4`` or ``a+b+c``): ``config.class_set``, else its class list."""
    name = (record.get("config") or {}).get("class_set")
    return str(name) if name else "+".join(record.get("classes") or [])


def _std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def interval_columns(members: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``<metric>_ci_low``/``_ci_high`` (95%, speaker-clustered, of the test predictions pooled over the row's
    runs: jackknife over speakers and runs with a t quantile;
    :func:`probe.results.uncertainty.interval_of_records`), ``n_test_speakers``,
    ``n_test_clips`` and ``ci_cluster`` (``speaker``, or ``clip`` for records without speakers); NaN/empty for
    records without predictions."""
    row: dict[str, Any] = {"n_test_speakers": "", "n_test_clips": "", "ci_cluster": ""}
    try:
        found = intervals_of_records(members, CI_METRICS)
    except UncertaintyError:
        found = {m: {"ci_low": float("nan"), "ci_high": float("nan")} for m in CI_METRICS}
    for metric, ci in found.items():
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = round(ci["ci_low"], 4), round(ci["ci_high"], 4)
        if "cluster" in ci:
            row.update(n_test_speakers=ci["n_test_speakers"] or "", n_test_clips=ci["n_test_clips"],
                       ci_cluster=ci["cluster"])
    return row


def speaker_columns(members: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``speakers_tested``: distinct test speakers over the row's runs (3 of a 10-speaker corpus for 3 holdout
    seeds; all of them under leave-one-speaker-out); ``speakers_total``: the corpus's speakers in the split."""
    tested = {str(s) for m in members for s in ((m.get("predictions") or {}).get("speaker") or [])}
    split = members[0].get("split") or {}
    total = sum(int(split.get(f"speakers_{part}", 0) or 0) for part in ("train", "val", "test"))
    return {"speakers_tested": len(tested) if tested else "", "speakers_total": total or ""}


def build_leaderboard(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """The leaderboard of ``records`` (dicts of the run-record schema), columns :data:`LEADERBOARD_COLUMNS`."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for record in records:
        key = (str(record["corpus"]), str(record["model"]), str(record["probe"]), str(record["protocol"]),
               class_set_of(record), record_preset(record)[0], record_config_id(record))
        groups.setdefault(key, []).append(record)
    rows = []
    for key, members in groups.items():
        first = members[0]
        cache = first.get("cache") or {}
        split = first.get("split") or {}
        row: dict[str, Any] = dict(zip(GROUP_KEYS, key, strict=True))
        row.update({k: first.get(k, "") for k in ("language", "family", "pretraining", "languages")})
        row["overrides"] = ";".join(record_preset(first)[1])
        row["n_runs"] = len(members)
        row["seeds"] = len({int(m.get("seed", 0)) for m in members})
        row["n_splits"] = len({(m.get("split") or {}).get("hash", "") for m in members})
        for metric in METRICS:
            values = [float(m["metrics"]["test"][metric]) for m in members]
            row[f"{metric}_mean"] = round(float(np.mean(values)), 4)
            row[f"{metric}_std"] = round(_std(values), 4)
        row.update(interval_columns(members))
        row.update(speaker_columns(members))
        for part in ("train", "val", "test"):
            if first.get("protocol") == "kfold":
                row[f"n_{part}"] = int(round(np.mean([(m.get("split") or {}).get(f"n_{part}", 0) for m in members])))
            else:
                row[f"n_{part}"] = int(split.get(f"n_{part}", 0))
        row["split_hash"] = ";".join(sorted({str((m.get("split") or {}).get("hash", "")) for m in members}))
        row.update({k: cache.get(k, "") for k in ("checkpoint", "weights", "whisper_input")})
        row["cache_file"] = cache.get("file", "")
        row["best_layers"] = best_layers_text(best_layer_set(members)) if row["probe"] == "layerwise" else ""
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    return sort_leaderboard(frame)


def sort_leaderboard(frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Sort by ``by`` (numbers descending, text ascending), else by corpus, model, probe (registry order)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    if by:
        if by not in frame.columns:
            raise LeaderboardError(f"cannot sort by {by!r}; columns: {', '.join(frame.columns)}")
        numeric = pd.api.types.is_numeric_dtype(frame[by])
        return frame.sort_values(by, ascending=not numeric, kind="stable").reset_index(drop=True)
    rank = {name: i for i, name in enumerate(PROBE_ORDER)}
    order = frame.assign(_probe=frame["probe"].map(lambda p: rank.get(p, len(rank))))
    order = order.sort_values(["corpus", "model", "_probe", "probe", "protocol", "classes", "preset", "config_id"],
                              kind="stable")
    return order.drop(columns="_probe").reset_index(drop=True)


def split_warnings(frame: pd.DataFrame) -> list[str]:
    """One line per row whose seeds share speaker partitions (their spread is partly initialisation noise)."""
    lines = []
    for row in frame.itertuples(index=False):
        if row.protocol == "holdout" and row.n_splits < row.seeds:
            lines.append(f"{row.corpus}/{row.model}/{row.probe} ({row.preset} {row.config_id}): {row.seeds} seeds "
                         f"but only {row.n_splits} distinct speaker partition(s)")
    return lines


def write_leaderboard(results: str | Path) -> tuple[Path, pd.DataFrame]:
    """Rebuild ``<results>/leaderboard.csv`` from every record under ``<results>/runs``.

    Written to a temporary file, flushed to disk and renamed: when the disk is full (or the write fails otherwise)
    the temporary file is removed, the previous leaderboard is kept, and :class:`LeaderboardError` says so."""
    frame = build_leaderboard(record for _, record in iter_records(results))
    path = Path(results) / LEADERBOARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            frame.to_csv(handle, index=False, lineterminator="\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # a read-only file system refuses even this
            pass
        kept = "the previous leaderboard is kept" if path.exists() else "no leaderboard was written"
        fix = "free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "make the folder writable"
        raise LeaderboardError(f"could not write {path}: {exc.strerror or exc} ({kept}; the run records are "
                               f"complete: {fix} and run `probe leaderboard` to rebuild it)") from None
    return path, frame


def load_leaderboard(results: str | Path, rebuild: bool = True) -> pd.DataFrame:
    """The leaderboard: rebuilt from the records when there are any (and ``rebuild``), else read from the CSV."""
    results = Path(results)
    if rebuild and (results / "runs").is_dir():
        _, frame = write_leaderboard(results)
        if not frame.empty:
            return frame
    path = results / LEADERBOARD_FILE
    if not path.is_file():
        raise LeaderboardError(f"no run records under {results / 'runs'} and no {path}; train probes with `probe run`")
    return pd.read_csv(path, keep_default_na=False, dtype={"split_hash": str, "config_id": str, "overrides": str,
                                                           "best_layers": str})


def filter_leaderboard(
    frame: pd.DataFrame,
    corpus: Sequence[str] | None = None,
    model: Sequence[str] | None = None,
    probe: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows whose corpus, model and probe are among the given ones (all when a filter is empty)."""
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("corpus", corpus), ("model", model), ("probe", probe)):
        if wanted:
            keep &= frame[column].astype(str).isin(list(wanted))
    return frame[keep].reset_index(drop=True)
