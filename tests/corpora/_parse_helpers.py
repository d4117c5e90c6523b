"""Helpers for the tests of the corpus loaders and their shared scan."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from extract.corpora.base import AUDIO_SUFFIXES, CorpusInfo, Scan
from extract.labels import CANONICAL

LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 123456\n"
)


def build(root: Path, names: Iterable[str | bytes], write_wav, rates: tuple[int, ...] = (16000, 44100)) -> None:
    """Write a tiny real audio file (0.2 s) at every relative path, cycling through ``rates``.

    A ``bytes`` name is a raw on-disk name (e.g. a folder name in an old DOS code page); soundfile cannot open
    such a path by name, so that file is written under a plain name and renamed.
    """
    for i, name in enumerate(names):
        rate = rates[i % len(rates)]
        if isinstance(name, str):
            write_wav(root / name, seconds=0.2, sample_rate=rate, seed=i)
            continue
        target = os.path.join(os.fsencode(root), name)
        plain = write_wav(root / f"_raw_{i}{Path(os.fsdecode(name)).suffix}", seconds=0.2, sample_rate=rate, seed=i)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(os.fsencode(plain), target)


def write_text(path: Path, text: str) -> None:
    """Write a small text file (an lfs pointer, a readme), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def by_name(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Manifest rows keyed by file name (the last id component)."""
    return {row["id"].rsplit("/", 1)[-1]: row for row in frame.to_dict("records")}


def reasons(scan: Scan) -> dict[str, str]:
    """Skipped files: NFC file name -> reason."""
    return {unicodedata.normalize("NFC", s.path.name): s.reason for s in scan.skipped}


def assert_ids_well_formed(frame: pd.DataFrame) -> None:
    """Ids are unique, relative, NFC, valid UTF-8 and without an audio extension; paths exist."""
    ids = list(frame["id"])
    assert len(set(ids)) == len(ids)
    for uid in ids:
        assert uid == unicodedata.normalize("NFC", uid)
        uid.encode("utf-8")
        assert not Path(uid).is_absolute() and ".." not in uid.split("/")
        assert not uid.lower().endswith(AUDIO_SUFFIXES)
    assert all(Path(p).is_file() for p in frame["path"])


def assert_info_coherent(info: CorpusInfo, key: str, n_classes: int) -> None:
    """Labels canonical, class count as documented, expected counts consistent with each other."""
    assert info.key == key
    assert set(info.labels.values()) <= set(CANONICAL)
    assert len(info.classes) == n_classes
    assert info.access in ("open", "request", "restricted")
    assert info.url == "" or info.url.startswith(("http://", "https://"))
    assert set(info.expected_per_label) <= set(info.classes)
    if info.expected_per_label:
        assert set(info.expected_per_label) == set(info.classes)
        assert sum(info.expected_per_label.values()) == info.expected_files
    assert info.notes
