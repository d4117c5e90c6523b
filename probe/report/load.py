"""Reading run records (``results/runs/**/*.json``, schema ``ser-probe-run/2``, ``/1`` still read) for the report.

The report never re-trains: everything it shows comes from these files and their ``.npz`` sidecars. Files are
parsed by :func:`probe.results.records.read_record`; this module adds the typed view :class:`Run`, the protocol and
class-set filter, and a table of runs. See ``docs/run-record.md`` for the schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from probe.results.records import RECORD_SCHEMA as SCHEMA
from probe.results.records import read_record, record_config_id, record_preset
from probe.train.presets import preset_label
REQUIRED: tuple[str, ...] = ("corpus", "model", "probe", "protocol", "seed", "classes", "metrics")


class ReportError(Exception):
    """Records that cannot be reported: none found, none matching the filters, or a malformed file."""


class NoRecordsError(ReportError, FileNotFoundError):
    """No run record where the report looked."""


@dataclass(frozen=True)
class Run:
    """One run record and where it was read from."""

    path: Path
    data: dict[str, Any]

    @property
    def corpus(self) -> str:
        return str(self.data["corpus"])

    @property
    def model(self) -> str:
        return str(self.data["model"])

    @property
    def probe(self) -> str:
        return str(self.data["probe"])

    @property
    def protocol(self) -> str:
        return str(self.data["protocol"])

    @property
    def seed(self) -> int:
        return int(self.data["seed"])

    @property
    def fold(self) -> int:
        return int(self.data.get("fold") or 0)

    @property
    def classes(self) -> list[str]:
        """The labels, in the order of every per-class array of the record."""
        return [str(c) for c in self.data["classes"]]

    @property
    def class_set(self) -> str:
        """The class-set name (``all``, ``4`` or ``a+b+c``): ``config.class_set`` as ``probe run`` writes it,
        else the ``<protocol>-<classes>`` folder of the standard layout, else the record's labels joined by ``+``."""
        configured = (self.data.get("config") or {}).get("class_set")
        if configured:
            return str(configured)
        prefix = f"{self.protocol}-"
        folder = self.path.parent.name
        if folder.startswith(prefix):
            return folder[len(prefix):]
        return "+".join(self.classes)

    @property
    def preset(self) -> str:
        """The training preset."""
        return record_preset(self.data)[0]

    @property
    def overrides(self) -> tuple[str, ...]:
        """Settings run differently from the preset."""
        return record_preset(self.data)[1]

    @property
    def config_id(self) -> str:
        """The configuration id: runs that share it are seeds or folds of one configuration."""
        return record_config_id(self.data)

    @property
    def test(self) -> dict[str, Any]:
        """Test-set metrics (percent)."""
        return self.data["metrics"]["test"]

    @property
    def macro_f1(self) -> float:
        return float(self.test["macro_f1"])

    @property
    def cache(self) -> dict[str, Any]:
        return self.data.get("cache") or {}

    @property
    def n_states(self) -> int | None:
        """Number of hidden states L+1 of the backbone, from the cache identity or the layer weights."""
        value = self.cache.get("n_layers")
        if value not in (None, ""):
            return int(value)
        states = self.data.get("layer_weight_states")  # Multi-Layer weights of states 1..L (eq. 4): L+1 states
        if states:
            return int(max(states)) + 1
        weights = self.data.get("layer_weights")
        return len(weights) if weights else None

    @property
    def sidecar(self) -> Path:
        """The ``.npz`` beside the record: ``ids`` and ``embeddings`` of the test set."""
        return self.path.with_suffix(".npz")

    @property
    def label(self) -> str:
        """Short identification: ``emodb / whisper-small / linear / holdout-all / seed 0``."""
        fold = f" fold {self.fold}" if self.protocol == "kfold" else ""
        where = f"{self.corpus} / {self.model} / {self.probe} / {self.protocol}-{self.class_set}"
        return f"{where} / seed {self.seed}{fold}"


@dataclass
class RunSet:
    """The records found under a results folder, and the files that were skipped (path, reason)."""

    root: Path
    runs: list[Run]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def read_run(path: Path) -> Run:
    """Read one record; :class:`ReportError` if it is not a run record."""
    path = Path(path)
    try:
        data = read_record(path)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    missing = [k for k in REQUIRED if k not in data]
    if missing or "test" not in (data.get("metrics") or {}):
        raise ReportError(f"{path}: record lacks {', '.join(missing) or 'metrics.test'}")
    return Run(path, data)


def runs_folder(results: Path) -> Path:
    """``results/runs`` when it exists, else ``results`` itself (a folder of records given directly)."""
    results = Path(results)
    return results / "runs" if (results / "runs").is_dir() else results


def load_runs(results: Path) -> RunSet:
    """Every record under ``results/runs`` (or under ``results`` if it has no ``runs`` folder).

    Files that are not run records are skipped and listed in :attr:`RunSet.skipped`; no record at all raises
    :class:`NoRecordsError`.
    """
    root = runs_folder(results)
    if not root.is_dir():
        raise NoRecordsError(f"no results folder at {Path(results)}: run `probe run` first, or pass --results")
    runs: list[Run] = []
    skipped: list[tuple[Path, str]] = []
    transfer = Path(results) / "transfer"  # `probe transfer` records are not in-domain runs (probe.report.transfer)
    for path in sorted(root.rglob("*.json")):
        if path.is_relative_to(transfer):
            continue
        try:
            runs.append(read_run(path))
        except ReportError as exc:
            skipped.append((path, str(exc).removeprefix(f"{path}: ")))
    if not runs:
        extra = f" ({len(skipped)} JSON files are not run records)" if skipped else ""
        raise NoRecordsError(
            f"no run records (schema {SCHEMA}) under {root}{extra}: train probes with `probe run` first"
        )
    return RunSet(root, runs, skipped)


def select_runs(
    runs: Iterable[Run], protocol: str | None = "holdout", classes: str | None = "all", preset: str | None = "paper",
    notes: list[str] | None = None,
) -> list[Run]:
    """The runs of one protocol, class set and preset (``None`` keeps every value), one configuration per
    (corpus, model, probe): tables never average unlike runs. Where a cell has runs of several configurations,
    the one with the most runs is kept (ties: no overrides, then the lower config id) and a line saying which were
    left out is appended to ``notes``. :class:`ReportError` if nothing matches."""
    runs = list(runs)
    chosen = [
        r for r in runs
        if (protocol is None or r.protocol == protocol) and (classes is None or r.class_set == classes)
        and (preset is None or r.preset == preset)
    ]
    if not chosen:
        available = sorted({f"{r.protocol}-{r.class_set} ({r.preset})" for r in runs})
        raise ReportError(
            f"none of the {len(runs)} run records has protocol={protocol}, classes={classes} and preset={preset}; "
            f"available: {', '.join(available)} (choose with --protocol, --classes and --preset)"
        )
    cells: dict[tuple[str, str, str], dict[str, list[Run]]] = {}
    for r in chosen:
        cells.setdefault((r.corpus, r.model, r.probe), {}).setdefault(r.config_id, []).append(r)
    kept: list[Run] = []
    for (corpus, model, probe), configs in cells.items():
        best = min(configs, key=lambda c: (-len(configs[c]), len(configs[c][0].overrides), c))
        kept += configs[best]
        if len(configs) > 1 and notes is not None:
            others = ", ".join(f"{c} ({preset_label(v[0].preset, v[0].overrides)}, {len(v)} runs)"
                               for c, v in sorted(configs.items()) if c != best)
            notes.append(f"{corpus}/{model}/{probe}: runs of several configurations; the tables use {best} "
                         f"({len(configs[best])} runs) and leave out {others}, never averaging them together.")
    return [r for r in chosen if r in kept]


def choose_selection(
    runs: Sequence[Run], protocol: str, classes: str, preset: str, given: Iterable[str],
) -> tuple[str, str, str, str | None]:
    """The protocol, class set and preset to report: the requested ones when some record has them; otherwise the
    options the user did not give (``given`` names those given: ``protocol``, ``classes``, ``preset``) take the
    values of the most records that agree with the given ones. Returns the three values and a note saying what
    was chosen (``None`` when nothing changed)."""
    wanted = {"protocol": protocol, "classes": classes, "preset": preset}
    keys = [(r.protocol, r.class_set, r.preset) for r in runs]
    if tuple(wanted.values()) in keys:
        return protocol, classes, preset, None
    fixed = {i: wanted[k] for i, k in enumerate(wanted) if k in set(given)}
    agree = [key for key in keys if all(key[i] == v for i, v in fixed.items())]
    if not agree:
        return protocol, classes, preset, None  # select_runs names what is available
    counts = {key: agree.count(key) for key in agree}
    best = max(counts, key=lambda key: (counts[key], key == ("holdout", "all", "paper"), key))
    changed = [f"--{name} {value}" for name, value, old in zip(wanted, best, wanted.values(), strict=True)
               if value != old]
    others = sorted({f"{k[0]}-{k[1]} ({k[2]})" for k in keys if k != best})
    note = (f"no run record has protocol={protocol}, classes={classes} and preset={preset}; reporting the "
            f"{counts[best]} records of protocol={best[0]}, classes={best[1]}, preset={best[2]} instead (as if "
            f"given {' '.join(changed)})" + (f"; other record sets: {', '.join(others)}" if others else ""))
    return best[0], best[1], best[2], note


RUN_COLUMNS: tuple[str, ...] = (
    "corpus", "language", "model", "family", "pretraining", "languages", "probe", "protocol", "classes", "preset",
    "config_id", "seed", "fold", "macro_f1", "uar", "accuracy", "weighted_f1", "n_states", "checkpoint", "weights", "path",
)


def layerwise_cells(runs: Sequence[Run]) -> dict[tuple[str, str], list[Run]]:
    """The runs of each layer-wise curve, by (model, corpus), sorted: layer-wise runs that carry a curve."""
    cells: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        if run.probe == "layerwise" and run.data.get("layerwise"):
            cells.setdefault((run.model, run.corpus), []).append(run)
    return dict(sorted(cells.items()))


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run with the fields the tables need (columns :data:`RUN_COLUMNS`)."""
    rows = []
    for r in runs:
        d, test = r.data, r.test
        rows.append({
            "corpus": r.corpus,
            "language": str(d.get("language", "")),
            "model": r.model,
            "family": str(d.get("family", "")),
            "pretraining": str(d.get("pretraining", "")),
            "languages": str(d.get("languages", "")),
            "probe": r.probe,
            "protocol": r.protocol,
            "classes": r.class_set,
            "preset": preset_label(r.preset, r.overrides),
            "config_id": r.config_id,
            "seed": r.seed,
            "fold": r.fold,
            "macro_f1": float(test["macro_f1"]),
            "uar": float(test.get("uar", float("nan"))),
            "accuracy": float(test.get("accuracy", float("nan"))),
            "weighted_f1": float(test.get("weighted_f1", float("nan"))),
            "n_states": r.n_states,
            "checkpoint": str(r.cache.get("checkpoint", "")),
            "weights": str(r.cache.get("weights", "")),
            "path": str(r.path),
        })
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))
