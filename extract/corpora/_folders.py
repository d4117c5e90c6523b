"""Where a corpus's audio is: the audio folders of its official layout, found tolerantly under the root.

A loader declares a :class:`Layout`: the folder paths that hold its audio as distributed, each level a regular
expression matched in full, case-insensitively, against the folder name's plain-ASCII form (:func:`plain`, so an
``é`` stored composed, decomposed or damaged by an unzip tool all match). ``()`` is the corpus folder itself (a flat
corpus). :func:`locate` reads the audio files directly inside those folders, nothing else:

* the corpus folder is the root, or a folder up to ``wrappers`` levels below it (a zip's top folder such as
  ``Audio_Speech_Actors_01-24/``); the shallowest level where the layout is found wins, and every corpus folder
  at that level is read (two versions side by side). The root may also be one of the layout's own folders
  (``.../wav`` for EmoDB, ``OréauFR_02``);
* every audio file anywhere else (a mirror copy ``wav_copy/``, EmoDB's ``silb/``, a nested second copy of the
  actor folders) is not read: :func:`extract.corpora._scan.sweep` names it with :attr:`Located.outside`;
* where the layout is found nowhere, every folder is read, as before, and a note says so.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from extract.corpora.base import CorpusError, escape_undecodable, find_audio, nfc

__all__ = ["Layout", "Located", "locate", "plain"]

_ESCAPE = re.compile(r"\\x[0-9a-fA-F]{2}")
_SKIPPED_DIRS = ("__MACOSX",)


def plain(name: str) -> str:
    """A folder name reduced to plain ASCII for matching: every other character dropped, so that an accented
    letter stored composed (``Colère`` -> ``Colre``), decomposed (-> ``Colere``) or damaged by an unzip tool
    (``ColŠre``, ``ColКre``, raw bytes -> ``Colre``) leaves one of two forms a pattern can allow for."""
    return "".join(ch for ch in _ESCAPE.sub("", escape_undecodable(name)) if ch.isascii())


@dataclass(frozen=True)
class Layout:
    """The audio folders of a corpus as distributed, below its corpus folder."""

    folders: tuple[tuple[str, ...], ...]  # one regex per folder level; () is the corpus folder itself
    shown: str  # how messages write them, e.g. "wav/" or "Actor_NN/"
    wrappers: int = 2  # folder levels the corpus folder may sit below the root
    root_inside: bool = True  # the root may itself be one of the layout's folders (``.../wav``)
    compiled: tuple[tuple[re.Pattern[str], ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple(tuple(re.compile(level, re.IGNORECASE) for level in path) for path in self.folders)
        object.__setattr__(self, "compiled", patterns)


@dataclass
class Located:
    """What :func:`locate` found: the audio files to read, the reason for audio elsewhere, notes."""

    files: list[Path]
    outside: str = ""  # the skip reason of a read-format audio file outside ``folders``
    notes: list[str] = field(default_factory=list)


def _subdirs(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` (symbolic links to folders included), sorted; none when it cannot be listed
    (the sweep reports such a folder)."""
    try:
        with os.scandir(folder) as entries:
            found = [Path(e.path) for e in entries if e.is_dir() and e.name not in _SKIPPED_DIRS]
    except OSError:
        return []
    return sorted(found, key=lambda p: nfc(p.name))


def _audio_in(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Audio files of the read formats directly inside ``folder``, sorted by NFC path."""
    wanted = {s.lower() for s in suffixes}
    try:
        with os.scandir(folder) as entries:
            found = [Path(e.path) for e in entries if os.path.splitext(e.name)[1].lower() in wanted and e.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: nfc(p.as_posix()))


def _expand(base: Path, path: tuple[re.Pattern[str], ...]) -> list[Path]:
    """The folders below ``base`` whose successive names match ``path`` (``base`` itself for ``()``)."""
    found = [base]
    for level in path:
        found = [sub for folder in found for sub in _subdirs(folder) if level.fullmatch(plain(sub.name))]
    return found


def _inside(root: Path, path: tuple[re.Pattern[str], ...]) -> list[Path]:
    """The layout folders below ``root`` when the root itself is at some level of ``path`` (its name and its
    parents' names match the path's first levels)."""
    found: list[Path] = []
    spellings = {tuple(p.name for p in [where, *where.parents]) for where in (root.absolute(), root.resolve())}
    for depth in range(1, len(path) + 1):
        if any(depth <= len(names) and all(path[depth - 1 - i].fullmatch(plain(names[i])) for i in range(depth))
               for names in spellings):
            found += _expand(root, path[depth:])
    return found


def _bases(root: Path, depth: int) -> list[Path]:
    """The folders exactly ``depth`` levels below ``root`` (hidden and macOS metadata folders left out)."""
    level = [root]
    for _ in range(depth):
        level = [sub for folder in level for sub in _subdirs(folder) if not sub.name.startswith(".")]
    return level


def _describe(root: Path, layout: Layout, bases: list[Path]) -> str:
    """Where the audio was read, for the reason given to audio found elsewhere: ``wav/``, ``wav/ under EmoDB/``."""
    under = [nfc(escape_undecodable(b.relative_to(root).as_posix())) for b in bases if b != root]
    if not under:
        return layout.shown
    shown = ", ".join(f"{u}/" for u in under[:3]) + (f" and {len(under) - 3} more" if len(under) > 3 else "")
    return f"{layout.shown} under {shown}"


def locate(root: Path, layout: Layout, suffixes: tuple[str, ...]) -> Located:
    """The audio files of the read ``suffixes`` directly inside the corpus's audio folders under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"corpus root {root} does not exist or is not a directory")
    for depth in range(layout.wrappers + 1):
        bases = _bases(root, depth)
        chosen: dict[Path, list[Path]] = {}  # base -> its audio folders holding audio
        for base in bases:
            candidates = [f for path in layout.compiled for f in _expand(base, path)]
            if depth == 0 and layout.root_inside:
                candidates += [f for path in layout.compiled for f in _inside(root, path)]
            holding = [f for f in dict.fromkeys(candidates) if _audio_in(f, suffixes)]
            if holding:
                chosen[base] = holding
        if chosen:
            folders = [f for held in chosen.values() for f in held]
            files = sorted({p for f in folders for p in _audio_in(f, suffixes)}, key=lambda p: nfc(p.as_posix()))
            where = _describe(root, layout, list(chosen))
            return Located(files, f"ignored: outside the corpus's audio folders ({where})")
    files = find_audio(root, suffixes)
    note = (f"no audio folder of the expected layout ({layout.shown}) found under {root}: every folder under it is "
            "read, mirror copies included (duplicates of one id are still reported)")
    return Located(files, "", [note] if files else [])
