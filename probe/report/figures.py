"""Figures over many runs: the layer-wise Linear-probe curves (absolute layers, and relative depth l/L when models
differ in depth, as defined in :mod:`probe.report.layer_weights`, which draws the Multi-Layer layer-weight
heatmaps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from probe.report.layer_weights import relative_depth
from probe.report.load import Run
from probe.report.naming import group_label, order_models
from probe.report.plotting import (
    FORMATS,
    LINESTYLES,
    MARKERS,
    new_figure,
    palette,
    report_style,
    save_figure,
)

CurveDrawer = Callable[[Axes, pd.DataFrame, object, int], None]
"""Draws one corpus's curve on a panel: ``(axes, that corpus's rows, colour, corpus index)``."""


def _corpora(n: int) -> str:
    return "1 corpus" if n == 1 else f"{n} corpora"


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
