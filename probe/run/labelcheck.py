"""Checks on a cache's labels before any split is drawn: what makes a corpus unusable is named, never guessed.

* An empty (or blank) label is an error, not a class of its own.
* Every class must have enough clips and speakers for the protocol: a speaker-independent holdout split puts
  each class in train, validation and test, so a class needs at least three speakers (and clips); k-fold needs
  at least two (one to train on, one to test on).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from extract.labels import parse_classes

MIN_SPEAKERS = {"holdout": 3, "kfold": 2}


def label_problem(table: pd.DataFrame, classes: str | Sequence[str] | None, protocol: str) -> str | None:
    """Why ``table`` (a cache's utterances: id, label, speaker) cannot be split for ``protocol`` with the
    class selection ``classes``, or None when it can."""
    labels = table["label"].astype(str)
    blank = table.loc[labels.str.strip() == "", "id"].astype(str).tolist()
    if blank:
        return (f"{len(blank)} utterance(s) have an empty label (e.g. {', '.join(blank[:3])}): an empty string is "
                "not a class; the cache must be re-extracted from a corpus with every label set")
    wanted = parse_classes(classes)
    chosen = table[labels.isin(wanted)] if wanted else table
    need = MIN_SPEAKERS.get(protocol, 2)
    short = []
    for label, group in chosen.groupby(chosen["label"].astype(str), sort=True):
        clips, speakers = len(group), group["speaker"].nunique()
        if clips < need or speakers < need:
            short.append(f"{label!r} ({clips} clip{'s' if clips != 1 else ''}, {speakers} "
                         f"speaker{'s' if speakers != 1 else ''})")
    if short:
        return (f"class{'es' if len(short) > 1 else ''} {', '.join(short)} "
                f"{'have' if len(short) > 1 else 'has'} too few for a {protocol} split, which needs at least "
                f"{need} clips from {need} speakers per class; leave {'them' if len(short) > 1 else 'it'} out with "
                "--classes")
    return None
