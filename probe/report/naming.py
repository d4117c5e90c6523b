"""Display names and orderings shared by the tables, figures and REPORT.md."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

PROBES: tuple[str, ...] = ("linear", "nonlinear", "multilayer", "attention", "layerwise",
                           "ast", "ast-small", "cnn", "logreg", "svm")  # the last five: baselines
"""Probe names as written in run records, in the order tables list them."""

PROBE_LABELS: dict[str, str] = {
    "linear": "Linear",
    "nonlinear": "Non-Linear",
    "multilayer": "Multi-Layer",
    "attention": "Attention",
    "layerwise": "Layer-wise Linear",
    "ast": "AST", "ast-small": "AST-small", "cnn": "CNN", "logreg": "LogReg", "svm": "SVM",
}

PROBE_CODES: dict[str, str] = {
    "linear": "L",
    "nonlinear": "NL",
    "multilayer": "ML",
    "attention": "A",
    "layerwise": "LW",
    "ast": "AST", "ast-small": "ASTs", "cnn": "CNN", "logreg": "LR", "svm": "SVM",
}

LANGUAGE_GROUPS: dict[str, str] = {"en": "English-only", "multi": "Multilingual"}
"""Column/row groups of the tables, by the records' ``languages`` field, in display order."""

MODEL_ORDER: tuple[str, ...] = (
    "wav2vec2-base",
    "wav2vec2-large",
    "whisper-tiny.en",
    "whisper-base.en",
    "whisper-small.en",
    "whisper-medium.en",
    "xls-r-300m",
    "whisper-tiny",
    "whisper-base",
    "whisper-small",
    "whisper-medium",
    "whisper-large-v3",
)
"""Known suite models, ordered as in the paper's Table 3 (within each language group); others follow by name."""


def probe_label(probe: str) -> str:
    """Human-readable probe name (``multilayer`` → ``Multi-Layer``); unknown names pass through."""
    return PROBE_LABELS.get(probe, probe)


def probe_code(probe: str) -> str:
    """Short probe mark used in table cells (``multilayer`` → ``ML``)."""
    return PROBE_CODES.get(probe, probe)


def order_probes(probes: Iterable[str]) -> list[str]:
    """Known probes in :data:`PROBES` order, then any other names alphabetically."""
    unique = set(probes)
    return [p for p in PROBES if p in unique] + sorted(unique - set(PROBES))


def group_label(languages: str) -> str:
    """``en`` → ``English-only``, ``multi`` → ``Multilingual``; anything else is shown as is."""
    return LANGUAGE_GROUPS.get(languages, languages or "Unknown")


def order_models(languages: Mapping[str, str]) -> list[str]:
    """Models grouped English-only first, then multilingual (then other groups), each group in paper order.

    ``languages`` maps model name → its ``languages`` field.
    """
    groups = list(LANGUAGE_GROUPS) + sorted(set(languages.values()) - set(LANGUAGE_GROUPS))

    def key(model: str) -> tuple[int, int, str]:
        known = MODEL_ORDER.index(model) if model in MODEL_ORDER else len(MODEL_ORDER)
        return groups.index(languages[model]), known, model

    return sorted(languages, key=key)


def file_safe(name: str) -> str:
    """A model or corpus name as a path component (``/`` → ``--``, as in the run-record layout)."""
    return name.replace("/", "--").replace("\\", "--")
