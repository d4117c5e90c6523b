"""The Multi-Layer layer-weight heatmaps: weights placed at their state indices, flagged rows marked.

Relative depth: when the models of a figure have different numbers of hidden states, state ``l`` of a model with
``L+1`` states (0 = input to the first block, ``L`` = final state) sits at relative depth ``l/L``. Its weight is
split between the two nearest points of the grid 0, 0.1, …, 1 (:data:`DEPTH_BINS` points) in proportion to
proximity (linear, mass-preserving binning), so every model's row still sums to one and a state that falls on a
grid point (state 6 of 13, state 12 of 25: depth 0.5) keeps all of its weight there. The grid is never finer than
the model with the fewest states, so no model shows empty bins that only reflect the binning. With equal state
counts the figures show absolute layers.

A record's weights are placed at the states they weigh (``layer_weight_states``; the paper's eq. 4 mixes states
1..L, so state 0 is blank). A row is **flagged** when at least one of its runs has ``layer_weights_uniform``: the
learning rate of the layer logits was too small for any weight to reach twice the uniform 1/n
(:mod:`probe.train.optim`), so its differences are not a finding; the heatmap greys and hatches such rows and says so.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Rectangle

from probe.report.load import ReportError, Run
from probe.report.naming import file_safe, order_models
from probe.report.plotting import FORMATS, HEATMAP_CMAP, new_figure, report_style, save_figure

DEPTH_BINS = 11
FLAG_CAPTION = ("grey hatched rows: weights uniform by construction (the layer logits' learning rate could not "
                "move any weight to twice 1/n; not a finding); blank: state not in the mix")


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


def record_weights(run: Run) -> np.ndarray:
    """The run's weights at their state indices, ``(L+1,)``, NaN for states not in the mix (older records without
    ``layer_weight_states`` weigh states 0..n-1)."""
    weights = np.asarray(run.data["layer_weights"], dtype=float)
    states = run.data.get("layer_weight_states")
    if not states:
        return weights
    n = max(run.n_states or 0, max(states) + 1)
    out = np.full(n, np.nan)
    out[np.asarray(states, dtype=int)] = weights
    return out


def _depth_density(weights: Sequence[float], bins: int) -> np.ndarray:
    """Binned weights divided by what uniform weights over the same states would put in each bin, renormalised to
    sum to one (the end points of the grid collect from one side only, so without this a uniform row would look low
    at both ends); NaN (states not in the mix) count as absent, and a bin only they reach is NaN."""
    w = np.asarray(weights, dtype=float)
    mixed = ~np.isnan(w)
    binned = to_relative_depth(np.where(mixed, w, 0.0), bins)
    coverage = to_relative_depth(np.where(mixed, 1.0 / max(mixed.sum(), 1), 0.0), bins)
    density = np.divide(binned, coverage, out=np.full(bins, np.nan), where=coverage > 1e-12)
    return density / np.nansum(density)


@dataclass
class LayerWeights:
    """Mean learned layer weights: rows are models, columns layers or relative depths; rows sum to one (NaN: a
    state not in the mix). ``flagged`` counts each model's runs with weights uniform by construction."""

    matrix: pd.DataFrame
    axis: str  # "layer" or "depth"
    languages: dict[str, str]
    n_corpora: dict[str, int]
    n_runs: dict[str, int]
    flagged: dict[str, int] = field(default_factory=dict)
    bounds: dict[str, float] = field(default_factory=dict)
    """Per model, the largest movement bound of the layer logits over its runs (``layer_logit_bound``)."""

    def peaks(self) -> dict[str, float]:
        """Per model, the layer (or relative depth) with the most weight."""
        return {m: float(self.matrix.columns[int(np.nanargmax(row))]) for m, row in self.matrix.iterrows()}

    def is_flagged(self, model: str) -> bool:
        """True when a run of ``model``'s row had weights uniform by construction."""
        return self.flagged.get(model, 0) > 0


def layer_weights(runs: Sequence[Run], corpus: str | None = None, bins: int = DEPTH_BINS) -> LayerWeights | None:
    """Average the Multi-Layer weights over seeds per (corpus, model), then over corpora; ``None`` if none.

    ``corpus`` restricts to one corpus. Records of one model that disagree on the number of states raise
    :class:`~probe.report.load.ReportError`.
    """
    chosen = [r for r in runs if r.probe == "multilayer" and r.data.get("layer_weights")
              and (corpus is None or r.corpus == corpus)]
    if not chosen:
        return None
    per_cell: dict[tuple[str, str], list[np.ndarray]] = {}
    languages: dict[str, str] = {}
    flagged: dict[str, int] = {}
    bounds: dict[str, float] = {}
    for r in chosen:
        per_cell.setdefault((r.model, r.corpus), []).append(record_weights(r))
        languages[r.model] = str(r.data.get("languages", ""))
        flagged[r.model] = flagged.get(r.model, 0) + int(r.data.get("layer_weights_uniform") is True)
        if r.data.get("layer_logit_bound") is not None:
            bounds[r.model] = max(bounds.get(r.model, 0.0), float(r.data["layer_logit_bound"]))
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
                        {m: len(per_model[m]) for m in models}, {m: n_runs[m] for m in models},
                        {m: flagged.get(m, 0) for m in models}, {m: bounds[m] for m in models if m in bounds})


def plot_layer_weights(data: LayerWeights, title: str, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Heatmap models × layers (or relative depth), viridis, values annotated when there is room; flagged rows
    greyed and hatched, with the reason in their label and the title."""
    matrix = data.matrix
    n_rows, n_cols = matrix.shape
    annotate = n_cols <= 13
    with report_style():
        fig = new_figure(3.4 + min(0.62 * n_cols, 10.0), max(2.8, 0.55 * n_rows + 1.9))
        ax = fig.add_subplot()
        labels = [(f"{m} ({data.languages[m]})" if data.languages[m] else m)
                  + ("\nuniform by construction" if data.is_flagged(m) else "") for m in matrix.index]
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
        flagged = [i for i, m in enumerate(matrix.index) if data.is_flagged(m)]
        for i in flagged:
            ax.add_patch(Rectangle((0, i), n_cols, 1, facecolor="0.6", alpha=0.75, hatch="//", edgecolor="0.3",
                                   linewidth=0))
        ax.set_xlabel("layer (0 = input to the first block)" if data.axis == "layer"
                      else "relative depth l/L (0 = input to the first block, 1 = final state)")
        ax.set_ylabel("")
        ax.tick_params(axis="y", rotation=0)
        ax.tick_params(axis="x", rotation=0)
        width = max(50, int(9 * (3.4 + min(0.62 * n_cols, 10.0))))  # characters that fit the figure's width
        note = "\n" + textwrap.fill(f"({FLAG_CAPTION})", width) if flagged else ""
        ax.set_title(f"{title}\n(each row sums to 1){note}", loc="left", fontsize="medium" if not flagged else 8)
        return save_figure(fig, stem, formats)


def _corpora(n: int) -> str:
    return "1 corpus" if n == 1 else f"{n} corpora"


def layer_weight_figures(runs: Sequence[Run], folder: Path, formats: Sequence[str] = FORMATS,
                         name: str = "layer_weights", what: str = "") -> list[Path]:
    """The heatmap averaged over corpora (``<name>``) and one per corpus (``<name>/<corpus>``); ``what`` is added
    to the titles (e.g. the layer learning rate)."""
    overall = layer_weights(runs)
    if overall is None:
        return []
    corpora = sorted({r.corpus for r in runs if r.probe == "multilayer" and r.data.get("layer_weights")})
    n = max(overall.n_corpora.values())
    paths = plot_layer_weights(
        overall, f"Multi-Layer probe{what}: learned layer weights, mean over {_corpora(n)} and seeds",
        folder / name, formats)
    for corpus in corpora:
        data = layer_weights(runs, corpus)
        if data is not None:
            paths += plot_layer_weights(data, f"Multi-Layer layer weights{what} on {corpus} (mean over seeds)",
                                        folder / name / file_safe(corpus), formats)
    return paths
