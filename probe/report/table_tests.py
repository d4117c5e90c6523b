"""The paired tests behind the report's tables: per table cell a speaker-clustered CI, per row or column the
best backbone against every other, Holm-corrected over the table (see :mod:`probe.report.intervals`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from probe.report.load import Run
from probe.results.uncertainty import (
    LEVEL,
    N_RESAMPLES,
    UncertaintyError,
    compare_over_corpora,
    compare_records,
    holm,
    interval_of_records,
    interval_over_corpora,
)

NOT_DISTINGUISHABLE = "not distinguishable on this data"
TIED = "†"
ALPHA = 0.05


@dataclass
class TableTests:
    """CIs and best-vs-other tests of one table: ``group`` is the corpus (Table 3) or the probe (Table 2)."""

    intervals: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(group, backbone) → interval."""
    tests: list[dict[str, Any]] = field(default_factory=list)
    """One per (group, best, other): the paired result plus ``group``, ``best``, ``other``, ``p_holm``."""
    best: dict[str, str] = field(default_factory=dict)
    winner: dict[str, str | None] = field(default_factory=dict)
    """group → the best backbone when significantly better than the runner-up, else ``None``."""
    tied: dict[str, list[str]] = field(default_factory=dict)
    """group → backbones not distinguishable from the best (the best included), when there is no winner."""
    refused: list[str] = field(default_factory=list)
    """Comparisons that could not be made (sides tested on different splits), with the reason."""

    def correct(self) -> None:
        """Holm-correct every test of the table, then decide winners and ties per group."""
        adjusted = holm([t["p_value"] for t in self.tests])
        for test, p in zip(self.tests, adjusted):
            test["p_holm"] = float(p)
        for group, best in self.best.items():
            mine = sorted((t for t in self.tests if t["group"] == group), key=lambda t: t["difference"])
            if not mine:
                self.winner[group], self.tied[group] = None, []
                continue
            runner_up = mine[0]
            significant = runner_up["p_holm"] < ALPHA and runner_up["difference"] > 0
            self.winner[group] = best if significant else None
            self.tied[group] = [] if significant else [best] + [t["other"] for t in mine
                                                                  if not t["p_holm"] < ALPHA]


def records_by_cell(runs: Sequence[Run]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """The runs' records per (corpus, model, probe)."""
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for run in runs:
        found.setdefault((run.corpus, run.model, run.probe), []).append(run.data)
    return found


def safe(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    """``call(...)``, or ``None`` when the records cannot be bootstrapped (no predictions: the cell keeps its std)."""
    try:
        return call(*args, **kwargs)
    except UncertaintyError:
        return None


def _test_group(out: TableTests, group: str, rows: pd.DataFrame, item: str, cells: dict[str, Any],
                interval: Callable[..., dict[str, Any]], compare: Callable[..., dict[str, Any]],
                options: dict[str, Any]) -> None:
    """One row or column of a table: each item's CI from its ``cells`` entry with ``interval``, then the item
    ranked best by ``macro_f1_mean`` against every other item that has a CI, with ``compare``."""
    for name, data in cells.items():
        found = safe(interval, data, **options) if data else None
        if found is not None:
            out.intervals[(group, name)] = found
    ranked = rows.sort_values("macro_f1_mean", ascending=False, kind="stable")[item].tolist()
    ranked = [x for x in ranked if (group, x) in out.intervals]
    if not ranked:
        return
    out.best[group] = ranked[0]
    for other in ranked[1:]:
        try:
            result = compare(cells[ranked[0]], cells[other], **options)
        except UncertaintyError as exc:  # e.g. the two sides were tested on different splits: no test, say so
            out.refused.append(f"{group}: {ranked[0]} vs {other}: {exc}")
            continue
        out.tests.append(dict(result, group=group, best=ranked[0], other=other))


def corpus_tests(runs: Sequence[Run], data: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0,
                 level: float = LEVEL) -> TableTests:
    """Table 3: per (corpus, backbone) the CI of its probe's runs; per corpus the best vs every other."""
    records, out = records_by_cell(runs), TableTests()
    options = dict(n_resamples=n_resamples, seed=seed, level=level)
    for corpus, rows in data.groupby("corpus", sort=False):
        cells = {r.model: records.get((corpus, r.model, r.probe), []) for r in rows.itertuples()}
        _test_group(out, corpus, rows, "model", cells, interval_of_records, compare_records, options)
    out.correct()
    return out


def probe_tests(runs: Sequence[Run], data: pd.DataFrame, n_resamples: int = N_RESAMPLES, seed: int = 0,
                level: float = LEVEL, by: str = "probe") -> TableTests:
    """Table 2: per (probe, backbone) the CI of the mean over corpora; per probe the best backbone vs every
    other (``by="probe"``), or per backbone the best probe vs every other (``by="model"``; keys stay
    (group, item))."""
    item = "model" if by == "probe" else "probe"
    records, out = records_by_cell(runs), TableTests()
    options = dict(n_resamples=n_resamples, seed=seed, level=level)
    for group, rows in data.groupby(by, sort=False):
        groups = {x: {c: recs for (c, m, p), recs in records.items() if {"model": m, "probe": p}[by] == group
                      and {"model": m, "probe": p}[item] == x} for x in rows[item]}
        _test_group(out, group, rows, item, groups, interval_over_corpora, compare_over_corpora, options)
    out.correct()
    return out
