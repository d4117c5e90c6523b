"""Figures of one run: confusion matrix, per-class F1, one-vs-rest ROC curves and a 2-D map of the test embeddings.

Everything comes from the record (``classes``, ``metrics.test``, ``predictions``) and its ``.npz`` sidecar
(``ids``, ``embeddings``: the probe's pooled test representation, the input of its classifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import seaborn as sns
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.metrics import auc, roc_curve

from probe.report.load import Run
from probe.report.naming import file_safe, probe_label
from probe.report.plotting import (
    CONFUSION_CMAP,
    FORMATS,
    LINESTYLES,
    MARKERS,
    new_figure,
    palette,
    report_style,
    save_figure,
)

TSNE_MIN_POINTS = 100
"""Below this many test clips the embedding map uses PCA (t-SNE needs several times its perplexity of points)."""


def run_folder(run: Run, figures: Path) -> Path:
    """``figures/runs/<corpus>/<model>/<probe>-<protocol>-<classes>-seed<k>[-fold<f>]``."""
    fold = f"-fold{run.fold}" if run.protocol == "kfold" else ""
    name = f"{run.probe}-{run.protocol}-{run.class_set}-seed{run.seed}{fold}"
    return figures / "runs" / file_safe(run.corpus) / file_safe(run.model) / name


def _subtitle(run: Run) -> str:
    return f"{run.corpus} · {run.model} · {probe_label(run.probe)} · seed {run.seed} · macro-F1 {run.macro_f1:.1f}%"


def confusion_figure(run: Run, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Confusion matrix normalised by true class (rows sum to 1), each cell annotated with share and count."""
    classes = run.classes
    counts = np.asarray(run.test["confusion"], dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    text = np.array([[f"{s:.2f}\n({int(c)})" for s, c in zip(srow, crow)] for srow, crow in zip(share, counts)])
    size = 1.0 + 0.85 * len(classes)
    with report_style():
        fig = new_figure(size + 1.6, size + 0.6)
        ax = fig.add_subplot()
        sns.heatmap(share, ax=ax, cmap=CONFUSION_CMAP, vmin=0.0, vmax=1.0, annot=text, fmt="", square=True,
                    annot_kws={"fontsize": 8 if len(classes) > 6 else 9}, linewidths=0.5, linecolor="white",
                    xticklabels=classes, yticklabels=classes,
                    cbar_kws={"label": "share of the true class", "shrink": 0.8})
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"Confusion matrix (normalised by true class)\n{_subtitle(run)}", loc="left",
                     fontsize="medium")
        return save_figure(fig, stem, formats)


def per_class_figure(run: Run, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Horizontal bars of test F1 per class, with the macro-F1 as a dashed line."""
    classes = run.classes
    raw = [run.test["per_class_f1"].get(c) for c in classes]  # None: class neither in the test set nor predicted
    colour = palette(1)[0]
    with report_style():
        fig = new_figure(6.4, 1.3 + 0.42 * len(classes))
        ax = fig.add_subplot()
        y = np.arange(len(classes))
        ax.barh(y, [0.0 if v is None else float(v) for v in raw], color=colour, height=0.65)
        for yi, value in zip(y, raw):
            if value is None:
                ax.text(1.5, yi, "n/a (absent from the test set)", va="center", fontsize=9, color="dimgrey")
                continue
            inside = value >= 18.0
            ax.text(value - 1.5 if inside else value + 1.5, yi, f"{value:.1f}", va="center",
                    ha="right" if inside else "left", color="white" if inside else "black", fontsize=9)
        ax.axvline(run.macro_f1, color="black", linestyle="--", linewidth=1.2)
        ax.set_yticks(y, classes)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("test F1 (%); dashed line: macro-F1")
        ax.set_title(f"Per-class F1\n{_subtitle(run)}", loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def roc_data(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """One-vs-rest ROC of each class with both positives and negatives in the test set: (fpr, tpr, AUC)."""
    classes = run.classes
    true = np.asarray(run.data["predictions"]["true"])
    proba = np.asarray(run.data["predictions"]["proba"], dtype=float)
    curves = {}
    for i, label in enumerate(classes):
        positive = true == label
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, proba[:, i])
        curves[label] = (fpr, tpr, float(auc(fpr, tpr)))
    return curves


def roc_figure(run: Run, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One-vs-rest ROC curves with their AUC, and the macro-average AUC in the title."""
    curves = roc_data(run)
    colours = palette(len(run.classes))
    with report_style():
        fig = new_figure(6.8, 5.0)
        ax = fig.add_subplot()
        for i, label in enumerate(run.classes):
            if label not in curves:
                continue
            fpr, tpr, area = curves[label]
            ax.plot(fpr, tpr, color=colours[i], linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6,
                    label=f"{label} (AUC {area:.2f})")
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="chance")
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.set_aspect("equal")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        macro = np.mean([c[2] for c in curves.values()]) if curves else float("nan")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), title="one vs rest")
        ax.set_title(f"ROC, one vs rest (macro AUC {macro:.2f})\n{_subtitle(run)}", loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def embedding_2d(embeddings: np.ndarray, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D coordinates of ``embeddings`` by ``pca``, ``tsne`` or ``auto`` (t-SNE from
    :data:`TSNE_MIN_POINTS` points, else PCA); returns the coordinates and the method used."""
    x = np.asarray(embeddings, dtype=np.float64)
    if method == "auto":
        method = "tsne" if len(x) >= TSNE_MIN_POINTS else "pca"
    if method == "pca":
        n = min(2, x.shape[0], x.shape[1])
        coords = PCA(n_components=n, random_state=seed).fit_transform(x)
        if n < 2:
            coords = np.column_stack([coords, np.zeros((len(coords), 2 - n))])
        return coords, "PCA"
    if method == "tsne":
        perplexity = float(min(30.0, max(5.0, (len(x) - 1) / 3)))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        return coords, "t-SNE"
    raise ValueError(f"method must be auto, pca or tsne, got {method!r}")


def embedding_figure(run: Run, stem: Path, formats: Sequence[str] = FORMATS, method: str = "auto") -> list[Path]:
    """Scatter of the test embeddings in 2-D, coloured (and shaped) by true class; [] without a sidecar or with
    fewer than three embedded clips."""
    if not run.sidecar.is_file():
        return []
    with np.load(run.sidecar, allow_pickle=False) as npz:
        ids = [str(i) for i in npz["ids"]]
        emb = np.asarray(npz["embeddings"])
    if emb.ndim != 2 or emb.shape[1] == 0 or len(emb) < 3:
        return []
    truth = dict(zip(map(str, run.data["predictions"]["id"]), run.data["predictions"]["true"]))
    labels = np.array([truth.get(i, "?") for i in ids])
    coords, used = embedding_2d(emb, method, seed=run.seed)
    classes = [c for c in run.classes if c in set(labels)] + sorted(set(labels) - set(run.classes))
    colours = palette(len(classes))
    with report_style():
        fig = new_figure(6.8, 5.0)
        ax = fig.add_subplot()
        for i, label in enumerate(classes):
            points = coords[labels == label]
            ax.scatter(points[:, 0], points[:, 1], s=22, color=colours[i], marker=MARKERS[i % len(MARKERS)],
                       alpha=0.85, edgecolors="white", linewidths=0.3, label=label)
        ax.set_xlabel(f"{used} 1")
        ax.set_ylabel(f"{used} 2")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(title="true class", loc="center left", bbox_to_anchor=(1.02, 0.5))
        ax.set_title(f"Test embeddings ({used}, {len(ids)} clips, input of the classifier)\n{_subtitle(run)}",
                     loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def run_figures(run: Run, figures: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """All four figures of a run under :func:`run_folder` (the embedding map only when the sidecar exists)."""
    folder = run_folder(run, figures)
    return (confusion_figure(run, folder / "confusion", formats)
            + per_class_figure(run, folder / "per_class_f1", formats)
            + roc_figure(run, folder / "roc", formats)
            + embedding_figure(run, folder / "embedding", formats))
