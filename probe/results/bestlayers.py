"""The layers of a layer-wise curve that are not significantly worse than its best layer.

The best layer is the one with the highest test macro-F1, averaged over the runs (seeds, folds) of one
configuration. Every other layer is compared with it by :func:`probe.results.uncertainty.compare_records`: a paired test
on the same test speakers (speaker-clustered), the runs paired by seed and fold. The p-values of the L other
layers are Holm-corrected (:func:`probe.results.uncertainty.holm`) as one family per curve; a layer stays in the set unless
it is worse than the best with a corrected p below ``alpha`` (0.05). So the set says which layers the data cannot
tell apart from the best one; the argmax alone would name one of them by chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from probe.results.uncertainty import N_RESAMPLES, UncertaintyError, compare_records, holm

ALPHA = 0.05


def layer_records(records: Sequence[dict[str, Any]], layer: int) -> list[dict[str, Any]]:
    """The layer-wise records with the test predictions of ``layer`` in place of the chosen layer's."""
    out = []
    for record in records:
        classes = record["classes"]
        pred = [classes[i] for i in record["layerwise"]["test_pred"][layer]]
        out.append(dict(record, predictions=dict(record["predictions"], pred=pred)))
    return out


def best_layer_set(records: Sequence[dict[str, Any]], alpha: float = ALPHA, n_resamples: int = N_RESAMPLES,
                   seed: int = 0) -> dict[str, Any] | None:
    """``{"best", "layers", "p_holm", "mean"}`` for layer-wise records of one configuration: the best layer, the
    layers not significantly worse (ascending, the best included), the Holm-corrected p-value of each layer against
    the best (NaN for the best) and each layer's mean test macro-F1. ``None`` without layer-wise records carrying
    per-layer test predictions."""
    usable = [r for r in records if (r.get("layerwise") or {}).get("test_pred")]
    if not usable or len(usable) != len(records):
        return None
    layers = [int(x) for x in usable[0]["layerwise"]["layers"]]
    mean = np.mean([[float(v) for v in r["layerwise"]["test_macro_f1"]] for r in usable], axis=0)
    best = layers[int(np.argmax(mean))]
    best_recs = layer_records(usable, best)
    p = np.full(len(layers), np.nan)
    diff = np.zeros(len(layers))
    for i, layer in enumerate(layers):
        if layer == best:
            continue
        try:
            found = compare_records(layer_records(usable, layer), best_recs, n_resamples=n_resamples, seed=seed)
        except UncertaintyError:
            continue
        p[i], diff[i] = found["p_value"], found["difference"]
    adjusted = holm(p)
    keep = [layer for i, layer in enumerate(layers)
            if layer == best or not (diff[i] < 0 and adjusted[i] < alpha)]
    return {"best": best, "layers": keep, "p_holm": adjusted.tolist(), "mean": mean.tolist()}


def best_layers_text(found: dict[str, Any] | None) -> str:
    """``3;4;5`` (the leaderboard's ``best_layers`` cell), empty for ``None``."""
    return "" if found is None else ";".join(str(x) for x in found["layers"])
