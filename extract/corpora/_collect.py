"""The scanning loop shared by the loaders of oreau, shemo, ravdess, cremad, iemocap and tess.

A loader supplies a *parser* that turns an utterance id (NFC, relative, no extension) into :class:`Fields`, or
raises :class:`Unusable` with the reason. :func:`collect` does the rest the same way for every corpus: macOS
metadata, git-lfs pointers, empty files, duplicates and per-file reasons. Unlike ``_parse.scan_by_name`` (for
corpora whose file name alone says everything), the parser sees the whole id, the caller chooses the files, and
its reason is reported as is. Speaker ids follow the suite's one rule, ``_parse.speaker_id``: ``"<key>-<native>"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from extract.corpora._parse import is_macos_metadata, safe_id, speaker_id
from extract.corpora.base import Item, Scan, Skipped, is_lfs_pointer

__all__ = ["Fields", "Parser", "Unusable", "collect", "lookup", "speaker_id", "stem"]

LFS_REASON = "git-lfs pointer file, not audio (the corpus was cloned without git-lfs: run `git lfs pull`)"


class Unusable(ValueError):
    """Raised by a parser for a file that cannot be used; the message is the reason reported."""


@dataclass(frozen=True)
class Fields:
    """What a parser reads from one utterance id."""

    label: str  # canonical
    speaker: str
    gender: str = ""  # "f", "m" or ""


Parser = Callable[[str], Fields]


def stem(uid: str) -> str:
    """The file-name part of an utterance id (its last path component)."""
    return uid.rsplit("/", 1)[-1]


def lookup(codes: Mapping[str, str], code: str, what: str = "emotion code") -> str:
    """``codes[code]``, or :class:`Unusable` naming the unknown code and the known ones."""
    try:
        return codes[code]
    except KeyError:
        raise Unusable(f"unknown {what} {code!r} (known: {', '.join(sorted(codes))})") from None


def collect(
    root: Path,
    paths: Iterable[Path],
    parse: Parser,
    *,
    unique_names: bool = False,
    skipped: Iterable[Skipped] = (),
) -> Scan:
    """Turn audio files into a :class:`Scan`: parse each id, report every file not used with its reason.

    Ids are always unique: a second file with the same NFC id (an ``é`` composed in one folder and
    decomposed in another) is skipped as a duplicate. With ``unique_names`` the corpus's file names are
    unique by design, so a second file of the same name anywhere (a mirrored folder) is a duplicate too.
    The first file in sorted order is kept. ``skipped`` are files the caller already set aside.
    """
    scan = Scan(skipped=list(skipped))
    kept: dict[str, str] = {}  # duplicate key -> id of the file kept
    for path in paths:
        uid = safe_id(path, root)
        try:
            fields = _check(path, root, uid, parse)
        except Unusable as err:
            scan.skipped.append(Skipped(path, str(err)))
            continue
        key = stem(uid) if unique_names else uid
        if key in kept:
            scan.skipped.append(Skipped(path, _duplicate_reason(uid, kept[key])))
            continue
        kept[key] = uid
        scan.items.append(Item(uid, path, fields.label, fields.speaker, fields.gender))
    return scan


def _check(path: Path, root: Path, uid: str, parse: Parser) -> Fields:
    """The parsed fields of a file, or :class:`Unusable` when it is not audio of the corpus."""
    if is_macos_metadata(path, root):
        raise Unusable("macOS metadata file ('._' AppleDouble or __MACOSX/), not audio")
    if is_lfs_pointer(path):
        raise Unusable(LFS_REASON)
    if path.stat().st_size == 0:
        raise Unusable("empty file (0 bytes)")
    return parse(uid)


def _duplicate_reason(uid: str, first: str) -> str:
    """Why a file is a duplicate of the already kept file with id ``first``."""
    if uid == first:
        return f"duplicate of {first}: the same path twice (an accent composed in one copy, decomposed in another)"
    return f"duplicate of {first}: same file name in another folder (a mirrored copy)"
