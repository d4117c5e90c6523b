"""Running transfer (:mod:`probe.run.transfer`): per model, every task × seed × probe is trained once and scored on
each of its test domains; one record per (train side, test domain, probe, seed) under ``<results>/transfer/runs``,
a folder of its own so transfer never mixes with in-domain leaderboards.

Records use the run-record schema (``ser-probe-run/2``) with ``corpus`` = the test domain and a ``transfer`` block
(protocol, training stages, train corpora and languages, test domain, class set, excluded rows). The probes, the
presets and the seeds are those of ``probe run``. Standardisation (``standardized`` preset) is fitted on the
training corpora's training rows only, never on the test corpus; class imbalance is handled by macro metrics (and
the ``paper`` preset's class-weighted loss, weights from the training rows).

Transfer is a plan and a data provider of the one runner: each cell is a :class:`probe.run.spec.RunSpec` (its
record path, configuration id and hash from :mod:`probe.results.records`), a task × seed × probe is one group trained by
:func:`probe.run.execute.execute_group` on the model's :class:`probe.data.transfer_data.TransferData`, and the outcomes,
listener and summary are those of ``probe run``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from extract.cache import FeatureCache, find_caches
from extract.labels import class_set_name
from probe.data.feeds import PooledFeed
from probe.data.transfer_data import TransferData
from probe.results.records import (
    UNHASHED_CACHE, config_hash, config_id, is_done, joint_split_hash, model_identity, safe_model_name,
    transfer_record_path,
)
from probe.run.execute import Fitted, execute_group
from probe.run.runner import run_config
from probe.run.selection import NoCachesError, RunSelection, parse_seeds
from probe.run.spec import RunJob, RunListener, RunOutcome, RunSpec, RunSummary, SilentListener, TransferSetup
from probe.run.splits import SplitError
from probe.run.transfer import (
    Domain, Task, TransferError, domain_labels, domain_split, make_domains, plan_tasks, speaker_keys, task_parts,
)
from probe.train.baselines import is_baseline, not_applicable
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.heads import PROBES
from probe.train.loop import Outputs, TrainResult


@dataclass
class TransferGroup:
    """One training of a task with one seed and probe: its training stages' rows, each test domain's rows, and
    its cells (one :class:`RunSpec` per test domain, scored on the same trained head)."""

    task: Task
    seed: int
    probe: str
    stages: list[dict[str, np.ndarray]]
    tests: dict[str, np.ndarray]
    cells: list[RunSpec]


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


def _fit_stages(probe: str, data: TransferData, labels: np.ndarray, parts: list[dict[str, np.ndarray]],
                test_rows: np.ndarray, n_classes: int, train: TrainConfig, seed: int,
                memo: dict[str, Any]) -> TrainResult:
    """Fit the stages in order (a later stage continues from the earlier head), then predict the test rows."""
    feed = _feed(data, probe, memo)
    head, result = None, None
    for i, stage in enumerate(parts):
        last = i == len(parts) - 1
        stage_parts = {"train": stage["train"], "val": stage["val"],
                       "test": test_rows if last else np.empty(0, dtype=np.int64)}
        result = fit_probe(probe, feed, labels, stage_parts, n_classes, train, seed,
                           head=head)
        head = result.head
    assert result is not None
    return result


def fit_group(group: TransferGroup, todo: Sequence[RunSpec], data: TransferData, labels: np.ndarray,
              train: TrainConfig) -> Fitted:
    """Train ``group`` once on the test rows of its pending cells ``todo``; each cell gets the result on its own
    test domain's rows."""
    result = _fit_stages(group.probe, data, labels, group.stages,
                         np.concatenate([group.tests[c.corpus] for c in todo]), len(group.task.classes), train,
                         group.seed, data.feeds)
    return [(replace(result, test=_slice(result.test, group.tests[c.corpus])), c.config) for c in todo]


@dataclass(frozen=True)
class _Matrix:
    """What every cell of one model's matrix shares."""

    results: Path
    model: str
    setup: TransferSetup
    train: TrainConfig
    n_states: int
    identity: dict[str, Any]
    domains: dict[str, Domain]
    paths: list[Path]
    speakers: np.ndarray


def _cell(m: _Matrix, task: Task, test: str, probe: str, seed: int, split_hash: str, cache_ids: dict[str, Any],
          stages: list[dict[str, np.ndarray]], rows: np.ndarray) -> RunSpec:
    """One record's plan: configuration, id (training settings and backbone only, shared by a matrix's cells),
    path and hash (everything: transfer coordinates, classes, splits and caches), split block and transfer
    block."""
    config = run_config(probe, m.train, seed=seed, split_seed=seed, protocol="holdout", fold=0, n_folds=1,
                        class_set=class_set_name(task.classes), classes=task.classes, n_states=m.n_states)
    cid = config_id({k: v for k, v in config.items() if k not in ("class_set", "classes")}, m.identity)
    config["transfer"] = {"protocol": task.protocol, "group_by": m.setup.group_by,
                          "stages": [list(s) for s in task.stages], "train": task.train_label, "test": test,
                          **({"regional": True} if m.setup.regional else {})}
    path = transfer_record_path(m.results, m.model, task.protocol, task.train_label, test, probe,
                                class_set_name(task.classes), f"{config['preset']}-{cid}", seed)
    seen = {p: np.concatenate([s[p] for s in stages]) for p in ("train", "val")} | {"test": rows}
    keys = m.speakers
    block = {"hash": split_hash, **{f"n_{p}": int(len(r)) for p, r in seen.items()},
             **{f"speakers_{p}": int(len(set(keys[r]))) for p, r in seen.items()},
             "partition": {p: sorted(set(keys[r])) for p, r in seen.items()}}
    target = m.domains[test]
    transfer = {**config["transfer"],
                "train_corpora": sorted({m.domains[n].corpus for n in task.train}),
                "train_languages": sorted({m.domains[n].lang for n in task.train}),
                "test_corpus": target.corpus, "test_language": target.lang,
                "n_train": [int(len(p["train"])) for p in stages], "n_val": [int(len(p["val"])) for p in stages]}
    return RunSpec(cache_path=m.paths[target.source], corpus=test, model=m.model, probe=probe, protocol="holdout",
                   seed=seed, fold=0, n_folds=1, class_set=class_set_name(task.classes), classes=task.classes,
                   path=path, config=config, config_hash=config_hash(config, split_hash, cache_ids), split=block,
                   parts=seen, config_id=cid, language=target.language, transfer=transfer)


def plan_model(caches: Sequence[FeatureCache], data: TransferData, job: RunJob, setup: TransferSetup,
               probes: Sequence[str], seeds: Sequence[int]) -> tuple[list[TransferGroup], list[str]]:
    """Every group (task × seed × probe) of one model's caches, and notes on what was left out and why."""
    model = caches[0].model
    domains = {d.name: d for d in make_domains(caches, setup.group_by, setup.regional)}
    labels_of = {n: domain_labels(d, caches[d.source]) for n, d in domains.items()}
    tasks, notes = plan_tasks(setup.protocol, list(domains.values()), labels_of, setup.train, setup.test,
                              job.classes)
    notes = [f"{model}: {n}" for n in notes]
    refused = {p: why for p in probes if (why := not_applicable(p, caches[0].attrs)) is not None}
    notes += [f"{model}: {p} not run: {why}" for p, why in refused.items()]  # e.g. multilayer on one state
    probes = [p for p in probes if p not in refused]
    m = _Matrix(Path(job.results), model, setup, job.config, data.n_states, model_identity(caches[0].attrs),
                domains, [c.path for c in caches], speaker_keys(data.table))
    splits: dict[tuple[str, tuple[str, ...], int], tuple[str, dict[str, np.ndarray]]] = {}
    groups = []
    for task in tasks:
        involved = sorted({*task.train, *task.tests})
        for seed in seeds:
            try:
                for name in involved:
                    if (name, task.classes, seed) not in splits:
                        split, parts = domain_split(domains[name], caches[domains[name].source], task.classes, seed)
                        splits[(name, task.classes, seed)] = (split.hash, parts)
                parts_of = {n: splits[(n, task.classes, seed)][1] for n in involved}
                stages, tests = task_parts(task, domains, parts_of, m.speakers, data.bases)
            except (SplitError, TransferError) as exc:
                notes.append(f"{model} {task.train_label} → {','.join(task.tests)} seed {seed}: {exc}")
                continue
            split_hash = joint_split_hash({n: splits[(n, task.classes, seed)][0] for n in involved})
            cache_ids = {n: {k: v for k, v in caches[domains[n].source].identity().items()
                             if k not in UNHASHED_CACHE} for n in involved}  # content, not path or time
            for probe in probes:
                cells = [_cell(m, task, test, probe, seed, split_hash, cache_ids, stages, tests[test])
                         for test in task.tests]
                groups.append(TransferGroup(task, seed, probe, stages, tests, cells))
    return groups, notes


def run_model(paths: Sequence[Path], job: RunJob, setup: TransferSetup, probes: Sequence[str],
              seeds: Sequence[int], listener: RunListener) -> tuple[list[RunOutcome], list[str]]:
    """Every group of one model's caches (see :func:`run_transfer`): its outcomes and notes."""
    caches = [FeatureCache(p) for p in paths]
    data = TransferData(caches, job.memory_budget)
    try:
        groups, notes = plan_model(caches, data, job, setup, probes, seeds)
        pending = [[job.force or not is_done(c.path, c.config_hash) for c in g.cells] for g in groups]
        listener.planned(sum(len(g.cells) for g in groups), sum(map(sum, pending)), (), notes)
        outcomes: list[RunOutcome] = []
        by_path = {c.path: c for c in caches}
        for group, flags in zip(groups, pending, strict=True):
            for cell in (c for c, flag in zip(group.cells, flags, strict=True) if not flag):
                outcome = RunOutcome(cell, "skipped", message="recorded with the same config hash")
                outcomes.append(outcome)
                listener.finished(outcome)
            todo = [c for c, flag in zip(group.cells, flags, strict=True) if flag]
            if todo:
                labels = data.labels(group.task.classes)
                outcomes += execute_group(todo, lambda g=group, t=todo, y=labels: fit_group(g, t, data, y, job.config),
                                          data.table, by_path, labels, listener)
        return outcomes, notes
    finally:
        data.close()


def run_transfer(job: RunJob, selection: RunSelection = RunSelection(),
                 listener: RunListener | None = None) -> RunSummary:
    """Run the job's transfer setup (default: pair by corpus) for each selected model (default: every model with
    a cache under ``job.features``; ``selection.corpora``: only those corpora's caches); records go under
    ``<job.results>/transfer/runs``. The setup's ``train``/``test`` name domains (corpora, or ``<corpus>-<lang>``
    with ``group_by="language"``); default all; ``regional`` keeps regional variants of a language apart (fr-CA
    from fr; recorded). Recorded cells with the same configuration hash are skipped unless ``job.force``."""
    started = time.perf_counter()
    listener = listener or SilentListener()
    setup = job.transfer or TransferSetup()
    if job.protocol != "holdout" or job.folds is not None or job.split_seed is not None:
        raise ValueError("transfer splits every domain by holdout with each seed: protocol, folds and split seed "
                         "are settings of in-domain runs")
    names = selection.probe_names()
    bad = [p for p in names if is_baseline(p) or p == "layerwise"]
    if bad:
        raise ValueError(f"probe(s) {bad} are not supported by transfer; use linear, nonlinear, multilayer or "
                         "attention")
    seed_list = parse_seeds(job.seeds)
    corpora = selection.corpora
    wanted = {safe_model_name(m) for m in selection.models or ()}
    by_model: dict[str, list[Path]] = {}
    for path in find_caches(job.features):
        if (not wanted or path.stem in wanted) and (not corpora or path.parent.name in corpora):
            by_model.setdefault(path.stem, []).append(path)
    if not by_model:
        raise NoCachesError(f"no complete cache of {sorted(wanted) or 'any model'}"
                            f"{' for ' + ', '.join(corpora) if corpora else ''} under {Path(job.features).resolve()}"
                            " (expected <corpus>/<model>.h5); make them with `probe extract`")
    summary = RunSummary()
    for _, paths in sorted(by_model.items()):
        outcomes, notes = run_model(paths, job, setup, names, seed_list, listener)
        summary.outcomes += outcomes
        summary.notes += notes
    summary.seconds = time.perf_counter() - started
    return summary
