"""Training the pending runs of one cache and writing their records.

:func:`run_cache` reads the cache's data once (:class:`probe.data.CacheData`: frames held in memory are checked for
NaN and inf as they are loaded, streamed ones as they are read), then trains every pending run. When the frames of
a head are streamed and several seeds (or folds) of that head are pending, they are trained side by side
(:func:`probe.sidebyside.fit_side_by_side`) so each epoch's blocks are read once for all of them; each record is
exactly the one the run alone would write (timing aside).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from extract.cache import CacheError, FeatureCache
from extract.guards import SpaceError, space_error
from probe.baselines import fit_baseline, is_baseline
from probe.data import CacheData
from probe.heads import PROBES
from probe.metrics import classification_metrics, macro_f1
from probe.optim import weight_fields
from probe.records import RECORD_SCHEMA, now_iso, versions, write_record
from probe.runspec import RunListener, RunOutcome, RunSpec, model_traits
from probe.sidebyside import fit_side_by_side
from probe.stream import StreamFrames
from probe.train import PooledFeed, TrainConfig, TrainResult, fit_probe, resolve_device


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
    spec: RunSpec, result: TrainResult, cache: FeatureCache, labels: np.ndarray, config: dict[str, Any]
) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """The run record (``docs/run-record.md``), the test ids and the test embeddings ``(n_test, m)``."""
    classes = list(spec.classes)
    ids = cache.utterances["id"].astype(str).to_numpy()
    speakers = cache.utterances["speaker"].astype(str).to_numpy()
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
    record = {
        "schema": RECORD_SCHEMA,
        "corpus": spec.corpus,
        **{k: v for k, v in model_traits(cache.attrs).items() if k == "language"},
        "model": spec.model,
        **{k: v for k, v in model_traits(cache.attrs).items() if k != "language"},
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
        "created": now_iso(),
        "duration_s": round(result.seconds, 3),
    }
    embeddings = result.test.embeddings[:, g] if result.test.embeddings is not None else np.zeros((len(y_test), 0))
    return record, ids[result.test.rows].tolist(), embeddings


_RUN_ERRORS = (CacheError, OSError, MemoryError, ValueError, RuntimeError)
RECORD_KEPT = ("Free some space (or choose another --results) and rerun the same command: the records written are "
               "kept and only the failed runs train")


def write_checked(path: Path, record: dict[str, Any], ids: Sequence[str], embeddings: np.ndarray, what: str) -> None:
    """:func:`probe.records.write_record`; a full disk is raised as :class:`extract.guards.SpaceError` naming the
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


def _labels(data: CacheData, spec: RunSpec) -> np.ndarray:
    index = {c: i for i, c in enumerate(spec.classes)}
    return data.cache.utterances["label"].map(lambda c: index.get(c, -1)).to_numpy(np.int64)


def _write(spec: RunSpec, data: CacheData, result: TrainResult, labels: np.ndarray, config: dict[str, Any],
           started: float) -> RunOutcome:
    record, ids, embeddings = build_record(spec, result, data.cache, labels, config)
    write_checked(spec.path, record, ids, embeddings, f"the record of {spec.label}")
    return RunOutcome(spec, "trained", record["metrics"]["test"]["macro_f1"], time.perf_counter() - started)


def _failed(spec: RunSpec, exc: BaseException) -> RunOutcome:
    return RunOutcome(spec, "failed",
                      message=f"{spec.cache_path} ({spec.probe}, seed {spec.seed}): {failure_reason(exc)}")


def execute_run(spec: RunSpec, data: CacheData, train: TrainConfig) -> RunOutcome:
    """Train one planned run on the cache's shared data and write its record."""
    started = time.perf_counter()
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
        if is_baseline(spec.probe):  # own training settings (probe.baselines), recorded in the config
            result, extra = fit_baseline(spec.probe, feed, labels, spec.parts, data.dim, len(spec.classes), train,
                                         spec.seed)
        else:
            result, extra = fit_probe(spec.probe, feed, labels, spec.parts, data.n_states, data.dim,
                                      len(spec.classes), train, spec.seed), {}
    finally:
        if isinstance(feed, StreamFrames):
            feed.release()
    return _write(spec, data, result, labels, {**spec.config, **extra, "data": mode}, started)


def execute_side_by_side(specs: Sequence[RunSpec], data: CacheData, train: TrainConfig) -> list[RunOutcome]:
    """Train runs of one head (same classes, other seeds or folds) side by side on one read of its streamed
    frames per epoch, and write each record (the same as :func:`execute_run` would, timing aside)."""
    started = time.perf_counter()
    head = PROBES[specs[0].probe]
    feed = data.frames(head.all_states)
    labels = _labels(data, specs[0])
    try:
        if isinstance(feed, StreamFrames):  # every seed's validation rows, read once when they fit
            feed.hold(np.concatenate([s.parts["val"] for s in specs]), train.block_bytes)
        results = fit_side_by_side(specs[0].probe, feed, labels, [s.parts for s in specs], [s.seed for s in specs],
                                   data.n_states, data.dim, len(specs[0].classes), train)
    except _RUN_ERRORS as exc:
        return [_failed(s, exc) for s in specs]
    finally:
        if isinstance(feed, StreamFrames):
            feed.release()
    outcomes = []
    for spec, result in zip(specs, results, strict=True):
        if isinstance(result, BaseException):
            outcomes.append(_failed(spec, result))
            continue
        try:
            outcomes.append(_write(spec, data, result, labels, {**spec.config, "data": feed.mode}, started))
        except _RUN_ERRORS as exc:
            outcomes.append(_failed(spec, exc))
    return outcomes


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
        for spec in group:
            listener.started(spec)
        if len(group) > 1:
            done = execute_side_by_side(group, data, train)
        else:
            try:
                done = [execute_run(group[0], data, train)]
            except _RUN_ERRORS as exc:
                done = [_failed(group[0], exc)]
        for outcome in done:
            outcomes.append(outcome)
            listener.finished(outcome)
    return outcomes
