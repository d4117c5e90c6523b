"""Baselines that give the frozen models' numbers their meaning, run through the ordinary runner (splits, seeds,
records, tables): models trained from scratch on ``logmel-128`` caches, and classic classifiers on pooled vectors
(eGeMAPS functionals above all).

============  ================  =================================================================================
probe         cache             what and how (every setting is recorded in the run's ``config``)
============  ================  =================================================================================
ast           logmel-128        AST (12 × 768) trained from scratch, the paper's Table 3 baseline
ast-small     logmel-128        the same with 2 blocks × 64 (named as such everywhere): a CPU-sized AST
cnn           logmel-128        AlexNet-style CNN (5 conv + 3 FC, ReLU), the seed comparison's spectrogram CNN
logreg        any (pooled)      logistic regression on train-standardised pooled vectors, C chosen on validation
svm           any (pooled)      linear SVM, the same way
============  ================  =================================================================================

The Linear probe on an ``egemaps`` cache (pooled/mean holds the 88 functionals) is the ordinary ``linear`` head.

Training settings of the from-scratch models. The paper trains its AST "with the same hyperparameters as" the AST
paper; the AST paper's from-scratch setting is: Adam, lr 2.5e-4, batch 128, 30 epochs, frequency and time masking.
Taken from the AST code where the paper is silent: betas (0.95, 0.999), weight decay 5e-7, masks freqm 24 and timem
96 (its ESC-50 recipe, clips of a few seconds like these corpora), no mixup, target length covering the clips (here
the longest clip of the run's rows, capped at 1024 frames = 10.24 s, AST's AudioSet length), and a constant learning
rate (the corpora are too small for AST's per-epoch decay to start). The CNN uses the same input handling, Adam lr
1e-4, weight decay 5e-4, batch 32, dropout 0.5 (AlexNet's). Model selection is the runner's: best validation
macro-F1 over the epochs. Class weighting of the loss follows the training preset, like every other probe.
``epochs``, ``batch_size`` and ``lr`` given explicitly by the user (listed in the preset's overrides) win.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np
import torch

from extract.cache import FeatureCache
from probe.data.feeds import PooledFeed
from probe.train.config import TrainConfig
from probe.train.fit import fit_probe
from probe.train.heads import PROBES, BaselineHead, ReferenceClassifier
from probe.train.loop import Outputs
from probe.train.loop import TrainResult
from probe.train.metrics import macro_f1
from probe.train.scratch_heads import AST_SIZES, ASTHead, ASTSize, CNNSize, SpectrogramCNNHead

SCRATCH: dict[str, dict[str, Any]] = {
    "ast": dict(epochs=30, batch_size=128, lr=2.5e-4, weight_decay=5e-7, betas=(0.95, 0.999), eps=1e-8,
                scheduler="none", standardize=False, dropout=0.0),
    "cnn": dict(epochs=30, batch_size=32, lr=1e-4, weight_decay=5e-4, betas=(0.9, 0.999), eps=1e-8,
                scheduler="none", standardize=False, dropout=0.5),
}
SCRATCH["ast-small"] = SCRATCH["ast"]
INPUT: dict[str, int] = {"freqm": 24, "timem": 96, "max_frames": 1024}
"""Input handling of the from-scratch models (AST's masks and length cap)."""

USER_SETTINGS: tuple[str, ...] = ("epochs", "batch_size", "lr")
"""Settings a user's explicit override (``TrainConfig.overrides``) sets for the baselines too."""

C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
"""Inverse regularisation strengths tried by the scikit-learn references; the best on validation is kept."""

SPECTROGRAM_FAMILY = "spectrogram"


def is_baseline(probe: str) -> bool:
    """Whether ``probe`` is one of this module's baselines (it trains with its own settings)."""
    return probe in PROBES and issubclass(PROBES[probe].cls, BaselineHead)


def is_reference(probe: str) -> bool:
    """Whether ``probe`` is a scikit-learn reference classifier (on pooled vectors)."""
    return probe in PROBES and issubclass(PROBES[probe].cls, ReferenceClassifier)


SEVERAL_STATES: tuple[str, ...] = ("multilayer",)
"""Probes that learn how to mix a model's states: meaningless (and shape errors) on a one-state cache."""


def not_applicable(probe: str, attrs: dict[str, Any]) -> str | None:
    """Why ``probe`` cannot run on a cache with these attributes, or ``None`` when it can."""
    if probe in SCRATCH and attrs.get("family") != SPECTROGRAM_FAMILY:
        return f"{probe} trains on log-mel frames: it needs a logmel-128 cache, not {attrs.get('model')!r}"
    states = int(attrs.get("n_layers", 0) or 0)
    if probe in SEVERAL_STATES and 0 < states < 2:
        return (f"{probe} learns weights over a model's states, and {attrs.get('model')!r} caches {states} state; "
                "use linear, nonlinear or attention on it")
    return None


def left_out_notes(probes: Sequence[str], caches: Sequence[FeatureCache]) -> list[str]:
    """One line per requested probe that some caches cannot run (:func:`not_applicable`), naming those caches
    and the reason: the runner leaves such probes out of those caches' plans."""
    notes = []
    for probe in probes:
        refused = [(c, reason) for c in caches if (reason := not_applicable(probe, c.attrs)) is not None]
        if refused:
            names = ", ".join(f"{c.corpus}/{c.model}" for c, _ in refused)
            notes.append(f"{probe} not run on {names}: {refused[0][1]}")
    return notes


def applicable_probes(probes: Sequence[str], cache: FeatureCache) -> list[str]:
    """The probes that can run on ``cache``; ``ValueError`` naming the reasons when none can."""
    kept = [p for p in probes if not_applicable(p, cache.attrs) is None]
    if not kept:
        reasons = "; ".join(str(not_applicable(p, cache.attrs)) for p in probes)
        raise ValueError(f"no selected probe applies to {cache.path}: {reasons}")
    return kept


def scratch_train_config(probe: str, train: TrainConfig) -> TrainConfig:
    """The training settings of a from-scratch model: its own, except ``epochs``/``batch_size``/``lr`` that the
    user set explicitly; the preset's loss weighting and device are kept."""
    own = {k: v for k, v in SCRATCH[probe].items() if not (k in USER_SETTINGS and k in train.overrides)}
    return replace(train, **own)


def baseline_config(probe: str, train: TrainConfig) -> dict[str, Any]:
    """The settings a baseline run records (before the parts that depend on the data, added after training)."""
    if probe in SCRATCH:
        config = scratch_train_config(probe, train).as_dict()
        config["baseline"] = "trained from scratch"
        config["input_handling"] = {**INPUT, "target_frames": "longest clip of the run's rows, capped at max_frames",
                                    "normalisation": "(x - mean) / (2 std), one mean and std from training frames",
                                    "masking": "one frequency band [0, freqm) and one time span [0, timem) per clip"}
        config["size"] = asdict(AST_SIZES[probe]) if probe in AST_SIZES else asdict(CNNSize())
        return config
    return {"baseline": "classic classifier", "classifier": _classifier_name(probe), "C_grid": list(C_GRID),
            "standardize": True, "standardize_fitted_on": "train", "class_weights": train.class_weights,
            "selection": "val_macro_f1 over C_grid", "selection_ties": "smaller C", "preset": train.preset,
            "overrides": list(train.overrides), "device": "cpu"}


def _classifier_name(probe: str) -> str:
    return "sklearn.linear_model.LogisticRegression" if probe == "logreg" else "sklearn.svm.LinearSVC"


def fit_baseline(
    probe: str, feed: Any, labels: np.ndarray, parts: dict[str, np.ndarray], n_classes: int,
    train: TrainConfig, seed: int, size: ASTSize | CNNSize | None = None,
) -> tuple[TrainResult, dict[str, Any]]:
    """Train baseline ``probe`` on ``feed`` (frames for the from-scratch models, :class:`PooledFeed` for the
    references); returns the result and the data-dependent settings to add to the record's ``config``.
    ``size`` replaces the registered architecture (tests use tiny ones); the input width is the feed's."""
    if is_reference(probe):
        return fit_reference(probe, feed, labels, parts, n_classes, train, seed)
    config = scratch_train_config(probe, train)
    dim = feed.shape[1]
    lengths = np.asarray(feed.lengths, dtype=np.int64)
    rows = np.concatenate([np.asarray(parts[p], dtype=np.int64) for p in ("train", "val", "test")])
    longest = int(lengths[rows].max())
    target = max(16, min(longest, INPUT["max_frames"]))
    mean_d, std_d = feed.stats(np.asarray(parts["train"], dtype=np.int64))
    mean_d, std_d = mean_d.double().flatten(), std_d.double().flatten()
    mean = float(mean_d.mean())
    std = float(((std_d**2 + mean_d**2).mean() - mean**2).clamp(min=0).sqrt())
    torch.manual_seed(seed)
    if probe in AST_SIZES:
        arch = size if isinstance(size, ASTSize) else AST_SIZES[probe]
        head: ASTHead | SpectrogramCNNHead = ASTHead(dim, n_classes, target, arch, INPUT["freqm"], INPUT["timem"])
    else:
        arch_cnn = size if isinstance(size, CNNSize) else CNNSize()
        head = SpectrogramCNNHead(dim, n_classes, target, arch_cnn, INPUT["freqm"], INPUT["timem"])
    head.input.set(mean, std)
    result = fit_probe(probe, feed, labels, parts, n_classes, config, seed, head=head)
    extra = {
        "input": {"target_frames": target, "longest_clip_frames": longest,
                  "n_clips_cut": int((lengths[rows] > target).sum()),
                  "normalisation_mean": round(mean, 6), "normalisation_std": round(std, 6), "fitted_on": "train"},
        "model": head.describe(),
    }
    return result, extra


class _Fitted:
    """What the runner reads from a fitted reference classifier (no layer weights)."""

    def layer_weights(self) -> None:
        return None


def fit_reference(
    probe: str, feed: PooledFeed, labels: np.ndarray, parts: dict[str, np.ndarray], n_classes: int,
    train: TrainConfig, seed: int,
) -> tuple[TrainResult, dict[str, Any]]:
    """Standardise with training statistics, fit for each C of :data:`C_GRID`, keep the best on validation
    macro-F1 (ties: the smaller C); logits are log-probabilities (logreg) or decision values (svm)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    started = time.perf_counter()
    x = feed.vectors.numpy().astype(np.float64)
    y = np.asarray(labels, dtype=np.int64)
    tr, va, te = (np.asarray(parts[p], dtype=np.int64) for p in ("train", "val", "test"))
    scaler = StandardScaler().fit(x[tr])
    z = scaler.transform(x)
    weight = "balanced" if train.class_weights else None
    best: tuple[float, float, Any] | None = None
    scores = []
    for c in C_GRID:
        if probe == "logreg":
            clf: Any = LogisticRegression(C=c, max_iter=5000, class_weight=weight, random_state=seed)
        else:
            clf = LinearSVC(C=c, class_weight=weight, random_state=seed, max_iter=20000)
        clf.fit(z[tr], y[tr])
        f1 = macro_f1(y[va], clf.predict(z[va])) if len(va) else 0.0
        scores.append(f1)
        if best is None or f1 > best[0]:
            best = (f1, c, clf)
    assert best is not None
    _, chosen, clf = best

    def logits(rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), n_classes), -1e9, dtype=np.float64)
        raw = clf.predict_log_proba(z[rows]) if probe == "logreg" else clf.decision_function(z[rows])
        if raw.ndim == 1:  # binary LinearSVC: one decision value for classes_[1]
            raw = np.stack([-raw, raw], axis=1)
        out[:, clf.classes_] = raw
        return out[:, None, :].astype(np.float32)

    val = Outputs(va, logits(va))
    test = Outputs(te, logits(te), z[te][:, None, :].astype(np.float32))
    curves: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "val_loss": [], "val_macro_f1": [], "lr": []}
    result = TrainResult(_Fitted(), [0], curves, val, test, time.perf_counter() - started,  # type: ignore[arg-type]
                         {"applied": True, "statistics": "pooled vectors", "fitted_on": "train"})
    extra = {"C": chosen, "val_macro_f1_by_C": [round(s, 4) for s in scores]}
    return result, extra
