"""The canonical emotion vocabulary shared by every corpus loader, and class-set selection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CANONICAL: tuple[str, ...] = (
    "anger",
    "boredom",
    "calm",
    "disgust",
    "excitement",
    "fear",
    "guilt",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
)

FOUR_CLASS: tuple[str, ...] = ("anger", "happiness", "neutral", "sadness")


def parse_classes(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """Turn a class-set spec into a sorted tuple of canonical labels, or ``None`` for "all".

    Accepted: ``None``/``"all"``/``"full"`` (keep every class), ``"4"`` (the common 4-class set),
    or a comma-separated list / sequence of canonical labels.
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in ("", "all", "full"):
            return None
        if text == "4":
            return FOUR_CLASS
        items: Iterable[str] = (s.strip() for s in text.split(","))
    else:
        items = (s.strip().lower() for s in spec)
    chosen = sorted({s for s in items if s})
    unknown = [s for s in chosen if s not in CANONICAL]
    if unknown:
        raise ValueError(
            f"unknown emotion label(s) {unknown}; canonical labels are: {', '.join(CANONICAL)}"
        )
    if len(chosen) < 2:
        raise ValueError(f"a class set needs at least two labels, got {chosen}")
    return tuple(chosen)


def class_set_name(classes: Sequence[str] | None) -> str:
    """A short, stable name for a class set, used in file names and records ("all", "4", or a list)."""
    if classes is None:
        return "all"
    if tuple(sorted(classes)) == FOUR_CLASS:
        return "4"
    return "+".join(sorted(classes))
