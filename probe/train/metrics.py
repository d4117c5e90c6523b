"""Classification metrics of a probe (scikit-learn), in the run record's shape: percentages, per class, confusion.

* ``macro_f1``: unweighted mean of the per-class F1 over the classes present in the true or predicted labels
  (scikit-learn's default label set), the headline number;
* ``uar``: unweighted average recall (balanced accuracy: the mean recall over the classes present in the truth);
* ``accuracy``, ``weighted_f1`` (F1 weighted by true-class support);
* ``per_class_f1``: ``{label: percent}`` for every class of the run, ``None`` for a class that is neither in the
  truth nor predicted (its F1 is undefined);
* ``confusion``: counts, rows true, columns predicted, in class order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

HEADLINE = "macro_f1"


def _percent(value: float) -> float:
    return round(100.0 * float(value), 4)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 in percent (0 for an empty set)."""
    if len(y_true) == 0:
        return 0.0
    return _percent(f1_score(y_true, y_pred, average="macro", zero_division=0))


def selection_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """:func:`macro_f1` without scikit-learn's input checks (about a seventh of the pooled Linear
    probe's training time went to them, measured): the same float64 operations in the same order (per class over
    the labels present, 2·tp / (true + predicted), then their NaN-aware mean, in percent rounded to 4 places), so
    the same value to the last bit (tested); the epoch selection compares these values."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        return 0.0
    labels = np.union1d(y_true, y_pred)
    size = int(labels[-1]) + 1
    tp = np.bincount(y_true[y_true == y_pred], minlength=size)[labels].astype(np.float64)
    denom = np.bincount(y_true, minlength=size)[labels].astype(np.float64) + np.bincount(
        y_pred, minlength=size)[labels].astype(np.float64)
    return round(100.0 * float(np.nanmean((2.0 * tp) / denom)), 4)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Every metric of the record for integer labels ``y_true``/``y_pred`` indexing ``classes``."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    k = len(classes)
    labels = list(range(k))
    if len(y_true) == 0:
        return {
            "macro_f1": 0.0, "uar": 0.0, "accuracy": 0.0, "weighted_f1": 0.0,
            "per_class_f1": {c: None for c in classes}, "confusion": [[0] * k for _ in range(k)],
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "y_pred contains classes not in y_true"
        uar = balanced_accuracy_score(y_true, y_pred)
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    seen = set(y_true.tolist()) | set(y_pred.tolist())
    return {
        "macro_f1": macro_f1(y_true, y_pred),
        "uar": _percent(uar),
        "accuracy": _percent(accuracy_score(y_true, y_pred)),
        "weighted_f1": _percent(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        "per_class_f1": {c: (_percent(per_class[i]) if i in seen else None) for i, c in enumerate(classes)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).astype(int).tolist(),
    }
