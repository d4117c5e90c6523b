"""The corpus-loader interface: what every corpus module declares and returns.

A corpus module (one per corpus, e.g. ``extract/corpora/emodb.py``) defines

* ``INFO``: a :class:`CorpusInfo` with the corpus's facts, and
* ``scan(root: Path) -> Scan``: parse the official distribution under ``root`` unchanged.

:func:`extract.corpora.load` turns a :class:`Scan` into the manifest table.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd  # loaded by to_frame: `probe --help` and the corpus registry need no pandas


MANIFEST_COLUMNS: tuple[str, ...] = ("id", "path", "label", "speaker", "gender")

AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".aiff", ".aif")


class CorpusError(Exception):
    """A corpus cannot be used (missing root, nothing recognisable found, ...)."""


@dataclass(frozen=True)
class CorpusInfo:
    """Static facts about a corpus."""

    key: str
    name: str
    language: str  # BCP-47 tag, e.g. "de", "fr-CA", "ar-EG"
    labels: dict[str, str]  # native code -> canonical label (see extract.labels.CANONICAL)
    expected_files: int | None  # official count of usable files, None where sources disagree
    expected_speakers: int | None
    access: str  # "open", "request" (licence / form) or "restricted"
    url: str  # where to request or download it
    english: bool = False  # one of the English corpora of the related studies
    notes: str = ""
    expected_per_label: dict[str, int] = field(default_factory=dict)  # canonical label -> count

    @property
    def classes(self) -> tuple[str, ...]:
        """The corpus's full canonical class set, sorted."""
        return tuple(sorted(set(self.labels.values())))


@dataclass(frozen=True)
class Item:
    """One usable audio file of a corpus."""

    id: str  # path relative to the root, without extension, NFC, forward slashes
    path: Path
    label: str  # canonical
    speaker: str
    gender: str = ""  # "f", "m" or "" when unknown


@dataclass(frozen=True)
class Skipped:
    """A file that was found but not used, and why (unknown name, known-broken, lfs pointer, ...)."""

    path: Path
    reason: str


@dataclass
class Scan:
    """What a loader found under a corpus root."""

    items: list[Item] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # corpus-level warnings (e.g. a missing metadata table)

    def to_frame(self) -> pd.DataFrame:
        """The manifest: one row per usable file, columns :data:`MANIFEST_COLUMNS`, all strings."""
        import pandas as pd

        rows = [
            {"id": it.id, "path": str(it.path), "label": it.label, "speaker": it.speaker, "gender": it.gender}
            for it in self.items
        ]
        # object dtype, not pandas' str: with pyarrow installed (e.g. by the opensmile extra) pandas 3 backs str
        # columns with Arrow, which rejects the surrogates that damaged file names hold in `path`
        frame = pd.DataFrame({c: pd.Series([str(r[c]) for r in rows], dtype=object) for c in MANIFEST_COLUMNS})
        return frame.sort_values("id", kind="stable").reset_index(drop=True)


def nfc(text: str) -> str:
    """NFC-normalise a string (file systems store accented names composed or decomposed)."""
    return unicodedata.normalize("NFC", text)


def escape_undecodable(text: str) -> str:
    """``text`` as valid UTF-8: bytes of a damaged file name that are not UTF-8 (held as surrogates, e.g. a zip's
    folder name in an old DOS code page) become ``\\xNN`` escapes; valid text is returned unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", errors="backslashreplace")


def utterance_id(path: Path, root: Path) -> str:
    """The stable utterance id: path relative to ``root``, without extension, NFC, forward slashes.

    Bytes of a damaged name that are not valid UTF-8 (a zip's folder name in an old DOS code page) are written
    as ``\\xNN`` escapes, so the id is always valid UTF-8; the path itself still opens the file.
    """
    return nfc(escape_undecodable(nfc(path.relative_to(root).with_suffix("").as_posix())))


def find_audio(root: Path, suffixes: tuple[str, ...] = AUDIO_SUFFIXES) -> list[Path]:
    """Every audio file under ``root``, recursively, suffix matched case-insensitively, sorted by NFC path."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus root {root} does not exist or is not a directory")
    wanted = {s.lower() for s in suffixes}
    found = [p for p in root.rglob("*") if p.suffix.lower() in wanted and p.is_file()]
    return sorted(found, key=lambda p: nfc(p.as_posix()))


LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"


def is_lfs_pointer(path: Path) -> bool:
    """True when ``path`` is a git-lfs pointer file (a clone made without git-lfs) instead of audio."""
    try:
        if path.stat().st_size > 1024:
            return False
        with open(path, "rb") as handle:
            return handle.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX
    except OSError:
        return False
