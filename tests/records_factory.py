"""Hand-made run records that follow ``docs/run-record.md`` (schema ``ser-probe-run/2``), for the report tests.

:func:`make_record` builds one record with predictions, metrics, curves and (per probe) layer weights or a
layer-wise curve; ``macro_f1=`` pins the top-level test macro-F1 to a known number. :func:`planted_record`
builds only what the bootstrap reads, with a planted per-speaker accuracy. :func:`write_record` stores it
(and its ``.npz`` sidecar of test embeddings) at the path the schema prescribes. :func:`write_results` writes a
realistic grid of corpora × models × probes × seeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from probe.results.records import config_id, record_path, sidecar_path
from probe.results.records import write_record as save_record

MODELS: dict[str, dict[str, Any]] = {
    "wav2vec2-base": dict(family="wav2vec2", pretraining="self-supervised", languages="en",
                          checkpoint="facebook/wav2vec2-base", n_layers=13, dim=768),
    "wav2vec2-large": dict(family="wav2vec2", pretraining="self-supervised", languages="en",
                           checkpoint="facebook/wav2vec2-large-lv60", n_layers=25, dim=1024),
    "whisper-small.en": dict(family="whisper", pretraining="weakly supervised", languages="en",
                             checkpoint="small.en", n_layers=13, dim=768),
    "whisper-tiny.en": dict(family="whisper", pretraining="weakly supervised", languages="en",
                            checkpoint="tiny.en@ct2", n_layers=5, dim=384),
    "xls-r-300m": dict(family="wav2vec2", pretraining="self-supervised", languages="multi",
                       checkpoint="facebook/wav2vec2-xls-r-300m", n_layers=25, dim=1024),
    "whisper-small": dict(family="whisper", pretraining="weakly supervised", languages="multi",
                          checkpoint="small", n_layers=13, dim=768),
    "whisper-medium": dict(family="whisper", pretraining="weakly supervised", languages="multi",
                           checkpoint="medium", n_layers=25, dim=1024),
}

CORPORA: dict[str, tuple[str, tuple[str, ...]]] = {
    "emodb": ("de", ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")),
    "cafe": ("fr-CA", ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")),
    "aesdd": ("el", ("anger", "disgust", "fear", "happiness", "sadness")),
    "eyase": ("ar-EG", ("anger", "happiness", "neutral", "sadness")),
    "synthetic": ("multi", ("anger", "happiness", "neutral", "sadness")),
}

FOUR = ("anger", "happiness", "neutral", "sadness")  # the classes of planted records
HIDDEN = 32  # width of the sidecar embeddings (the probe's m; 256 in the paper, smaller here to keep files light)


def _seed_of(*parts: object) -> int:
    return int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def peak_weights(n_states: int, depth: float, width: float = 0.15, noise: float = 0.0, seed: int = 0) -> list[float]:
    """Softmax weights over ``n_states`` states peaking at relative depth ``depth`` (0 = first, 1 = last)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n_states)
    logits = -((x - depth) ** 2) / (2 * width**2) * 0.5 + noise * rng.standard_normal(n_states)
    w = np.exp(logits - logits.max())
    return (w / w.sum()).tolist()


def _metrics(classes: list[str], true: list[str], pred: list[str]) -> dict[str, Any]:
    f1 = f1_score(true, pred, labels=classes, average=None, zero_division=0)
    return {
        "macro_f1": 100 * float(np.mean(f1)),
        "uar": 100 * float(recall_score(true, pred, labels=classes, average="macro", zero_division=0)),
        "accuracy": 100 * float(accuracy_score(true, pred)),
        "weighted_f1": 100 * float(f1_score(true, pred, labels=classes, average="weighted", zero_division=0)),
        "per_class_f1": {c: 100 * float(v) for c, v in zip(classes, f1)},
        "confusion": confusion_matrix(true, pred, labels=classes).tolist(),
    }


def make_record(
    corpus: str,
    model: str,
    probe: str,
    seed: int = 0,
    *,
    macro_f1: float | None = None,
    skill: float = 0.6,
    protocol: str = "holdout",
    class_set: str = "all",
    fold: int = 0,
    n_folds: int = 1,
    n_test: int = 60,
    layer_weights: list[float] | None = None,
    layerwise_f1: list[float] | None = None,
    weights: str = "pretrained",
    preset: str = "paper",
    n_speakers: int = 3,
) -> dict[str, Any]:
    """One run record. Predictions are right with probability ``skill``; the test metrics are computed from
    them, except ``macro_f1`` when given (then the record states exactly that number)."""
    language, classes = CORPORA[corpus]
    classes = sorted(classes)
    spec = MODELS[model]
    rng = np.random.default_rng(_seed_of(corpus, model, probe, seed, fold))
    k = len(classes)
    true_idx = np.arange(n_test) % k
    right = rng.random(n_test) < skill
    pred_idx = np.where(right, true_idx, (true_idx + rng.integers(1, k, n_test)) % k)
    logits = rng.normal(0.0, 1.0, (n_test, k))
    logits[np.arange(n_test), pred_idx] += 2.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ids = [f"{corpus}/utt{i:04d}" for i in range(n_test)]
    true = [classes[i] for i in true_idx]
    pred = [classes[i] for i in pred_idx]
    test = _metrics(classes, true, pred)
    if macro_f1 is not None:
        test["macro_f1"] = float(macro_f1)
    val = _metrics(classes, true, [classes[i] for i in np.roll(pred_idx, 1)])
    epochs = 30
    config = {  # as probe.run.runner.run_config writes it
        "epochs": epochs, "batch_size": 32, "lr": 5e-4, "weight_decay": 1e-4, "betas": [0.9, 0.98], "eps": 1e-8,
        "hidden": 256, "dropout": 0.1, "standardize": preset == "standardized",
        "class_weights": preset == "paper", "scheduler": "plateau" if preset == "paper" else "none",
        "preset": preset, "overrides": [], "device": "cpu",
        "optimizer": "adam", "loss": "cross_entropy", "selection": "val_macro_f1",
        "probe": probe, "seed": seed, "split_seed": seed, "protocol": protocol, "fold": fold, "n_folds": n_folds,
        "class_set": class_set, "classes": classes,
        "layer": "all" if probe in ("multilayer", "layerwise") else spec["n_layers"] - 1,
        "input": "pooled/mean" if probe in ("linear", "layerwise") else "frames",
    }
    speakers = [f"{corpus}-spk{i % n_speakers}" for i in range(n_test)]
    record: dict[str, Any] = {
        "schema": "ser-probe-run/2",
        "corpus": corpus,
        "language": language,
        "model": model,
        "family": spec["family"],
        "pretraining": spec["pretraining"],
        "languages": spec["languages"],
        "probe": probe,
        "protocol": protocol,
        "fold": fold,
        "n_folds": n_folds,
        "seed": seed,
        "classes": classes,
        "preset": preset,
        "overrides": [],
        "config_id": "",
        "config": config,
        "config_hash": hashlib.sha256(f"{corpus}{model}{probe}{seed}{fold}".encode()).hexdigest()[:16],
        "split": {"hash": hashlib.sha256(f"{corpus}{seed}".encode()).hexdigest()[:16], "n_train": 8 * n_test,
                  "n_val": n_test, "n_test": n_test, "speakers_train": 8, "speakers_val": 1, "speakers_test": 1},
        "cache": {
            "file": f"features/{corpus}/{model}.h5", "schema": "ser-probe-cache/1", "corpus": corpus,
            "language": language, "model": model, "family": spec["family"], "pretraining": spec["pretraining"],
            "languages": spec["languages"], "checkpoint": spec["checkpoint"], "weights": weights,
            "n_layers": spec["n_layers"], "dim": spec["dim"],
            "whisper_input": "pad30" if spec["family"] == "whisper" else "", "precision": "fp32",
            "classes": classes, "manifest_hash": "m" + corpus, "created": "2025-01-01T00:00:00",
        },
        "metrics": {"test": test, "val": val, "best_epoch": int(rng.integers(5, epochs))},
        "curves": {
            "epoch": list(range(1, epochs + 1)),
            "train_loss": np.linspace(1.5, 0.4, epochs).round(4).tolist(),
            "val_loss": np.linspace(1.5, 0.9, epochs).round(4).tolist(),
            "val_macro_f1": np.linspace(20, val["macro_f1"], epochs).round(2).tolist(),
        },
        "predictions": {"id": ids, "speaker": speakers, "true": true, "pred": pred, "proba": proba.round(5).tolist()},
        "layer_weights": None,
        "layerwise": None,
        "versions": {"python": "3.12", "torch": "2.5", "ser-probe": "0.1.0"},
        "determinism": {"device_type": "cpu", "deterministic_algorithms": False, "warn_only": False, "cpu_threads": 1},
        "throughput": None,
        "created": "2025-01-02T00:00:00",
        "duration_s": 1.5,
    }
    record["config_id"] = config_id(config, record["cache"])
    if probe == "multilayer":
        record["layer_weights"] = layer_weights or peak_weights(spec["n_layers"], 0.5, seed=seed)
    if probe == "layerwise":
        curve = layerwise_f1 or list(np.linspace(30, 60, spec["n_layers"]))
        best = int(np.argmax(curve))
        record["layerwise"] = {
            "layers": list(range(len(curve))),
            "val_macro_f1": [float(v) + 1.0 for v in curve],
            "test_macro_f1": [float(v) for v in curve],
            "test_uar": [float(v) + 0.5 for v in curve],
            "best_layer": best,
        }
    return record


def planted_record(accuracy: np.ndarray, clips: int, rng: np.random.Generator, seed: int = 0, corpus: str = "c",
                   speakers: bool = True, classes: Sequence[str] = FOUR) -> dict[str, Any]:
    """The part of a record the bootstrap reads (:mod:`probe.results.uncertainty`): ``clips`` test clips per speaker,
    those of speaker ``s`` right with probability ``accuracy[s]`` (wrong: another class drawn at random);
    ``speakers=False`` leaves the speaker column out, as in records written before it existed."""
    n = len(accuracy) * clips
    speaker = np.repeat(np.arange(len(accuracy)), clips)
    true = rng.integers(0, len(classes), n)
    right = rng.random(n) < accuracy[speaker]
    pred = np.where(right, true, (true + rng.integers(1, len(classes), n)) % len(classes))
    predictions = {"id": [f"{corpus}/{i}" for i in range(n)], "true": [classes[i] for i in true],
                   "pred": [classes[i] for i in pred], "proba": []}
    if speakers:
        predictions["speaker"] = [f"{corpus}-s{s}" for s in speaker]
    return {"corpus": corpus, "model": "m", "probe": "linear", "protocol": "holdout", "seed": seed,
            "classes": list(classes), "predictions": predictions}


def path_of(root: Path, record: dict[str, Any]) -> Path:
    """Where the schema puts ``record`` under ``root`` (the results folder)."""
    return record_path(root, record["corpus"], record["model"], record["probe"], record["protocol"],
                       record["config"]["class_set"], record["seed"], record["fold"],
                       f"{record['preset']}-{record['config_id']}")


def write_record(root: Path, record: dict[str, Any], embeddings: bool = True) -> Path:
    """Write ``record`` and its ``.npz`` sidecar with :func:`probe.results.records.write_record`; ``embeddings=False``
    then deletes the sidecar (a record whose embeddings are missing). Returns the record's path."""
    path = path_of(root, record)
    classes = record["classes"]
    rng = np.random.default_rng(_seed_of(path.relative_to(root)))
    centres = rng.normal(0.0, 2.0, (len(classes), HIDDEN))
    idx = np.array([classes.index(t) for t in record["predictions"]["true"]])
    emb = centres[idx] + rng.normal(0.0, 1.5, (len(idx), HIDDEN))
    save_record(path, record, list(record["predictions"]["id"]), emb)
    if not embeddings:
        sidecar_path(path).unlink()
    return path


ScoreFn = Callable[[str, str, str, int], float]


def realistic_score(corpus: str, model: str, probe: str, seed: int) -> float:
    """A plausible macro-F1: a corpus difficulty, a backbone strength, a probe effect and seed noise."""
    difficulty = {"emodb": 80, "cafe": 58, "aesdd": 30, "eyase": 45, "synthetic": 65}[corpus]
    strength = {"wav2vec2-base": -4, "wav2vec2-large": -2, "whisper-small.en": 2, "whisper-tiny.en": -8,
                "xls-r-300m": -12, "whisper-small": 4, "whisper-medium": 5}[model]
    effect = {"linear": 2, "nonlinear": -3, "multilayer": 0, "attention": -1, "layerwise": 3}[probe]
    if MODELS[model]["family"] == "wav2vec2":
        effect = {"linear": -6, "nonlinear": -8, "multilayer": 4, "attention": 0, "layerwise": 1}[probe]
    noise = np.random.default_rng(_seed_of(corpus, model, probe, seed)).normal(0.0, 1.5)
    return float(np.clip(difficulty + strength + effect + noise, 1, 99))


def write_results(
    root: Path,
    corpora: Iterable[str] = ("emodb", "cafe", "aesdd"),
    models: Iterable[str] = ("wav2vec2-base", "whisper-small.en", "whisper-small", "whisper-medium"),
    probes: Iterable[str] = ("linear", "nonlinear", "multilayer", "layerwise"),
    seeds: Iterable[int] = (0, 1, 2),
    score: ScoreFn = realistic_score,
    **kwargs: Any,
) -> list[Path]:
    """Write a grid of records with plausible numbers, layer weights and layer-wise curves; return their paths."""
    paths = []
    for corpus in corpora:
        for model in models:
            n = MODELS[model]["n_layers"]
            peak = 0.45 if MODELS[model]["family"] == "wav2vec2" else 0.85
            for probe in probes:
                for seed in seeds:
                    f1 = score(corpus, model, probe, seed)
                    extra: dict[str, Any] = {}
                    if probe == "multilayer":
                        extra["layer_weights"] = peak_weights(n, peak, noise=0.3, seed=_seed_of(corpus, seed))
                    if probe == "layerwise":
                        x = np.linspace(0, 1, n)
                        bump = f1 - 25 * (x - peak) ** 2 + np.random.default_rng(seed).normal(0, 1.0, n)
                        extra["layerwise_f1"] = np.clip(bump, 0, 100).round(2).tolist()
                    record = make_record(corpus, model, probe, seed, macro_f1=f1, skill=f1 / 100, **extra, **kwargs)
                    paths.append(write_record(root, record))
    return paths


def written_records(results: Path) -> dict[str, dict[str, Any]]:
    """Every run record under ``<results>/runs`` by its relative path, less the fields that record when and how
    long (``created``, ``duration_s``, ``throughput``): what must be equal between two runs of the same work."""
    import json

    out = {}
    for path in sorted((results / "runs").rglob("seed*.json")):
        record = json.loads(path.read_text())
        for key in ("created", "duration_s", "throughput"):
            record.pop(key)
        out[str(path.relative_to(results))] = record
    return out
