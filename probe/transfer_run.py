"""Running transfer (:mod:`probe.transfer`): per model, every task × seed × probe is trained once and scored on
each of its test domains; one record per (train side, test domain, probe, seed) under ``<results>/transfer/runs``,
a folder of its own so transfer never mixes with in-domain leaderboards.

Records use the run-record schema (``ser-probe-run/2``) with ``corpus`` = the test domain and a ``transfer`` block
(protocol, training stages, train corpora and languages, test domain, class set, excluded rows). The probes, the
presets and the seeds are those of ``probe run``. Standardisation (``standardized`` preset) is fitted on the
training corpora's training rows only, never on the test corpus; class imbalance is handled by macro metrics (and
the ``paper`` preset's class-weighted loss, weights from the training rows).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from extract.cache import CacheError, FeatureCache, find_caches
from extract.labels import class_set_name
from probe.baselines import is_baseline, not_applicable
from probe.heads import PROBES, parse_probes
from probe.metrics import classification_metrics
from probe.optim import weight_fields
from probe.records import (
    RECORD_SCHEMA, UNHASHED_CACHE, config_hash, config_id, is_done, now_iso, safe_model_name, versions,
)
from probe.execute import failure_reason, pick_group, write_checked
from probe.runner import DEFAULT_SEEDS, run_config
from probe.runspec import model_traits
from probe.selection import NoCachesError, parse_seeds
from probe.splits import SplitError
from probe.presets import preset_of
from probe.train import Outputs, PooledFeed, TrainConfig, TrainResult, fit_probe
from probe.transfer import Domain, Task, TransferError, domain_labels, domain_split, make_domains, plan_tasks, \
    speaker_keys, task_parts
from probe.transfer_data import TransferData

TRANSFER_DIR = "transfer"
MODEL_IDENTITY: tuple[str, ...] = ("model", "base_model", "family", "pretraining", "languages", "checkpoint",
                                   "weights", "n_layers", "dim", "whisper_input", "precision")


@dataclass
class TransferOutcome:
    """One record's fate: ``trained``, ``skipped`` (recorded with the same hash) or ``failed``."""

    label: str
    status: str
    macro_f1: float | None = None
    seconds: float = 0.0
    message: str = ""


@dataclass
class TransferSummary:
    """Everything :func:`run_transfer` did."""

    outcomes: list[TransferOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


class TransferListener(Protocol):
    def planned(self, total: int, pending: int, notes: Sequence[str]) -> None: ...

    def started(self, label: str) -> None: ...

    def finished(self, outcome: TransferOutcome) -> None: ...


class _Silent:
    def planned(self, total: int, pending: int, notes: Sequence[str]) -> None:
        pass

    def started(self, label: str) -> None:
        pass

    def finished(self, outcome: TransferOutcome) -> None:
        pass


def transfer_record_path(results: str | Path, model: str, task: Task, test: str, probe: str, config: str,
                         seed: int) -> Path:
    """``<results>/transfer/runs/<model>/<protocol>/<train>/<test>/<probe>/<classes>-<config>/seed<k>.json``."""
    folder = f"{class_set_name(task.classes)}-{config}"
    return (Path(results) / TRANSFER_DIR / "runs" / safe_model_name(model) / task.protocol / task.train_label / test
            / probe / folder / f"seed{seed}.json")


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class _Cell:
    test: str
    path: Path
    config: dict[str, Any]
    config_id: str
    config_hash: str


def _feed(data: TransferData, probe: str, memo: dict[str, Any]) -> Any:
    head = PROBES[probe]
    if head.frames:
        return data.frames(head.all_states)
    key = f"pooled-{head.all_states}"
    if key not in memo:
        pooled = data.pooled()
        memo[key] = PooledFeed(pooled if head.all_states else pooled[:, -1])
    return memo[key]


def _slice(out: Outputs, rows: np.ndarray) -> Outputs:
    """The outputs of ``rows`` (a subset of ``out.rows``)."""
    where = {int(r): i for i, r in enumerate(out.rows)}
    index = np.array([where[int(r)] for r in rows], dtype=np.int64)
    return Outputs(np.asarray(rows), out.logits[index], None if out.embeddings is None else out.embeddings[index])


def _record(cell: _Cell, task: Task, probe: str, seed: int, result: TrainResult, test: Outputs, data: TransferData,
            labels: np.ndarray, domains: dict[str, Domain], parts: list[dict[str, np.ndarray]], model: str,
            block: dict[str, Any], val_metrics: dict[str, Any]) -> tuple[dict[str, Any], list[str], np.ndarray]:
    classes = list(task.classes)
    ids = data.table["id"].astype(str).to_numpy()
    speakers = data.table["speaker"].astype(str).to_numpy()
    y_val, y_test = labels[result.val.rows], labels[test.rows]
    g = pick_group(result, y_val)
    test_pred = test.pred()[:, g]
    target = domains[cell.test]
    cache = data.caches[target.source]
    traits = model_traits(cache.attrs)
    record = {
        "schema": RECORD_SCHEMA, "corpus": cell.test, "language": target.language, "model": model,
        **{k: v for k, v in traits.items() if k != "language"},
        "probe": probe, "protocol": "holdout", "fold": 0, "n_folds": 1, "seed": seed, "classes": classes,
        "preset": cell.config.get("preset", ""), "overrides": list(cell.config.get("overrides") or []),
        "config_id": cell.config_id, "config": cell.config, "config_hash": cell.config_hash, "split": block,
        "cache": cache.identity(),
        "metrics": {"test": classification_metrics(y_test, test_pred, classes),
                    "val": val_metrics,
                    "best_epoch": int(result.best_epoch[g])},
        "curves": result.curves,
        "predictions": {"id": ids[test.rows].tolist(), "speaker": speakers[test.rows].tolist(),
                        "true": [classes[i] for i in y_test], "pred": [classes[i] for i in test_pred],
                        "proba": np.round(test.proba()[:, g].astype(np.float64), 6).tolist()},
        "layer_weights": result.head.layer_weights(), **weight_fields(result.head, result.logit_bound),
        "layerwise": None, "versions": versions(),
        "created": now_iso(), "duration_s": round(result.seconds, 3),
        "transfer": {**cell.config["transfer"],
                     "train_corpora": sorted({domains[n].corpus for n in task.train}),
                     "train_languages": sorted({domains[n].lang for n in task.train}),
                     "test_corpus": target.corpus, "test_language": target.lang,
                     "n_train": [int(len(p["train"])) for p in parts], "n_val": [int(len(p["val"])) for p in parts],
                     "n_test": int(len(test.rows)), "standardization": result.standardization},
    }
    emb = test.embeddings[:, g] if test.embeddings is not None else np.zeros((len(y_test), 0))
    return record, ids[test.rows].tolist(), emb


def _train(probe: str, data: TransferData, labels: np.ndarray, parts: list[dict[str, np.ndarray]],
           test_rows: np.ndarray, n_classes: int, train: TrainConfig, seed: int, memo: dict[str, Any]) -> TrainResult:
    """Fit the stages in order (a later stage continues from the earlier head), then predict the test rows."""
    feed = _feed(data, probe, memo)
    head, result = None, None
    for i, stage in enumerate(parts):
        last = i == len(parts) - 1
        stage_parts = {"train": stage["train"], "val": stage["val"],
                       "test": test_rows if last else np.empty(0, dtype=np.int64)}
        result = fit_probe(probe, feed, labels, stage_parts, data.n_states, data.dim, n_classes, train, seed,
                           head=head)
        head = result.head
    assert result is not None
    return result


def _model_identity(cache: FeatureCache) -> dict[str, Any]:
    return {k: cache.attrs.get(k, "") for k in MODEL_IDENTITY}


def _cell(results: Path, model: str, task: Task, test: str, probe: str, seed: int, train: TrainConfig, n_states: int,
          identity: dict[str, Any], split_hash: str, cache_ids: dict[str, Any], protocol: str, group_by: str,
          regional: bool = False) -> _Cell:
    """One record's configuration, id (training settings and backbone only, shared by a matrix's cells), path
    and hash (everything: transfer coordinates, classes, splits and caches)."""
    config = run_config(probe, train, seed=seed, split_seed=seed, protocol="holdout", fold=0, n_folds=1,
                        class_set=class_set_name(task.classes), classes=task.classes, n_states=n_states)
    cid = config_id({k: v for k, v in config.items() if k not in ("class_set", "classes")}, identity)
    config["transfer"] = {"protocol": task.protocol, "group_by": group_by, "stages": [list(s) for s in task.stages],
                          "train": task.train_label, "test": test, **({"regional": True} if regional else {})}
    path = transfer_record_path(results, model, task, test, probe, f"{config['preset']}-{cid}", seed)
    return _Cell(test, path, config, cid, config_hash(config, split_hash, cache_ids))


def run_model(
    model: str, paths: Sequence[Path], results: Path, protocol: str, probes: Sequence[str], seeds: Sequence[int],
    classes: str | Sequence[str] | None, train: TrainConfig, group_by: str, train_names: Sequence[str] | None,
    test_names: Sequence[str] | None, memory_budget: int | None, force: bool, listener: TransferListener,
    summary: TransferSummary, *, regional: bool = False,
) -> None:
    """Every task of one model's caches (see :func:`run_transfer`)."""
    caches = [FeatureCache(p) for p in paths]
    data = TransferData(caches, memory_budget)
    try:
        domains = {d.name: d for d in make_domains(caches, group_by, regional)}
        labels_of = {n: domain_labels(d, caches[d.source]) for n, d in domains.items()}
        tasks, notes = plan_tasks(protocol, list(domains.values()), labels_of, train_names, test_names, classes)
        notes = [f"{model}: {n}" for n in notes]
        refused = {p: why for p in probes if (why := not_applicable(p, caches[0].attrs)) is not None}
        notes += [f"{model}: {p} not run: {why}" for p, why in refused.items()]  # e.g. multilayer on one state
        probes = [p for p in probes if p not in refused]
        speakers = speaker_keys(data.table)
        identity = _model_identity(caches[0])
        splits: dict[tuple[str, tuple[str, ...], int], tuple[str, dict[str, np.ndarray]]] = {}
        plan = []
        for task in tasks:
            involved = sorted({*task.train, *task.tests})
            for seed in seeds:
                try:
                    for name in involved:
                        if (name, task.classes, seed) not in splits:
                            split, parts = domain_split(domains[name], caches[domains[name].source], task.classes,
                                                        seed)
                            splits[(name, task.classes, seed)] = (split.hash, parts)
                    parts_of = {n: splits[(n, task.classes, seed)][1] for n in involved}
                    stages, tests = task_parts(task, domains, parts_of, speakers, data.bases)
                except (SplitError, TransferError) as exc:
                    notes.append(f"{model} {task.train_label} → {','.join(task.tests)} seed {seed}: {exc}")
                    continue
                split_hash = _digest({n: splits[(n, task.classes, seed)][0] for n in involved})
                cache_ids = {n: {k: v for k, v in caches[domains[n].source].identity().items()
                                 if k not in UNHASHED_CACHE} for n in involved}  # content, not path or time
                for probe in probes:
                    cells = [_cell(results, model, task, test, probe, seed, train, data.n_states, identity,
                                   split_hash, cache_ids, protocol, group_by, regional) for test in task.tests]
                    plan.append((task, seed, probe, stages, tests, cells, split_hash))
        total = sum(len(item[5]) for item in plan)
        pending = [[force or not is_done(c.path, c.config_hash) for c in item[5]] for item in plan]
        summary.notes += notes
        listener.planned(total, sum(map(sum, pending)), notes)
        for (task, seed, probe, stages, tests, cells, split_hash), flags in zip(plan, pending):
            for cell, flag in zip(cells, flags):
                if not flag:
                    outcome = TransferOutcome(f"{task.train_label} → {cell.test} {probe} seed {seed}", "skipped")
                    summary.outcomes.append(outcome)
                    summary.records.append(cell.path)
                    listener.finished(outcome)
            todo = [c for c, flag in zip(cells, flags) if flag]
            if todo:
                _run_task(model, task, seed, probe, stages, tests, todo, split_hash, data, domains, train, listener,
                          summary)
    finally:
        data.close()


def _run_task(model: str, task: Task, seed: int, probe: str, stages: list[dict[str, np.ndarray]],
              tests: dict[str, np.ndarray], cells: list[_Cell], split_hash: str, data: TransferData,
              domains: dict[str, Domain], train: TrainConfig, listener: TransferListener,
              summary: TransferSummary) -> None:
    name = f"{model}: {task.train_label} → {','.join(c.test for c in cells)} {probe} seed {seed}"
    listener.started(name)
    started = time.perf_counter()
    labels = data.labels(task.classes)
    test_rows = np.concatenate([tests[c.test] for c in cells])
    keys = speaker_keys(data.table)
    try:
        result = _train(probe, data, labels, stages, test_rows, len(task.classes), train, seed, data.feeds)
    except (CacheError, OSError, MemoryError, ValueError, RuntimeError) as exc:
        for cell in cells:
            outcome = TransferOutcome(f"{task.train_label} → {cell.test} {probe} seed {seed}", "failed",
                                      message=f"{type(exc).__name__}: {exc}")
            summary.outcomes.append(outcome)
            listener.finished(outcome)
        return
    y_val = labels[result.val.rows]
    val_metrics = classification_metrics(y_val, result.val.pred()[:, pick_group(result, y_val)], list(task.classes))
    for cell in cells:  # one training, scored on each test domain
        rows = tests[cell.test]
        seen = {p: np.concatenate([s[p] for s in stages]) for p in ("train", "val")} | {"test": rows}
        block = {"hash": split_hash, **{f"n_{p}": int(len(r)) for p, r in seen.items()},
                 **{f"speakers_{p}": int(len(set(keys[r]))) for p, r in seen.items()},
                 "partition": {p: sorted(set(keys[r])) for p, r in seen.items()}}
        record, ids, emb = _record(cell, task, probe, seed, result, _slice(result.test, rows), data, labels,
                                   domains, stages, model, block, val_metrics)
        label = f"{task.train_label} → {cell.test} {probe} seed {seed}"
        try:  # a full disk: the folder and the space a record needs, as `probe run` says it
            write_checked(cell.path, record, ids, emb, f"the transfer record of {label}")
        except OSError as exc:
            outcome = TransferOutcome(label, "failed", message=failure_reason(exc))
            summary.outcomes.append(outcome)
            listener.finished(outcome)
            continue
        summary.records.append(cell.path)
        outcome = TransferOutcome(label, "trained", record["metrics"]["test"]["macro_f1"],
                                  time.perf_counter() - started)
        summary.outcomes.append(outcome)
        listener.finished(outcome)


def run_transfer(
    features: str | Path = "features", results: str | Path = "results", *, models: Sequence[str] | None = None,
    corpora: Sequence[str] | None = None, protocol: str = "pair", train: Sequence[str] | None = None, test: Sequence[str] | None = None,
    group_by: str = "corpus", probes: str | Sequence[str] | None = None,
    seeds: str | int | Sequence[int] = DEFAULT_SEEDS, classes: str | Sequence[str] | None = "4",
    config: TrainConfig | None = None, memory_budget: int | None = None, threads: int | None = None,
    force: bool = False, listener: TransferListener | None = None, regional: bool = False,
) -> TransferSummary:
    """Run ``protocol`` for each model (default: every model with a cache under ``features``; ``corpora``: only
    those corpora's caches); records go under
    ``<results>/transfer/runs``. ``train``/``test`` name domains (corpora, or ``<corpus>-<lang>`` with
    ``group_by="language"``); default all. ``regional`` keeps regional variants of a language apart (fr-CA from
    fr; recorded). Recorded cells with the same configuration hash are skipped."""
    started = time.perf_counter()
    listener = listener or _Silent()
    config = config or TrainConfig()
    names = parse_probes(probes) if probes is None or isinstance(probes, str) else parse_probes(",".join(probes))
    bad = [p for p in names if is_baseline(p) or p == "layerwise"]
    if bad:
        raise ValueError(f"probe(s) {bad} are not supported by transfer; use linear, nonlinear, multilayer or "
                         "attention")
    seed_list = parse_seeds(seeds)
    found = find_caches(features)
    wanted = {safe_model_name(m) for m in models or ()}
    by_model: dict[str, list[Path]] = {}
    for path in found:
        if (not wanted or path.stem in wanted) and (not corpora or path.parent.name in corpora):
            by_model.setdefault(path.stem, []).append(path)
    if not by_model:
        raise NoCachesError(f"no complete cache of {sorted(wanted) or 'any model'}"
                            f"{' for ' + ', '.join(corpora) if corpora else ''} under {Path(features).resolve()}"
                            " (expected <corpus>/<model>.h5); make them with `probe extract`")
    summary = TransferSummary()
    if threads is not None:
        config = preset_of(replace(config, cpu_threads=max(1, int(threads))))
    for model, paths in sorted(by_model.items()):
        with FeatureCache(paths[0]) as first:
            name = first.model
        run_model(name, paths, Path(results), protocol, names, seed_list, classes, config, group_by, train, test,
                  memory_budget, force, listener, summary, regional=regional)
    summary.seconds = time.perf_counter() - started
    return summary
