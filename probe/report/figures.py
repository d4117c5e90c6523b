"""Figures over many runs: the Multi-Layer layer-weight heatmaps and the layer-wise Linear-probe curves.

Relative depth: when the models of a figure have different numbers of hidden states, state ``l`` of a model with
``L+1`` states (0 = input to the first block, ``L`` = final state) sits at relative depth ``l/L``. Its weight is
split between the two nearest points of the grid 0, 0.1, …, 1 (:data:`DEPTH_BINS` points) in proportion to
proximity (linear, mass-preserving binning), so every model's row still sums to one and a state that falls on a
grid point (state 6 of 13, state 12 of 25: depth 0.5) keeps all of its weight there. The grid is never finer than
the model with the fewest states (5 points for Whisper tiny beside a 13-state model), so no model shows empty bins
that only reflect the binning. With equal state counts the figures show absolute layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from probe.report.load import ReportError, Run
from probe.report.naming import file_safe, group_label, order_models
from probe.report.plotting import (
    FORMATS,
    HEATMAP_CMAP,
    LINESTYLES,
    MARKERS,
    new_figure,
    palette,
    report_style,
    save_figure,
)

DEPTH_BINS = 11
CurveDrawer = Callable[[Axes, pd.DataFrame, object, int], None]
"""Draws one corpus's curve on a panel: ``(axes, that corpus's rows, colour, corpus index)``."""


def _corpora(n: int) -> str:
    return "1 corpus" if n == 1 else f"{n} corpora"


def relative_depth(n_states: int) -> np.ndarray:
    """Relative depth ``l/L`` of each of ``n_states = L+1`` states."""
    if n_states < 1:
        raise ValueError("a model has at least one state")
    return np.zeros(1) if n_states == 1 else np.arange(n_states) / (n_states - 1)


def to_relative_depth(weights: Sequence[float], bins: int = DEPTH_BINS) -> np.ndarray:
    """Move per-state weights onto ``bins`` equally spaced relative depths 0..1, preserving their sum."""
    w = np.asarray(weights, dtype=float)
    position = relative_depth(len(w)) * (bins - 1)
    low = np.floor(position + 1e-9).astype(int)
    frac = np.clip(position - low, 0.0, 1.0)
    high = np.minimum(low + 1, bins - 1)
    out = np.zeros(bins)
    np.add.at(out, low, w * (1.0 - frac))
    np.add.at(out, high, w * frac)
    return out


@dataclass
class LayerWeights:
    """Mean learned layer weights: rows are models, columns layers or relative depths; rows sum to one."""

    matrix: pd.DataFrame
    axis: str  # "layer" or "depth"
    languages: dict[str, str]
    n_corpora: dict[str, int]
    n_runs: dict[str, int]

    def peaks(self) -> dict[str, float]:
        """Per model, the layer (or relative depth) with the most weight."""
        return {m: float(self.matrix.columns[int(np.argmax(row))]) for m, row in self.matrix.iterrows()}


def _depth_density(weights: Sequence[float], bins: int) -> np.ndarray:
    """Binned weights divided by what uniform weights would put in each bin, renormalised to sum to one: the end
    points of the grid collect from one side only, so without this a uniform row would look low at both ends."""
    binned = to_relative_depth(weights, bins)
    coverage = to_relative_depth(np.full(len(weights), 1.0 / len(weights)), bins)
    density = binned / coverage
    return density / density.sum()


def layer_weights(runs: Sequence[Run], corpus: str | None = None, bins: int = DEPTH_BINS) -> LayerWeights | None:
    """Average the Multi-Layer weights over seeds per (corpus, model), then over corpora; ``None`` if none.

    ``corpus`` restricts to one corpus. Records of one model that disagree on the number of weights raise
    :class:`~probe.report.load.ReportError`.
    """
    chosen = [r for r in runs if r.probe == "multilayer" and r.data.get("layer_weights")
              and (corpus is None or r.corpus == corpus)]
    if not chosen:
        return None
    per_cell: dict[tuple[str, str], list[np.ndarray]] = {}
    languages: dict[str, str] = {}
    for r in chosen:
        per_cell.setdefault((r.model, r.corpus), []).append(np.asarray(r.data["layer_weights"], dtype=float))
        languages[r.model] = str(r.data.get("languages", ""))
    per_model: dict[str, list[np.ndarray]] = {}
    n_runs: dict[str, int] = {}
    for (model, _), vectors in per_cell.items():
        if len({len(v) for v in vectors}) > 1:
            raise ReportError(f"{model}: Multi-Layer records disagree on the number of layer weights")
        per_model.setdefault(model, []).append(np.mean(vectors, axis=0))
        n_runs[model] = n_runs.get(model, 0) + len(vectors)
    sizes = {m: {len(v) for v in vs} for m, vs in per_model.items()}
    if any(len(s) > 1 for s in sizes.values()):
        raise ReportError(f"Multi-Layer records of one model have different layer counts across corpora: {sizes}")
    means = {m: np.mean(vs, axis=0) for m, vs in per_model.items()}
    models = order_models({m: languages[m] for m in means})
    if len({len(v) for v in means.values()}) == 1:
        n = len(next(iter(means.values())))
        matrix = pd.DataFrame([means[m] for m in models], index=models, columns=list(range(n)))
        axis = "layer"
    else:
        bins = min(bins, min(len(v) for v in means.values()))  # no finer than the shallowest model: no empty bins
        grid = np.round(np.linspace(0.0, 1.0, bins), 3)
        matrix = pd.DataFrame([_depth_density(means[m], bins) for m in models], index=models, columns=grid)
        axis = "depth"
    return LayerWeights(matrix, axis, {m: languages[m] for m in models},
                        {m: len(per_model[m]) for m in models}, {m: n_runs[m] for m in models})


def plot_layer_weights(data: LayerWeights, title: str, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Heatmap models × layers (or relative depth), viridis, values annotated when there is room."""
    matrix = data.matrix
    n_rows, n_cols = matrix.shape
    annotate = n_cols <= 13
    with report_style():
        fig = new_figure(3.4 + min(0.62 * n_cols, 10.0), max(2.8, 0.55 * n_rows + 1.6))
        ax = fig.add_subplot()
        labels = [f"{m} ({data.languages[m]})" if data.languages[m] else m for m in matrix.index]
        sns.heatmap(
            matrix.to_numpy(), ax=ax, cmap=HEATMAP_CMAP, vmin=0.0, annot=annotate, fmt=".2f",
            annot_kws={"fontsize": 8}, linewidths=0.5, linecolor="white",
            cbar_kws={"label": "mean weight"},
            xticklabels=[f"{c:g}" for c in matrix.columns], yticklabels=labels,
        )
        groups = [data.languages[m] for m in matrix.index]
        for i in range(1, n_rows):
            if groups[i] != groups[i - 1]:
                ax.axhline(i, color="white", linewidth=4)
        ax.set_xlabel("layer (0 = input to the first block)" if data.axis == "layer"
                      else "relative depth l/L (0 = input to the first block, 1 = final state)")
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
        ax.tick_params(axis="x", rotation=0)
        ax.set_title(f"{title}\n(each row sums to 1)", loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def layer_weight_figures(runs: Sequence[Run], folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """The heatmap averaged over corpora (``layer_weights``) and one per corpus (``layer_weights/<corpus>``)."""
    overall = layer_weights(runs)
    if overall is None:
        return []
    corpora = sorted({r.corpus for r in runs if r.probe == "multilayer" and r.data.get("layer_weights")})
    n = max(overall.n_corpora.values())
    paths = plot_layer_weights(
        overall, f"Multi-Layer probe: learned layer weights, mean over {_corpora(n)} and seeds",
        folder / "layer_weights", formats)
    for corpus in corpora:
        data = layer_weights(runs, corpus)
        if data is not None:
            paths += plot_layer_weights(data, f"Multi-Layer layer weights on {corpus} (mean over seeds)",
                                        folder / "layer_weights" / file_safe(corpus), formats)
    return paths


# --------------------------------------------------------------------------------------------- layer-wise curves


def layerwise_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Layer-wise Linear test macro-F1: one row per (model, corpus, seed/fold, layer), with relative depth."""
    rows = []
    for r in runs:
        curve = r.data.get("layerwise") if r.probe == "layerwise" else None
        if not curve:
            continue
        layers = [int(l) for l in curve["layers"]]
        n_states = r.n_states or (max(layers) + 1)
        depth = relative_depth(n_states)
        for layer, f1 in zip(layers, curve["test_macro_f1"]):
            rows.append({"model": r.model, "languages": str(r.data.get("languages", "")), "corpus": r.corpus,
                         "run": (r.seed, r.fold), "layer": layer, "depth": float(depth[layer]),
                         "macro_f1": float(f1), "best_layer": int(curve["best_layer"]),
                         "best_depth": float(depth[int(curve["best_layer"])])})
    return pd.DataFrame(rows, columns=["model", "languages", "corpus", "run", "layer", "depth", "macro_f1",
                                       "best_layer", "best_depth"])


def layerwise_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std (ddof=1, 0 for one run) over seeds/folds per (model, corpus, layer)."""
    grouped = frame.groupby(["model", "languages", "corpus", "layer", "depth"], sort=True)["macro_f1"]
    out = grouped.agg(mean="mean", std=lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0, n="size")
    return out.reset_index()


def plot_layer_panels(frame: pd.DataFrame, stem: Path, formats: Sequence[str], draw: CurveDrawer, title: str,
                      extra_height: float = 0.4, **title_kw: Any) -> list[Path]:
    """One panel per model (three to a row, shared y): a curve per corpus against layer, drawn by
    ``draw(ax, rows, colour, index)`` from that (model, corpus)'s rows of ``frame`` (columns ``model``,
    ``languages``, ``corpus``, ``layer`` and whatever ``draw`` reads); one corpus legend, ``title`` on top."""
    models = order_models(dict(zip(frame["model"], frame["languages"])))
    corpora = sorted(frame["corpus"].unique())
    colours = palette(len(corpora))
    ncols = min(3, len(models))
    nrows = -(-len(models) // ncols)
    with report_style():
        fig = new_figure(4.6 * ncols + 1.8, 3.4 * nrows + extra_height)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
        for ax, model in zip(axes.flat, models):
            part = frame[frame["model"] == model]
            for i, corpus in enumerate(corpora):
                rows = part[part["corpus"] == corpus]
                if not rows.empty:
                    draw(ax, rows, colours[i], i)
            n_states = int(part["layer"].max()) + 1
            ax.set_title(f"{model} ({group_label(part['languages'].iloc[0])})", loc="left", fontsize="medium")
            ax.set_xlabel(f"layer (0 = input, {n_states - 1} = final state)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=7))
            ax.set_xlim(-0.3, n_states - 0.7)
        for ax in axes.flat[len(models):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("test macro-F1 (%)")
        handles, labels = _legend_entries(axes.flat)
        fig.legend(handles, labels, title="corpus", loc="outside right upper")
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold", **title_kw)
        return save_figure(fig, stem, formats)


def _mean_std_curve(ax: Axes, rows: pd.DataFrame, colour: object, i: int) -> None:
    """A corpus's mean macro-F1 per layer, markers on the line, band = ± std over seeds."""
    x, y, s = rows["layer"].to_numpy(), rows["mean"].to_numpy(), rows["std"].to_numpy()
    ax.fill_between(x, y - s, y + s, color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, y, color=colour, marker=MARKERS[i % len(MARKERS)], markersize=4,
            linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6, label=rows["corpus"].iloc[0])


def plot_layerwise_curves(frame: pd.DataFrame, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One panel per model: test macro-F1 against layer, one line per corpus, band = ± std over seeds."""
    return plot_layer_panels(layerwise_summary(frame), stem, formats, _mean_std_curve,
                             "Layer-wise Linear probe: test macro-F1 per layer (mean ± std over seeds)")


def plot_layerwise_depth(frame: pd.DataFrame, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """All models on one axis: test macro-F1 against relative depth l/L, mean over corpora (of the seed means)."""
    summary = layerwise_summary(frame)
    per_model = summary.groupby(["model", "languages", "layer", "depth"], sort=True)["mean"].mean().reset_index()
    models = order_models(dict(zip(per_model["model"], per_model["languages"])))
    colours = palette(len(models))
    with report_style():
        fig = new_figure(7.8, 4.2)
        ax = fig.add_subplot()
        for i, model in enumerate(models):
            part = per_model[per_model["model"] == model]
            x, y = part["depth"].to_numpy(), part["mean"].to_numpy()
            ax.plot(x, y, color=colours[i], marker=MARKERS[i % len(MARKERS)], markersize=4,
                    linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=1.6,
                    label=f"{model} ({part['languages'].iloc[0]})")
        ax.set_xlabel("relative depth l/L (0 = input to the first block, 1 = final state)")
        ax.set_ylabel("test macro-F1 (%)")
        ax.set_xlim(-0.02, 1.02)
        ax.legend(title="backbone", loc="center left", bbox_to_anchor=(1.01, 0.5))
        n = summary["corpus"].nunique()
        ax.set_title(f"Layer-wise Linear probe against relative depth (mean over {_corpora(n)} and seeds)",
                     loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def layerwise_figures(runs: Sequence[Run], folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """``layerwise_curves`` (per model, corpora overlaid) and ``layerwise_depth`` (models overlaid)."""
    frame = layerwise_frame(runs)
    if frame.empty:
        return []
    return (plot_layerwise_curves(frame, folder / "layerwise_curves", formats)
            + plot_layerwise_depth(frame, folder / "layerwise_depth", formats))


def _legend_entries(axes) -> tuple[list, list[str]]:
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen.keys())
