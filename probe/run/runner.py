"""Running the benchmark: every selected cache × probe × seed (× fold), one record per run, then the leaderboard.

:func:`run_all` is the entry point (the ``probe run`` command and the demo call it). Per cache it plans first
(class filter, one speaker-independent split per seed, shared by every model of the corpus; a record path and
configuration hash per run, runs already recorded with the same hash are skipped), then opens the cache's data
once (:class:`probe.data.cache_data.CacheData`) for every pending head and seed, trains, and writes each record atomically.
A corpus whose speakers cannot be separated, or that has fewer than two of the wanted classes, is reported and
skipped; the other caches still run.

Here: planning and the whole run. Selecting caches and seeds is in :mod:`probe.run.selection`, the runner's records of
work in :mod:`probe.run.spec`, and training a cache's pending runs (streamed seeds side by side) and writing their
records in :mod:`probe.run.execute`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from extract.cache import CacheError, FeatureCache
from extract.labels import class_set_name, parse_classes
from extract.locks import exclusive_lock
from probe.results.leaderboard import write_leaderboard
from probe.results.records import config_hash, config_id, is_done, record_path, recorded_hash
from probe.run.execute import run_cache
from probe.run.labelcheck import label_problem
from probe.run.parallel import run_caches_in_parallel
from probe.run.selection import RunSelection, parse_seeds, select_caches_checked
from probe.run.spec import CacheIssue, RunJob, RunListener, RunOutcome, RunSpec, RunSummary, SilentListener
from probe.run.splits import DEFAULT_RATIOS, Split, SplitError, holdout_split, kfold_split, resolve_protocol
from probe.run.unread_layers import unread_damage_note
from probe.train.baselines import applicable_probes, baseline_config, is_baseline, left_out_notes
from probe.train.config import TrainConfig
from probe.train.heads import PROBES
from probe.train.presets import preset_of

PROTOCOLS: tuple[str, ...] = ("holdout", "kfold")


def check_protocol(protocol: str) -> None:
    """ValueError for a protocol that is neither one of :data:`PROTOCOLS` nor ``auto``
    (:func:`probe.run.splits.resolve_protocol`)."""
    if protocol not in PROTOCOLS + ("auto",):
        raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)} or auto")


# -- planning ------------------------------------------------------------------------------------------------------


def _manifest_key(manifest: pd.DataFrame) -> str:
    text = manifest[["id", "label", "speaker"]].astype(str).sort_values("id").to_csv(index=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _check_class_set(cache: FeatureCache, wanted: tuple[str, ...] | None) -> None:
    """A cache extracted with a class subset cannot serve a wider one: its records would be mislabelled."""
    extracted = cache.attrs.get("class_set")  # "all", "4" or "a+b+c": written by probe extract
    if extracted is None:  # older caches: a class-set name in "classes", or the list of labels kept
        raw = cache.attrs.get("classes")
        extracted = raw if isinstance(raw, str) and raw else "all"
    extracted = str(extracted)
    if extracted == "all":
        return
    have = parse_classes(extracted.replace("+", ",")) or ()
    missing = sorted(set(wanted) - set(have)) if wanted is not None else None
    if wanted is None or missing:
        asked = "all" if wanted is None else class_set_name(wanted)
        raise ValueError(
            f"{cache.path} was extracted with classes {extracted!r} ({', '.join(have)}); --classes {asked} "
            f"would label that subset as {asked!r}"
            + (f" (missing {', '.join(missing)})" if missing else "")
            + f". Run with --classes {extracted}, or re-extract with --classes {asked}"
        )


def run_config(
    probe: str, train: TrainConfig, *, seed: int, split_seed: int, protocol: str, fold: int, n_folds: int,
    class_set: str, classes: Sequence[str], n_states: int,
) -> dict[str, Any]:
    """The record's ``config``: training settings as this head applies them, and the run's coordinates."""
    config = baseline_config(probe, preset_of(train)) if is_baseline(probe) else preset_of(train).as_dict()
    spec = PROBES[probe]
    if probe == "attention":
        config.update(hidden=[256, 128], dropout=[0.3, 0.2])
    elif not spec.frames:
        config["dropout"] = 0.0
    config.update(
        probe=probe, seed=seed, split_seed=split_seed, protocol=protocol, fold=fold, n_folds=n_folds,
        ratios=list(DEFAULT_RATIOS) if protocol == "holdout" else None,
        class_set=class_set, classes=list(classes),
        layer="all" if spec.all_states else n_states - 1,
        input="frames" if spec.frames else "pooled/mean",
    )
    return config


def plan_cache(
    cache: FeatureCache,
    results: str | Path,
    probes: Sequence[str],
    seeds: Sequence[int],
    protocol: str,
    folds: int | None,
    classes: str | Sequence[str] | None,
    train: TrainConfig,
    split_seed: int | None = None,
    splits: dict[tuple[Any, ...], Split] | None = None,
) -> list[RunSpec]:
    """Every run of one cache, in probe, seed, fold order. ``splits`` memoises splits across models of a corpus.

    Raises :class:`probe.run.splits.SplitError` (speakers cannot be separated) or ``ValueError`` (too few classes).
    """
    check_protocol(protocol)
    splits = {} if splits is None else splits
    probes = applicable_probes(probes, cache)  # e.g. the AST only on log-mel caches
    table = cache.utterances
    wanted = parse_classes(classes)
    _check_class_set(cache, wanted)
    keep = table["label"].isin(wanted).to_numpy() if wanted else np.ones(len(table), dtype=bool)
    rows = np.flatnonzero(keep)
    manifest = table.loc[keep, ["id", "label", "speaker", "gender"]].reset_index(drop=True)
    labels = tuple(sorted(manifest["label"].astype(str).unique()))
    if len(labels) < 2:
        raise ValueError(f"{len(labels)} class(es) {list(labels)} left after selecting classes {classes!r}; need 2")
    set_name = class_set_name(wanted)
    protocol = resolve_protocol(protocol, int(manifest["speaker"].nunique()))  # auto: k-fold up to 12 speakers
    key_base = (cache.corpus, protocol, folds, set_name, _manifest_key(manifest))
    specs: list[RunSpec] = []
    identity = cache.identity()
    for seed in seeds:
        s_seed = seed if split_seed is None else split_seed
        key = key_base + (s_seed,)
        if key not in splits:
            splits[key] = (holdout_split(manifest, seed=s_seed) if protocol == "holdout"
                           else kfold_split(manifest, seed=s_seed, k=folds))
        split = splits[key]
        for fold in split.folds:
            masks = split.masks(manifest["id"].tolist(), fold)
            parts = {p: rows[masks[p]] for p in ("train", "val", "test")}
            block = {"hash": split.hash, **{f"n_{p}": int(masks[p].sum()) for p in ("train", "val", "test")},
                     **{f"speakers_{p}": int(manifest.loc[masks[p], "speaker"].nunique())
                        for p in ("train", "val", "test")},
                     "partition": {p: sorted(manifest.loc[masks[p], "speaker"].astype(str).unique())
                                   for p in ("train", "val", "test")}}
            for probe in probes:
                config = run_config(probe, train, seed=seed, split_seed=s_seed, protocol=protocol, fold=fold,
                                    n_folds=len(split.folds), class_set=set_name, classes=labels,
                                    n_states=cache.n_states)
                cid = config_id(config, identity)
                specs.append(RunSpec(
                    cache_path=cache.path, corpus=cache.corpus, model=cache.model, probe=probe, protocol=protocol,
                    seed=seed, fold=fold, n_folds=len(split.folds), class_set=set_name, classes=labels,
                    path=record_path(results, cache.corpus, cache.model, probe, protocol, set_name, seed,
                                     fold if protocol == "kfold" else None, f"{config['preset']}-{cid}"),
                    config_id=cid,
                    config=config, config_hash=config_hash(config, split.hash, identity), split=block, parts=parts,
                ))
    order = {name: i for i, name in enumerate(PROBES)}
    return sorted(specs, key=lambda s: (order[s.probe], s.seed, s.fold))


def run_all(
    job: RunJob, selection: RunSelection = RunSelection(), listener: RunListener | None = None, *,
    write_board: bool = True, wait_lock: bool = False, jobs: int = 1,
) -> RunSummary:
    """Train the selected probes (default linear, nonlinear, multilayer; ``"all"`` for every head) with the job's
    seeds on every complete cache under ``job.features`` (or the selected corpora/models), write one record per
    run under ``<job.results>/runs`` and rebuild ``<job.results>/leaderboard.csv``.

    Runs whose record exists with the same configuration hash are skipped unless ``job.force``.
    ``job.split_seed`` fixes the split across seeds (default: each seed draws its own split).
    ``job.memory_budget`` bounds the frames held in memory (bytes; default 25% of RAM), beyond which they are
    streamed from the cache. The torch thread count is the configuration's ``cpu_threads`` (default 1, the same
    result on every machine; see :func:`probe.train.config.training_threads`). One ``probe run`` per results folder: a
    run that writes the leaderboard holds an OS lock on ``<results>/.lock``; another one exits with
    :class:`extract.locks.LockBusy` naming the holder, or waits for it (``wait_lock``). ``jobs`` > 1 trains that
    many caches at once in worker processes (:mod:`probe.run.parallel`; the same records).
    """
    started = time.perf_counter()
    listener = listener or SilentListener()
    probe_names = selection.probe_names()
    seed_list = parse_seeds(job.seeds)
    check_protocol(job.protocol)
    parse_classes(job.classes)  # fail early on a bad class spec
    paths, bad = select_caches_checked(job.features, selection.corpora, selection.models)
    results = job.results
    with (exclusive_lock(results, folder=True, what=f"results folder {results}", wait=wait_lock,
                         log=logging.getLogger(__name__).warning) if write_board else contextlib.nullcontext()):
        return _run_selected(paths, Path(results), probe_names, seed_list, job, listener, started, write_board, bad,
                             jobs)


def _run_selected(
    paths: Sequence[Path], results: Path, probe_names: Sequence[str], seed_list: Sequence[int], job: RunJob,
    listener: RunListener, started: float, write_board: bool = True, found_issues: Sequence[CacheIssue] = (),
    jobs: int = 1,
) -> RunSummary:
    """Plan every selected cache, then train cache by cache (see :func:`run_all`)."""
    protocol, classes, train, force = job.protocol, job.classes, job.config, job.force
    splits: dict[tuple[Any, ...], Split] = {}
    plans: list[tuple[FeatureCache, list[RunSpec]]] = []
    issues: list[CacheIssue] = list(found_issues)
    for path in paths:
        try:
            cache = FeatureCache(path)
        except (CacheError, OSError) as exc:
            issues.append(CacheIssue(path, str(exc)))
            continue
        problem = label_problem(cache.utterances, classes, protocol)
        if problem is not None:
            issues.append(CacheIssue(path, f"{cache.corpus}: {problem}"))
            cache.close()
            continue
        try:
            plans.append((cache, plan_cache(cache, results, probe_names, seed_list, protocol, job.folds, classes,
                                            train, job.split_seed, splits)))
        except (SplitError, ValueError) as exc:
            issues.append(CacheIssue(path, f"{cache.corpus}: {exc}"))
            cache.close()
    outcomes: list[RunOutcome] = []
    notes = left_out_notes(probe_names, [c for c, _ in plans]) + other_configurations(
        [s for _, specs in plans for s in specs])
    status = [[_status(s, force) for s in specs] for _, specs in plans]
    pending = sum(flags.count("todo") for flags in status)
    listener.planned(sum(len(s) for _, s in plans), pending, issues)
    work: list[tuple[FeatureCache, list[RunSpec]]] = []
    for (cache, specs), flags in zip(plans, status, strict=True):
        for spec, flag in zip(specs, flags, strict=True):
            if flag == "todo":
                continue
            outcome = (RunOutcome(spec, "skipped", message="recorded with the same config hash") if flag == "done"
                       else RunOutcome(spec, "conflict", message=(
                           f"{spec.path} holds a record of this configuration made on another split or cache "
                           "(its config hash differs); kept. Use --force to replace it")))
            outcomes.append(outcome)
            listener.finished(outcome)
        todo = [s for s, flag in zip(specs, flags, strict=True) if flag == "todo"]
        if todo:
            work.append((cache, todo))
            damage = unread_damage_note(cache, {s.probe for s in todo})  # frames no probe here reads
            notes += [damage] if damage else []
    try:
        if jobs > 1 and len(work) > 1:
            outcomes.extend(run_caches_in_parallel([(c.path, todo) for c, todo in work], train, job.memory_budget,
                                                   listener, min(jobs, len(work))))
        else:
            for cache, todo in work:
                outcomes.extend(run_cache(cache, todo, train, job.memory_budget, listener))
    finally:
        for cache, _ in plans:
            cache.close()
    # cluster tasks pass write_board=False: the submitting process rebuilds the board once, never concurrently
    board = write_leaderboard(results)[0] if write_board and (results / "runs").is_dir() else None
    return RunSummary(outcomes, issues, board, time.perf_counter() - started, notes)


def _status(spec: RunSpec, force: bool) -> str:
    """``done`` (recorded with this hash), ``conflict`` (another record at this path) or ``todo``."""
    if force:
        return "todo"
    found = recorded_hash(spec.path)
    if found == spec.config_hash and is_done(spec.path, spec.config_hash):
        return "done"
    return "conflict" if found is not None and found != spec.config_hash else "todo"


def other_configurations(specs: Sequence[RunSpec]) -> list[str]:
    """One line per (corpus, model, probe) that also has records of other configurations: they are kept and
    shown as separate leaderboard rows, never mixed with these runs."""
    lines = []
    seen: set[Path] = set()
    for spec in specs:
        own = spec.path.parent
        probe_dir = own.parent
        if probe_dir in seen or not probe_dir.is_dir():
            continue
        seen.add(probe_dir)
        others = sorted(d.name for d in probe_dir.iterdir()
                        if d.is_dir() and d != own and any(d.glob("seed*.json")))
        if others:
            lines.append(f"{spec.corpus}/{spec.model}/{spec.probe}: records of {len(others)} other "
                         f"configuration(s) kept as separate rows ({', '.join(others)})")
    return lines
