"""REPORT.md's words on the Multi-Layer layer weights and the layer-wise curve's best layers.

Weights flagged uniform by construction (:mod:`probe.train.optim`) are never presented as a finding: their rows are left
out of the peaks and depth shares, and one sentence says why, with the movement bound. The layer-wise paragraph
names the set of layers not significantly worse than the best (:mod:`probe.results.bestlayers`), not only the argmax.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from probe.report.layer_weights import LayerWeights
from probe.report.load import Run, layerwise_cells
from probe.results.bestlayers import best_layer_set
from probe.train.optim import max_weight


def states_in_mix(data: LayerWeights) -> int:
    """Columns of the heatmap that some row weighs (the paper's eq. 4 leaves state 0 blank)."""
    return int(np.isfinite(data.matrix.to_numpy()).any(axis=0).sum())


def bound_sentence(data: LayerWeights, flagged: Sequence[str]) -> str:
    """One sentence on the movement bound of the flagged rows."""
    if not flagged:
        return ""
    n = states_in_mix(data)
    bound = max((data.bounds.get(m, 0.0) for m in flagged), default=0.0)
    top = max_weight(bound, n)
    return (f"The weights of {', '.join(flagged)} are uniform by construction, not a finding (grey in the heatmap): "
            f"with the learning rate of their layer logits, Adam can move a logit by at most about its learning "
            f"rate per step, so over all steps no logit moved more than {bound:.3g} from its start (the sum of "
            f"the steps' learning rates, times Adam's worst-case factor) and no weight could exceed {top:.3f} "
            f"against a uniform {1 / n:.3f} (`--layer-lr` sets that rate).")


def weights_paragraph(data: LayerWeights) -> str:
    """What the heatmap shows, derived from its numbers; flagged rows only as such."""
    matrix = data.matrix
    if data.axis == "depth":
        depths = np.asarray(matrix.columns, dtype=float)
        where = "relative depth"
    else:
        n = matrix.shape[1]
        depths = np.arange(n) / max(n - 1, 1)
        where = "layer"
    flagged = [m for m in matrix.index if data.is_flagged(m)]
    shown = matrix.drop(index=flagged)
    axis = ("absolute layers (all models have the same number of states)" if data.axis == "layer"
            else f"relative depth l/L on {len(matrix.columns)} points "
                 f"{', '.join(f'{c:g}' for c in matrix.columns)} (models differ in depth; the grid is no finer than "
                 "the shallowest model; each state's weight is split between its two nearest grid points and "
                 "divided by what uniform weights would put there, so a flat row means no preference; rows sum "
                 "to one)")
    blank = bool(np.isnan(matrix.to_numpy()).any())
    text = (f"Rows are backbones, columns {axis}; each row is the softmax layer weight learned by the Multi-Layer "
            f"probe, averaged over seeds and then over corpora, and sums to one"
            + (" (blank: a state not in the mix; the paper's eq. 4 mixes the blocks' outputs 1..L, not state 0)"
               if blank else "") + ". ")
    if not shown.empty:
        peaks = []
        for model, row in shown.iterrows():
            k = int(np.nanargmax(row.to_numpy()))
            peaks.append(f"{model} at {where} {matrix.columns[k]:g} ({row.iloc[k]:.2f})")
        mean_row = np.nan_to_num(shown.to_numpy(), nan=0.0).mean(axis=0)  # a state out of the mix weighs 0
        overall = matrix.columns[int(np.argmax(mean_row))]
        thirds = [float(mean_row[(depths >= lo) & (depths < hi)].sum()) for lo, hi in ((0, 1 / 3), (1 / 3, 2 / 3))]
        thirds.append(1.0 - sum(thirds))
        text += (f"Peak weight: {'; '.join(peaks)}. Averaged over these backbones, {where} {overall:g} gets the most "
                 f"weight, and the lower, middle and upper thirds of the network get {thirds[0]:.0%}, "
                 f"{thirds[1]:.0%} and {thirds[2]:.0%} of it. A flat row (every weight near 1/{states_in_mix(data)}) "
                 "would mean that the probe found no layer more useful than another. ")
    return (text + bound_sentence(data, flagged)).strip()


def best_layers_sentence(runs: Sequence[Run]) -> str:
    """Per (backbone, corpus) layer-wise curve: the layers not significantly worse than its best."""
    parts = []
    for (model, corpus), members in layerwise_cells(runs).items():
        found = best_layer_set([r.data for r in members])
        if found is None:
            continue
        layers = found["layers"]
        span = "every layer" if len(layers) == len(found["mean"]) else f"layers {', '.join(map(str, layers))}"
        parts.append(f"{model} on {corpus}: best layer {found['best']}; not significantly worse: {span}")
    if not parts:
        return ""
    return ("Layers not significantly worse than the best one (paired test on the same test speakers, "
            "Holm-corrected over the curve's layers; the leaderboard's `best_layers`): " + "; ".join(parts) + ".")


def layer_lr_section(lr_runs: Sequence[Run], table_runs: Sequence[Run], files: Sequence[Path], out: Path) -> str:
    """REPORT.md's section on Multi-Layer runs with their own layer learning rate, beside the table's runs."""
    from probe.report.layer_weights import layer_weights

    data = layer_weights(lr_runs)
    if data is None:
        return ""
    rates = sorted({float(r.data["config"]["layer_lr"]) for r in lr_runs})
    png = [f for f in files if f.suffix == ".png" and f.parent == out / "figures"]
    compare = []
    for model in data.matrix.index:
        with_lr = [r.macro_f1 for r in lr_runs if r.model == model]
        single = [r.macro_f1 for r in table_runs if r.model == model and r.probe == "multilayer"]
        curves = [r.data["layerwise"]["test_macro_f1"] for r in table_runs
                  if r.model == model and r.probe == "layerwise" and (r.data.get("layerwise") or {}).get("layers")]
        if with_lr and single:
            best = (f"; best layer of the layer-wise curve: {np.max(np.mean(curves, axis=0)):.1f}"
                    if curves and len({len(c) for c in curves}) == 1 else "")
            compare.append(f"{model} {np.mean(with_lr):.1f} (single lr: {np.mean(single):.1f}{best})")
    lines = [
        f"### Multi-Layer layer weights with a layer learning rate (--layer-lr {', '.join(f'{x:g}' for x in rates)})",
        "",
        "The same probe and splits with the layer logits in an Adam group of their own (no weight decay); not the "
        "paper's protocol, shown beside it because the single learning rate cannot move the weights far. "
        + weights_paragraph(data),
        "",
    ]
    if compare:
        lines += ["Multi-Layer test macro-F1 (%), mean over seeds, with the layer learning rate: "
                  + "; ".join(compare) + ".", ""]
    if png:
        lines.append(f"![Layer-weight heatmap with --layer-lr]({Path(os.path.relpath(png[0], out)).as_posix()})")
    return "\n".join(lines).rstrip()
