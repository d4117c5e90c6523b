"""Figures with uncertainty: interval bands on the layer-wise curves (and layers that differ significantly from
the final layer), CI error bars on per-corpus bars, and the seed-to-seed spread of the Multi-Layer weights.

* ``layerwise_bands``: per backbone, one line per corpus, the band is the 95% speaker-clustered CI of
  each layer's test macro-F1 pooled over seeds (records need ``layerwise.test_pred``; older ones fall back to the
  ± std band over seeds and say so); a filled marker is a layer whose paired difference from the final layer is
  significant after Holm correction over the layers of its curve.
* ``corpus_bars``: per corpus, each backbone's Table 3 cell with its CI as an error bar.
* ``layer_weight_spread``: models × layers (or relative depth), the standard deviation over seeds of each learned
  layer weight, averaged over corpora: the companion of the mean heatmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from probe.report.figures import plot_layer_panels
from probe.report.layer_weights import record_weights, relative_depth
from probe.report.load import Run, layerwise_cells
from probe.report.naming import order_models
from probe.report.plotting import FORMATS, HEATMAP_CMAP, MARKERS, new_figure, palette, report_style, save_figure
from probe.results.uncertainty import N_RESAMPLES, UncertaintyError, compare_records, holm, interval_of_records

LAYER_COLUMNS = ["model", "languages", "corpus", "layer", "depth", "mean", "ci_low", "ci_high", "band",
                 "diff_vs_final", "p_vs_final", "p_holm"]


def _layer_records(runs: Sequence[Run], layer: int) -> list[dict[str, Any]]:
    """The runs' records with the predictions of ``layer`` in place of the chosen layer's."""
    out = []
    for run in runs:
        lw = run.data["layerwise"]
        classes = run.data["classes"]
        predictions = dict(run.data["predictions"], pred=[classes[i] for i in lw["test_pred"][layer]])
        out.append(dict(run.data, predictions=predictions))
    return out


def layerwise_intervals(runs: Sequence[Run], n_resamples: int = N_RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per (model, corpus, layer): mean, CI (``band`` ``bootstrap``) or ± std over seeds (``std``, for
    records without ``layerwise.test_pred``), and the paired difference from the final layer with its p-values
    (Holm over the layers of each curve)."""
    rows = []
    for (model, corpus), members in layerwise_cells(runs).items():
        curve = members[0].data["layerwise"]
        layers = [int(x) for x in curve["layers"]]
        depth = relative_depth(members[0].n_states or max(layers) + 1)
        bootstrap = all(len(r.data["layerwise"].get("test_pred") or []) == len(layers) for r in members)
        final = _layer_records(members, layers[-1]) if bootstrap else []
        for layer in layers:
            values = [float(r.data["layerwise"]["test_macro_f1"][layer]) for r in members]
            row = {"model": model, "languages": str(members[0].data.get("languages", "")), "corpus": corpus,
                   "layer": layer, "depth": float(depth[layer]), "mean": float(np.mean(values)),
                   "ci_low": np.nan, "ci_high": np.nan, "band": "std", "diff_vs_final": np.nan,
                   "p_vs_final": np.nan}
            spread = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            row["ci_low"], row["ci_high"] = row["mean"] - spread, row["mean"] + spread
            if bootstrap:
                try:
                    recs = _layer_records(members, layer)
                    ci = interval_of_records(recs, n_resamples=n_resamples, seed=seed)
                    row.update(mean=ci["mean"], ci_low=ci["ci_low"], ci_high=ci["ci_high"], band="bootstrap")
                    if layer != layers[-1]:
                        diff = compare_records(recs, final, n_resamples=n_resamples, seed=seed)
                        row.update(diff_vs_final=diff["difference"], p_vs_final=diff["p_value"])
                except UncertaintyError:
                    pass
            rows.append(row)
    frame = pd.DataFrame(rows, columns=LAYER_COLUMNS[:-1])
    frame["p_holm"] = np.nan
    for _, curve in frame.groupby(["model", "corpus"]):  # one family per curve: its layers against its final layer
        frame.loc[curve.index, "p_holm"] = holm(curve["p_vs_final"].to_numpy())
    return frame


def _interval_curve(ax: Axes, rows: pd.DataFrame, colour: object, i: int) -> None:
    """A corpus's macro-F1 per layer with its CI band; filled markers where ``p_holm`` < 0.05."""
    x = rows["layer"].to_numpy()
    mean = rows["mean"].to_numpy()
    ax.fill_between(x, rows["ci_low"], rows["ci_high"], color=colour, alpha=0.18, linewidth=0)
    ax.plot(x, mean, color=colour, linewidth=1.6, label=rows["corpus"].iloc[0])
    significant = (rows["p_holm"] < 0.05).to_numpy()
    marker = MARKERS[i % len(MARKERS)]
    ax.scatter(x[~significant], mean[~significant], s=18, marker=marker, facecolors="white", edgecolors=colour,
               zorder=3)
    ax.scatter(x[significant], mean[significant], s=22, marker=marker, color=colour, zorder=3)


def plot_layerwise_bands(frame: pd.DataFrame, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """One panel per model: test macro-F1 per layer, one line per corpus, band = CI; filled markers: layers
    significantly different from the final layer."""
    band = ("95% speaker-clustered CI" if (frame["band"] == "bootstrap").all()
            else "95% speaker-clustered CI, or ± std over seeds for records without per-layer predictions")
    return plot_layer_panels(frame, stem, formats, _interval_curve,
                             f"Layer-wise Linear probe: band = {band}\nfilled marker = differs from the final layer "
                             "(paired test over speakers, Holm)", extra_height=0.6, fontsize="medium")


def plot_corpus_bars(data: pd.DataFrame, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Grouped bars: corpora on x, one bar per backbone (its Table 3 probe), error bars = 95% CI."""
    models = order_models(dict(zip(data["model"], data["languages"])))
    corpora = list(dict.fromkeys(data["corpus"]))
    colours = palette(len(models))
    width = 0.8 / max(len(models), 1)
    with report_style():
        fig = new_figure(max(5.0, 1.1 * len(corpora) * max(1.0, len(models) / 3) + 2.5), 4.0)
        ax = fig.add_subplot()
        for i, model in enumerate(models):
            part = data[data["model"] == model].set_index("corpus").reindex(corpora)
            x = np.arange(len(corpora)) + (i - (len(models) - 1) / 2) * width
            mean = part["macro_f1_mean"].to_numpy(dtype=float)
            low = np.clip(mean - part["macro_f1_ci_low"].to_numpy(dtype=float), 0, None)
            high = np.clip(part["macro_f1_ci_high"].to_numpy(dtype=float) - mean, 0, None)
            ax.bar(x, mean, width, color=colours[i], label=model,
                   yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]), capsize=2,
                   error_kw={"elinewidth": 1.0})
        ax.set_xticks(np.arange(len(corpora)), corpora)
        ax.set_ylabel("test macro-F1 (%)")
        ax.legend(title="backbone", loc="center left", bbox_to_anchor=(1.01, 0.5))
        ax.set_title("Per corpus: each backbone with its probe (corpus × backbone table)\nerror bars: 95% "
                     "speaker-clustered CI", loc="left", fontsize="medium")
        return save_figure(fig, stem, formats)


def layer_weight_spread(runs: Sequence[Run], bins: int = 11) -> pd.DataFrame | None:
    """Models × layers (relative depth when models differ): std over seeds of each layer weight per corpus,
    averaged over corpora; ``None`` without Multi-Layer records of two or more seeds."""
    per_cell: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in runs:
        if r.probe == "multilayer" and r.data.get("layer_weights"):
            per_cell.setdefault((r.model, r.corpus), []).append(record_weights(r))  # at their states (NaN: unmixed)
    spreads: dict[str, list[np.ndarray]] = {}
    languages = {r.model: str(r.data.get("languages", "")) for r in runs}
    for (model, _), vectors in per_cell.items():
        if len(vectors) > 1 and len({len(v) for v in vectors}) == 1:
            spreads.setdefault(model, []).append(np.std(vectors, axis=0, ddof=1))
    if not spreads:
        return None
    means = {m: np.mean(v, axis=0) for m, v in spreads.items() if len({len(x) for x in v}) == 1}
    models = order_models({m: languages[m] for m in means})
    if len({len(v) for v in means.values()}) == 1:
        return pd.DataFrame([means[m] for m in models], index=models, columns=list(range(len(means[models[0]]))))
    bins = min(bins, min(len(v) for v in means.values()))
    grid = np.round(np.linspace(0.0, 1.0, bins), 3)
    return pd.DataFrame([np.interp(grid, relative_depth(len(means[m])), means[m]) for m in models], index=models,
                        columns=grid)


def plot_weight_spread(matrix: pd.DataFrame, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Heatmap of the seed-to-seed standard deviation of the learned layer weights."""
    n_rows, n_cols = matrix.shape
    with report_style():
        fig = new_figure(3.4 + min(0.62 * n_cols, 10.0), max(2.8, 0.55 * n_rows + 1.6))
        ax = fig.add_subplot()
        sns.heatmap(matrix.to_numpy(), ax=ax, cmap=HEATMAP_CMAP, vmin=0.0, annot=n_cols <= 13, fmt=".3f",
                    annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                    cbar_kws={"label": "std over seeds"}, xticklabels=[f"{c:g}" for c in matrix.columns],
                    yticklabels=list(matrix.index))
        depth = not all(float(c).is_integer() for c in matrix.columns) or matrix.columns.dtype.kind == "f"
        ax.set_xlabel("relative depth l/L (interpolated)" if depth else "layer (0 = input to the first block)")
        ax.tick_params(axis="y", rotation=0)
        ax.set_title("Multi-Layer layer weights: standard deviation over seeds (mean over corpora)", loc="left",
                     fontsize="medium")
        return save_figure(fig, stem, formats)


def write_interval_figures(runs: Sequence[Run], corpus_data: pd.DataFrame, out: Path,
                           formats: Sequence[str] = FORMATS, n_resamples: int = N_RESAMPLES,
                           seed: int = 0) -> tuple[list[Path], pd.DataFrame]:
    """Under ``out``: ``figures/layerwise_intervals``, ``figures/corpus_bars``, ``figures/layer_weight_spread``
    and ``tables/layerwise_intervals.csv`` (what exists for these runs); returns the files and the layer frame."""
    files: list[Path] = []
    layers = layerwise_intervals(runs, n_resamples, seed)
    if not layers.empty:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        layers.to_csv(out / "tables" / "layerwise_intervals.csv", index=False, float_format="%.4f")
        files.append(out / "tables" / "layerwise_intervals.csv")
        files += plot_layerwise_bands(layers, out / "figures" / "layerwise_intervals", formats)
    if "macro_f1_ci_low" in corpus_data and not corpus_data.empty:
        files += plot_corpus_bars(corpus_data, out / "figures" / "corpus_bars", formats)
    spread = layer_weight_spread(runs)
    if spread is not None:
        files += plot_weight_spread(spread, out / "figures" / "layer_weight_spread", formats)
    return files, layers
