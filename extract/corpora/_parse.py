"""Shared scanning loop for loaders whose labels and speakers are all in the file name.

A loader supplies a ``parse(stem)`` function that turns an NFC file-name stem into :class:`Fields` (or raises
:class:`BadName`); :func:`scan_by_name` walks the corpus, skips what must be skipped, with a reason, and builds
the :class:`~extract.corpora.base.Item` list. Speaker ids are always ``"<corpus key>-<native speaker>"``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from extract.corpora.base import (
    AUDIO_SUFFIXES,
    CorpusInfo,
    Item,
    Scan,
    Skipped,
    find_audio,
    is_lfs_pointer,
    nfc,
    utterance_id,
)


class BadName(ValueError):
    """A file name that does not follow the corpus's naming scheme (the message says why)."""


@dataclass(frozen=True)
class Fields:
    """What a file name says about a recording."""

    code: str  # native emotion code, a key of the corpus's ``INFO.labels``
    speaker: str  # native speaker field, leading zeros kept; the corpus key is prefixed later
    gender: str = ""  # "f", "m" or "" when the name does not tell
    recording: str = ""  # when set, a second file with the same value is a duplicate copy and is skipped


Parser = Callable[[str], Fields]


def speaker_id(key: str, native: str) -> str:
    """The suite-wide speaker id: corpus key, a hyphen, the native speaker field (``emodb-03``)."""
    return f"{key}-{native}"


def match(pattern: re.Pattern[str], stem: str, scheme: str) -> re.Match[str]:
    """``pattern.fullmatch(stem)``, or :class:`BadName` naming the expected ``scheme``."""
    found = pattern.fullmatch(stem)
    if found is None:
        raise BadName(f"name does not follow {scheme}")
    return found


def is_macos_metadata(path: Path, root: Path) -> bool:
    """True for macOS archive debris (``__MACOSX/`` folders, ``._name.wav`` AppleDouble files): not audio."""
    return path.name.startswith("._") or "__MACOSX" in path.relative_to(root).parts


def safe_id(path: Path, root: Path) -> str:
    """:func:`utterance_id`, with undecodable bytes of damaged names written as ``\\xNN`` so the id is valid UTF-8."""
    uid = utterance_id(path, root)
    try:
        uid.encode("utf-8")
    except UnicodeEncodeError:
        uid = nfc(os.fsencode(uid).decode("utf-8", errors="backslashreplace"))
    return uid


def _item_or_reason(
    path: Path, root: Path, info: CorpusInfo, parse: Parser, broken: Mapping[str, str]
) -> tuple[Item, str] | str:
    """The file as an :class:`Item` with its duplicate key, or the reason it cannot be used."""
    name = nfc(path.name)
    if is_macos_metadata(path, root):
        return "macOS metadata file ('._' AppleDouble or __MACOSX/), not audio"
    if name.lower() in broken:
        return broken[name.lower()]
    if is_lfs_pointer(path):
        return "git-lfs pointer file, not audio (the copy was made without git-lfs)"
    if path.stat().st_size == 0:
        return "empty file (0 bytes)"
    try:
        fields = parse(nfc(path.stem))
    except BadName as err:
        return f"unrecognised file name {name!r}: {err}"
    label = info.labels.get(fields.code)
    if label is None:
        return f"unknown emotion code {fields.code!r} in {name!r}"
    uid = safe_id(path, root)
    speaker = speaker_id(info.key, fields.speaker)
    item = Item(id=uid, path=path, label=label, speaker=speaker, gender=fields.gender)
    return item, fields.recording or uid


def scan_by_name(
    root: Path,
    info: CorpusInfo,
    parse: Parser,
    *,
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    broken: Mapping[str, str] | None = None,
) -> Scan:
    """Scan ``root`` recursively and parse every audio file's name with ``parse``.

    ``broken`` maps known-broken file names (NFC, lower case, with extension) to the reason they are skipped.
    Skipped, with a reason: known-broken files, git-lfs pointers, empty files, names ``parse`` rejects, unknown
    emotion codes, macOS archive metadata, and duplicates (a second file with the same id, e.g. ``x.wav`` beside
    ``x.aiff``, or with the same :attr:`Fields.recording`); the first in sorted path order is kept. Audio content
    is never read.
    """
    root = Path(root)
    scan = Scan()
    first_of: dict[str, str] = {}
    for path in find_audio(root, suffixes):
        found = _item_or_reason(path, root, info, parse, broken or {})
        if isinstance(found, str):
            scan.skipped.append(Skipped(path=path, reason=found))
            continue
        item, key = found
        if key in first_of:
            reason = f"duplicate of {first_of[key]!r} (the same recording is under the root twice)"
            scan.skipped.append(Skipped(path=path, reason=reason))
            continue
        first_of[key] = item.id
        scan.items.append(item)
    return scan
