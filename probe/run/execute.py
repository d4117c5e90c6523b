"""The execute step of every run, in-domain or transfer, and training the pending runs of one cache.

:func:`execute_group` is the one step that turns a group of planned runs trained together into records and
outcomes: it announces them, calls the provider's fit (one training per run, or one shared by several transfer
cells), writes each record (:func:`build_record`, :func:`write_checked`) and reports each outcome. The in-domain
provider is :func:`run_cache`; transfer's is :mod:`probe.run.transfer_run`.

:func:`run_cache` reads the cache's data once (:class:`probe.data.cache_data.CacheData`: frames held in memory are checked for
NaN and inf as they are loaded, streamed ones as they are read), then trains every pending run. When the frames of
a head are streamed and several seeds (or folds) of that head are pending, they are trained side by side
(:func:`probe.train.sidebyside.fit_side_by_side`) so each epoch's blocks are read once for all of them; each record is
exactly the one the run alone would write (timing aside).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from extract.cache import CacheError, FeatureCache
from extract.determinism import determinism_settings
from extract.guards import SpaceError, space_error
from probe.data.cache_data import CacheData
from probe.data.feeds import PooledFeed
from probe.data.stream import StreamFrames
from probe.results.records import RECORD_SCHEMA, now_iso, versions, write_record
from probe.run.spec import RunListener, RunOutcome, RunSpec, model_traits
from probe.train.baselines import fit_baseline, is_baseline
from probe.train.config import TrainConfig, resolve_device
from probe.train.fit import fit_probe
from probe.train.heads import PROBES
from probe.train.loop import TrainResult
from probe.train.metrics import classification_metrics, macro_f1
from probe.train.optim import weight_fields
from probe.train.sidebyside import fit_side_by_side


def pick_group(result: TrainResult, y_val: np.ndarray) -> int:
    """The layer-wise head's best state on validation: highest macro-F1, then lower loss, then lower layer."""
    logits = result.val.logits
    groups = logits.shape[1]
    if groups == 1:
        return 0
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    losses = [-float(log_p[np.arange(len(y_val)), g, y_val].mean()) if len(y_val) else 0.0 for g in range(groups)]
    f1s = [macro_f1(y_val, result.val.pred()[:, g]) for g in range(groups)]
    return min(range(groups), key=lambda g: (-f1s[g], losses[g], g))


def build_record(
    spec: RunSpec, result: TrainResult, table: pd.DataFrame, cache: FeatureCache, labels: np.ndarray,
    config: dict[str, Any],
) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """The run record (``docs/run-record.md``), the test ids and the test embeddings ``(n_test, m)``.

    ``table`` holds the utterances the result's rows index (a cache's own, or every cache of a transfer);
    ``cache`` is the one the record describes (a transfer cell's test domain's). A transfer cell's record ends
    with its ``transfer`` block (:attr:`RunSpec.transfer`, with ``n_test`` and the standardization applied)."""
    classes = list(spec.classes)
    ids = table["id"].astype(str).to_numpy()
    speakers = table["speaker"].astype(str).to_numpy()
    y_val, y_test = labels[result.val.rows], labels[result.test.rows]
    g = pick_group(result, y_val)
    val_pred, test_pred = result.val.pred(), result.test.pred()
    metrics = {
        "test": classification_metrics(y_test, test_pred[:, g], classes),
        "val": classification_metrics(y_val, val_pred[:, g], classes),
        "best_epoch": int(result.best_epoch[g]),
    }
    layerwise = None
    curves = result.curves
    if result.val.logits.shape[1] > 1:
        per_layer = range(result.val.logits.shape[1])
        layerwise = {
            "layers": list(per_layer),
            "val_macro_f1": [macro_f1(y_val, val_pred[:, l]) for l in per_layer],
            "test_macro_f1": [macro_f1(y_test, test_pred[:, l]) for l in per_layer],
            "test_uar": [classification_metrics(y_test, test_pred[:, l], classes)["uar"] for l in per_layer],
            "test_pred": [test_pred[:, l].astype(int).tolist() for l in per_layer],  # for per-layer bootstrap CIs
            "best_layer": g,
        }
        curves = {"epoch": curves["epoch"], **{k: [v[g] for v in curves[k]]
                                                for k in ("train_loss", "val_loss", "val_macro_f1")},
                  "lr": [v[g] if isinstance(v, list) else v for v in curves["lr"]]}
    proba = result.test.proba()[:, g]
    traits = model_traits(cache.attrs)
    record = {
        "schema": RECORD_SCHEMA,
        "corpus": spec.corpus,
        "language": traits["language"] if spec.language is None else spec.language,
        "model": spec.model,
        **{k: v for k, v in traits.items() if k != "language"},
        "probe": spec.probe,
        "protocol": spec.protocol,
        "fold": spec.fold,
        "n_folds": spec.n_folds,
        "seed": spec.seed,
        "classes": classes,
        "preset": config.get("preset", ""),
        "overrides": list(config.get("overrides") or []),
        "config_id": spec.config_id,
        "config": config,
        "config_hash": spec.config_hash,
        "split": spec.split,
        "cache": cache.identity(),
        "metrics": metrics,
        "curves": curves,
        "predictions": {
            "id": ids[result.test.rows].tolist(),
            "speaker": speakers[result.test.rows].tolist(),
            "true": [classes[i] for i in y_test],
            "pred": [classes[i] for i in test_pred[:, g]],
            "proba": np.round(proba.astype(np.float64), 6).tolist(),
        },
        "layer_weights": result.head.layer_weights(),
        **weight_fields(result.head, result.logit_bound),
        "layerwise": layerwise,
        "versions": versions(),
        "determinism": result.determinism or determinism_settings("cpu"),  # fitted outside torch: the CPU's
        "throughput": result.throughput,
        "created": now_iso(),
        "duration_s": round(result.seconds, 3),
    }
    if spec.transfer is not None:
        record["transfer"] = {**spec.transfer, "n_test": int(len(result.test.rows)),
                              "standardization": result.standardization}
    embeddings = result.test.embeddings[:, g] if result.test.embeddings is not None else np.zeros((len(y_test), 0))
    return record, ids[result.test.rows].tolist(), embeddings


_RUN_ERRORS = (CacheError, OSError, MemoryError, ValueError, RuntimeError)
RECORD_KEPT = ("Free some space (or choose another --results) and rerun the same command: the records written are "
               "kept and only the failed runs train")


def write_checked(path: Path, record: dict[str, Any], ids: Sequence[str], embeddings: np.ndarray, what: str) -> None:
    """:func:`probe.results.records.write_record`; a full disk is raised as :class:`extract.guards.SpaceError` naming the
    folder, ``what`` was written and the space a record needs (other ``OSError`` as they are)."""
    try:
        write_record(path, record, ids, embeddings)
    except OSError as exc:
        need = len(json.dumps(record, default=str)) + embeddings.nbytes + sum(len(i) for i in ids)
        raise space_error(exc, path.parent, what, need, RECORD_KEPT) from exc


def failure_reason(exc: BaseException) -> str:
    """A failed run's reason: a full disk's message as it is (it names folder and space), else the error's type
    and message."""
    return str(exc) if isinstance(exc, SpaceError) else f"{type(exc).__name__}: {exc}"


Fitted = list[tuple["TrainResult | BaseException", dict[str, Any]]]
"""What a provider's fit gives back for each run of a group, in order: its result (or why it failed) and the
``config`` its record gets."""


def failed_outcome(spec: RunSpec, exc: BaseException) -> RunOutcome:
    """A run that failed, with its reason (an in-domain run's names its cache, probe and seed; a transfer cell's
    label says them)."""
    where = "" if spec.transfer is not None else f"{spec.cache_path} ({spec.probe}, seed {spec.seed}): "
    return RunOutcome(spec, "failed", message=where + failure_reason(exc))


def execute_group(
    specs: Sequence[RunSpec], fit: Callable[[], Fitted], table: pd.DataFrame,
    caches: Mapping[Path, FeatureCache], labels: np.ndarray, listener: RunListener,
) -> list[RunOutcome]:
    """Train ``specs`` together with ``fit`` and write each one's record (the one execute step of every run).

    ``table`` holds the utterances the results' rows index and ``labels`` their class indices; ``caches`` maps
    each spec's ``cache_path`` to the cache its record describes. A fit that raises fails every run of the group;
    a record that cannot be written fails its own run (a full disk named, :func:`write_checked`)."""
    for spec in specs:
        listener.started(spec)
    started = time.perf_counter()
    try:
        fitted = fit()
    except _RUN_ERRORS as exc:
        fitted = [(exc, spec.config) for spec in specs]
    outcomes = []
    for spec, (result, config) in zip(specs, fitted, strict=True):
        if isinstance(result, BaseException):
            outcome = failed_outcome(spec, result)
        else:
            try:
                record, ids, embeddings = build_record(spec, result, table, caches[spec.cache_path], labels, config)
                write_checked(spec.path, record, ids, embeddings, f"the {'transfer ' if spec.transfer else ''}"
                              f"record of {spec.label}")
                outcome = RunOutcome(spec, "trained", record["metrics"]["test"]["macro_f1"],
                                     time.perf_counter() - started, throughput=result.throughput)
            except _RUN_ERRORS as exc:
                outcome = failed_outcome(spec, exc)
        outcomes.append(outcome)
        listener.finished(outcome)
    return outcomes


def _labels(data: CacheData, spec: RunSpec) -> np.ndarray:
    index = {c: i for i, c in enumerate(spec.classes)}
    return data.cache.utterances["label"].map(lambda c: index.get(c, -1)).to_numpy(np.int64)


def fit_run(spec: RunSpec, data: CacheData, train: TrainConfig) -> Fitted:
    """Train one planned in-domain run on the cache's shared data."""
    head = PROBES[spec.probe]
    if head.frames:
        feed = data.frames(head.all_states)
        mode = feed.mode
    else:
        pooled = data.pooled()
        feed = PooledFeed(pooled if head.all_states else pooled[:, -1])
        mode = "pooled"
    labels = _labels(data, spec)
    if isinstance(feed, StreamFrames):  # validation after every epoch: read once when it fits
        feed.hold(spec.parts["val"], train.block_bytes)
    try:
        if is_baseline(spec.probe):  # own training settings (probe.train.baselines), recorded in the config
            result, extra = fit_baseline(spec.probe, feed, labels, spec.parts, len(spec.classes), train, spec.seed)
        else:
            result, extra = fit_probe(spec.probe, feed, labels, spec.parts, len(spec.classes), train, spec.seed), {}
    finally:
        if isinstance(feed, StreamFrames):
            feed.release()
    return [(result, {**spec.config, **extra, "data": mode})]


def fit_runs_side_by_side(specs: Sequence[RunSpec], data: CacheData, train: TrainConfig) -> Fitted:
    """Train in-domain runs of one head (same classes, other seeds or folds) side by side on one read of its
    streamed frames per epoch (each result the same as :func:`fit_run` would give, timing aside)."""
    head = PROBES[specs[0].probe]
    feed = data.frames(head.all_states)
    labels = _labels(data, specs[0])
    try:
        if isinstance(feed, StreamFrames):  # every seed's validation rows, read once when they fit
            feed.hold(np.concatenate([s.parts["val"] for s in specs]), train.block_bytes)
        results = fit_side_by_side(specs[0].probe, feed, labels, [s.parts for s in specs], [s.seed for s in specs],
                                   len(specs[0].classes), train)
    finally:
        if isinstance(feed, StreamFrames):
            feed.release()
    return [(result, {**spec.config, "data": feed.mode}) for spec, result in zip(specs, results, strict=True)]


def side_by_side_groups(todo: Sequence[RunSpec], data: CacheData) -> list[list[RunSpec]]:
    """``todo`` in order, as groups: the runs of a frame-level head (baselines aside) whose frames are streamed
    form one group per (head, classes); every other run is a group of one."""
    groups: list[list[RunSpec]] = []
    shared: dict[tuple[str, tuple[str, ...]], list[RunSpec]] = {}
    for spec in todo:
        head = PROBES[spec.probe]
        if head.frames and not is_baseline(spec.probe) and data.frames(head.all_states).mode == "stream":
            key = (spec.probe, spec.classes)
            if key not in shared:
                shared[key] = []
                groups.append(shared[key])
            shared[key].append(spec)
        else:
            groups.append([spec])
    return groups


def run_cache(
    cache: FeatureCache, todo: Sequence[RunSpec], train: TrainConfig, memory_budget: int | None,
    listener: RunListener,
) -> list[RunOutcome]:
    """Read the cache's data once, then train every pending run of it (streamed ones side by side)."""
    data = CacheData(cache, memory_budget, device=resolve_device(train.device))
    try:  # NaN/inf in frames are found as they are loaded (pooled means are checked at selection)
        data.prepare(frames_last=any(PROBES[s.probe].frames and not PROBES[s.probe].all_states for s in todo),
                     frames_all=any(PROBES[s.probe].frames and PROBES[s.probe].all_states for s in todo))
    except _RUN_ERRORS as exc:
        failed = [RunOutcome(s, "failed", message=f"reading {cache.path}: {type(exc).__name__}: {exc}") for s in todo]
        for outcome in failed:
            listener.finished(outcome)
        return failed
    outcomes = []
    for group in side_by_side_groups(todo, data):
        fit = ((lambda group=group: fit_runs_side_by_side(group, data, train)) if len(group) > 1
               else (lambda group=group: fit_run(group[0], data, train)))
        outcomes += execute_group(group, fit, data.cache.utterances, {cache.path: cache}, _labels(data, group[0]),
                                  listener)
    return outcomes
