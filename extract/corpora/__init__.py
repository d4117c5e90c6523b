"""Corpus loaders: one short module per corpus turns its official layout into one canonical manifest.

>>> from extract import corpora
>>> frame = corpora.load("emodb", "/data/emodb")   # columns: id, path, label, speaker, gender
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from extract.corpora.base import MANIFEST_COLUMNS, CorpusError, CorpusInfo, Scan
from extract.labels import parse_classes

if TYPE_CHECKING:
    import pandas as pd

# The nine corpora of the cross-lingual benchmark, then the four English corpora, then the demo corpus.
BENCHMARK: tuple[str, ...] = ("aesdd", "cafe", "demos", "emodb", "emomatch", "emovo", "eyase", "oreau", "shemo")
ENGLISH: tuple[str, ...] = ("ravdess", "cremad", "iemocap", "tess")
KEYS: tuple[str, ...] = BENCHMARK + ENGLISH + ("synthetic",)

__all__ = [
    "BENCHMARK",
    "ENGLISH",
    "KEYS",
    "MANIFEST_COLUMNS",
    "CorpusError",
    "CorpusInfo",
    "Scan",
    "info",
    "load",
    "module",
    "scan",
    "select_classes",
]


def module(key: str) -> ModuleType:
    """The loader module of corpus ``key``."""
    if key not in KEYS:
        raise CorpusError(f"unknown corpus {key!r}; known corpora: {', '.join(KEYS)}")
    return importlib.import_module(f"extract.corpora.{key}")


def info(key: str) -> CorpusInfo:
    """Static facts about corpus ``key``."""
    return module(key).INFO


def scan(key: str, root: str | Path) -> Scan:
    """Parse corpus ``key`` under ``root``: usable items plus skipped files with reasons."""
    return module(key).scan(Path(root))


def select_classes(frame: pd.DataFrame, classes: str | Sequence[str] | None) -> pd.DataFrame:
    """Keep only rows whose label is in the class set (``None``/"all" keeps everything; "4" = 4-class set)."""
    chosen = parse_classes(classes)
    if chosen is None:
        return frame
    return frame[frame["label"].isin(chosen)].reset_index(drop=True)


def load(key: str, root: str | Path, classes: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The manifest of corpus ``key`` under ``root``: columns id, path, label, speaker, gender (strings)."""
    frame = scan(key, root).to_frame()
    if frame.empty:
        raise CorpusError(f"no usable audio of corpus {key!r} found under {root}")
    return select_classes(frame, classes)
