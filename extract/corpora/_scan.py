"""The one scanning loop of every corpus loader.

A loader supplies a *parser* that reads one utterance id (NFC, relative to the root, no extension) and returns
:class:`Fields`: the native emotion code and speaker, the gender where known, and optionally a "same recording"
key. Corpora whose names say everything read only the file name (:func:`stem`, :func:`match`); others also read
folders (Oréau's f/m folder). A parser raises :class:`Unusable` for a file it cannot use; the message is the
reason reported, exactly as written. :func:`scan_files` does the rest the same way for every corpus: macOS
metadata, known-broken names, git-lfs pointers, empty files, unknown emotion codes, duplicates, speaker ids
(``"<corpus key>-<native speaker>"``), corpus-level notes. Audio content is never read.

Nothing under the root that looks like audio goes unreported: :func:`sweep` names every audio-suffixed file the
loader did not consider (another format, outside the corpus's audio folders), dangling symbolic links,
directories named like audio files, and folders that cannot be listed. Files with other suffixes (label files,
documentation) are not audio and are not listed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import os

from extract.corpora._folders import Layout, locate
from extract.corpora.base import (
    AUDIO_SUFFIXES, CorpusInfo, Item, Scan, Skipped, find_audio, is_lfs_pointer, utterance_id,
)

__all__ = [
    "Fields", "Layout", "Parser", "Unusable", "lookup", "match", "scan_files", "speaker_id", "stem", "sweep",
]

# Suffixes of audio files in any format a corpus copy may hold; such a file that is not used is always reported.
AUDIO_LIKE: frozenset[str] = frozenset({
    ".wav", ".wave", ".flac", ".aiff", ".aif", ".aifc", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".wma",
    ".au", ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist", ".voc", ".htk", ".sd2", ".raw", ".pcm",
})

MACOS_REASON = "macOS metadata file ('._' AppleDouble or __MACOSX/), not audio"
LFS_REASON = "git-lfs pointer file, not audio (the copy was made without git-lfs: run `git lfs pull`)"
EMPTY_REASON = "empty file (0 bytes)"


class Unusable(ValueError):
    """Raised by a parser for a file that cannot be used; the message is the reason reported."""


@dataclass(frozen=True)
class Fields:
    """What a parser reads from one utterance id."""

    code: str  # native emotion code, a key of the corpus's ``INFO.labels``
    speaker: str  # native speaker, leading zeros kept; the corpus key is prefixed by the scan
    gender: str = ""  # "f", "m" or "" when unknown
    recording: str = ""  # when set, a later file with the same value is a duplicate copy (another format/version)


Parser = Callable[[str], Fields]
Reader = Callable[[str], tuple[str, str, str, str]]  # id -> (label, speaker id, gender, recording key)


def speaker_id(key: str, native: str) -> str:
    """The suite-wide speaker id: corpus key, a hyphen, the native speaker (``emodb-03``)."""
    return f"{key}-{native}"


def stem(uid: str) -> str:
    """The file-name part of an utterance id (its last path component)."""
    return uid.rsplit("/", 1)[-1]


def lookup(codes: Mapping[str, str], code: str) -> str:
    """``codes[code]``, or :class:`Unusable` naming the unknown emotion code and the known ones."""
    if code not in codes:
        raise Unusable(f"unknown emotion code {code!r} (known: {', '.join(sorted(codes))})")
    return codes[code]


def match(pattern: re.Pattern[str], uid: str, scheme: str) -> re.Match[str]:
    """``pattern.fullmatch`` of the id's file name, or :class:`Unusable` naming the expected ``scheme``."""
    found = pattern.fullmatch(stem(uid))
    if found is None:
        raise Unusable(f"unrecognised file name {stem(uid)!r}: name does not follow {scheme}")
    return found


def is_macos_metadata(path: Path, root: Path) -> bool:
    """True for macOS archive debris (``__MACOSX/`` folders, ``._name.wav`` AppleDouble files): not audio."""
    return path.name.startswith("._") or "__MACOSX" in path.relative_to(root).parts


def scan_files(
    root: Path,
    info: CorpusInfo,
    parse: Parser,
    *,
    files: Iterable[Path] | None = None,
    broken: Mapping[str, str] | None = None,
    unique_names: bool = False,
    skipped: Iterable[Skipped] = (),
    notes: Iterable[str] = (),
    suffixes: tuple[str, ...] = AUDIO_SUFFIXES,
    outside: str = "",
    layout: Layout | None = None,
) -> Scan:
    """Parse every file of corpus ``info`` under ``root`` into a :class:`Scan`; every file not used has a reason.

    ``files``: the files to consider, in order (default: every audio file under ``root``, :func:`find_audio`).
    ``broken``: known-broken file-name stems (matched case-insensitively) -> the reason they are skipped.
    ``unique_names``: the corpus's file names are unique by design, so a second file of the same name anywhere
    (a mirrored folder) is a duplicate. A second file with the same id (an accent composed in one folder and
    decomposed in another, or ``x.wav`` beside ``x.aiff``) or the same :attr:`Fields.recording` is one too;
    the first in order is kept. ``skipped``: files the caller already set aside. ``notes``: corpus-level
    warnings, kept in :attr:`Scan.notes` and logged by the loader's logger. ``suffixes``: the audio formats the
    loader reads; ``outside``: the reason given to an audio file of those formats that ``files`` left out (the
    default names the loader). See :func:`sweep`. ``layout``: the corpus's audio folders; without ``files``, only
    the audio directly inside them is read (:func:`extract.corpora._folders.locate`), audio elsewhere is named.
    """
    root = Path(root)
    if files is None and layout is not None:
        found = locate(root, layout, suffixes)
        files, outside, notes = found.files, outside or found.outside, [*found.notes, *notes]
    broken_stems = {name.casefold(): reason for name, reason in (broken or {}).items()}

    def read(uid: str) -> tuple[str, str, str, str]:
        if stem(uid).casefold() in broken_stems:
            raise Unusable(broken_stems[stem(uid).casefold()])
        fields = parse(uid)
        return lookup(info.labels, fields.code), speaker_id(info.key, fields.speaker), fields.gender, fields.recording

    scan = walk(root, find_audio(root, suffixes) if files is None else files, read, unique_names=unique_names,
                skipped=skipped)
    scan.skipped.extend(sweep(root, scan, suffixes, outside or f"ignored: outside the folders the {info.key} "
                                                              "loader reads"))
    scan.notes.extend(notes)
    for note in scan.notes:
        logging.getLogger(f"extract.corpora.{info.key}").warning("%s: %s", info.key, note)
    return scan


def walk(
    root: Path, files: Iterable[Path], read: Reader, *, unique_names: bool = False, skipped: Iterable[Skipped] = ()
) -> Scan:
    """The loop under :func:`scan_files`: ``read`` turns an id into (label, speaker id, gender, recording key)."""
    scan = Scan(skipped=list(skipped))
    first: dict[tuple[str, str], Item] = {}  # (kind of duplicate key, key) -> the item kept
    for path in files:
        uid = utterance_id(path, root)
        try:
            label, speaker, gender, recording = _check(path, root, uid, read)
        except Unusable as err:
            scan.skipped.append(Skipped(path, str(err)))
            continue
        keys = [("id", uid)]
        if unique_names:
            keys.append(("name", stem(uid)))
        if recording:
            keys.append(("recording", recording))
        clash = next((kind for kind in keys if kind in first), None)
        if clash is not None:
            scan.skipped.append(Skipped(path, _duplicate_reason(path, clash[0], first[clash])))
            continue
        item = Item(uid, path, label, speaker, gender)
        first.update(dict.fromkeys(keys, item))
        scan.items.append(item)
    return scan


def _check(path: Path, root: Path, uid: str, read: Reader) -> tuple[str, str, str, str]:
    """What ``read`` says of a file, or :class:`Unusable` when it is not audio of the corpus."""
    if is_macos_metadata(path, root):
        raise Unusable(MACOS_REASON)
    if is_lfs_pointer(path):
        raise Unusable(LFS_REASON)
    if path.stat().st_size == 0:
        raise Unusable(EMPTY_REASON)
    return read(uid)


def _duplicate_reason(path: Path, kind: str, kept: Item) -> str:
    """Why ``path`` is not used: its ``kind`` of key ("id", "name" or "recording") is that of ``kept``."""
    if kind == "name":
        return f"duplicate of {kept.id}: same file name in another folder (a mirrored copy)"
    if kind == "recording":
        return f"duplicate of {kept.id!r} (the same recording is under the root twice)"
    if kept.path.suffix == path.suffix:
        return f"duplicate of {kept.id}: the same path twice (an accent composed in one copy, decomposed in another)"
    return f"duplicate of {kept.id}: the same recording in another format ({kept.path.suffix} is used)"


def sweep(root: Path, scan: Scan, suffixes: tuple[str, ...], outside: str) -> list[Skipped]:
    """Everything under ``root`` that looks like audio but is neither an item nor already skipped in ``scan``:
    audio files of other formats ("ignored: not .wav"), files of the read formats left out (``outside``), dangling
    symbolic links, directories named like audio files, and folders that cannot be listed."""
    seen = {os.path.normpath(str(p)) for p in [*(i.path for i in scan.items), *(s.path for s in scan.skipped)]}
    read = {s.lower() for s in suffixes}
    found: list[Skipped] = []

    def unreadable(err: OSError) -> None:
        found.append(Skipped(Path(err.filename or root), f"unreadable folder ({err.strerror}): its files cannot "
                                                         "be listed"))

    for folder, dirs, names in os.walk(root, onerror=unreadable):
        for name in sorted(dirs):
            path = Path(folder) / name
            if Path(name).suffix.lower() in AUDIO_LIKE:
                found.append(Skipped(path, "a directory named like an audio file, not audio"))
            elif path.is_symlink() and not path.exists():
                found.append(Skipped(path, "dangling symbolic link (its target does not exist)"))
        for name in sorted(names):
            path = Path(folder) / name
            suffix = path.suffix.lower()
            if os.path.normpath(str(path)) in seen:
                continue
            if suffix in AUDIO_LIKE and is_macos_metadata(path, root):
                found.append(Skipped(path, MACOS_REASON))
            elif path.is_symlink() and not path.exists():
                if suffix in AUDIO_LIKE or not suffix:
                    found.append(Skipped(path, f"dangling symbolic link to {os.readlink(path)} (target missing)"))
            elif suffix in AUDIO_LIKE and suffix not in read:
                found.append(Skipped(path, f"ignored: not {'/'.join(sorted(read))} (this corpus's audio format)"))
            elif suffix in read and path.is_file():
                found.append(Skipped(path, outside))
    return sorted(found, key=lambda s: str(s.path))
