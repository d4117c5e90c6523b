"""Oréau (French): ``OréauFR_02/{f|m}/sess{c,d,j,n,p,s,t}/SSxNNEv.wav``; version 1 is ``OréauFR_01/``."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._folders import locate
from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.cafe import FRENCH_INITIALS
from extract.corpora.base import (
    AUDIO_SUFFIXES, CorpusError, CorpusInfo, Scan, Skipped, nfc, utterance_id,
)

GENDERS: tuple[str, ...] = ("f", "m")

INFO = CorpusInfo(
    key="oreau",
    name="Oréau (French emotional speech database)",
    language="fr",
    labels=FRENCH_INITIALS,  # the same codes as CaFE
    expected_files=434,
    expected_speakers=32,
    access="open",
    url="https://zenodo.org/record/4405783",
    notes=(
        "Version 2 (OréauFR_02, 434 files) is the perceptually validated subset of version 1 (OréauFR_01, "
        "502 files); the two are never mixed. If both are under the root, version 2 is used and every "
        "version-1 file is reported as skipped; scan(root, version=1) selects version 1 instead. The 'é' of "
        "the folder is stored composed or decomposed (or damaged by the unzip tool): folder names are matched "
        "loosely and ids are NFC. Names are SSxNNEv: SS speaker, E emotion; gender comes from the f/m folder. "
        "44.1 kHz, possibly stereo."
    ),
)

VERSION_FOLDER = re.compile(r"or.{1,6}aufr_0?(?P<version>[12])", re.IGNORECASE)
NAME = re.compile(r"(?P<spk>\d{2})[A-Za-z](?P<sentence>\d{2})(?P<emo>[A-Za-z])[A-Za-z]?")


def folder_version(name: str) -> int | None:
    """The Oréau version a folder name stands for (``OréauFR_02`` -> 2), whatever happened to its ``é``."""
    found = VERSION_FOLDER.fullmatch(nfc(name))
    return int(found["version"]) if found else None


def file_version(uid: str, root: Path) -> int | None:
    """The version of the file with id ``uid``: its ``OréauFR_0x`` folder, else the root's own name."""
    for part in uid.split("/")[:-1]:
        version = folder_version(part)
        if version is not None:
            return version
    return folder_version(root.name)


def parse(uid: str) -> Fields:
    """Emotion and speaker of one Oréau utterance id from its file name; gender from its f/m folder."""
    found = match(NAME, uid, "Oréau's SSxNNEv pattern (e.g. 10a01Ca)")
    parts = uid.split("/")
    gender = parts[-3].lower() if len(parts) >= 3 and parts[-3].lower() in GENDERS else ""
    return Fields(code=found["emo"].upper(), speaker=found["spk"], gender=gender)


# Plain-ASCII forms of the folder names (see extract.corpora._folders.plain): the 'é' may be dropped or damaged.
_VERSION_LEVEL = r"or[a-z]{0,2}aufr_0?[12]"
# ``OréauFR_0x/{f|m}/sess<e>/``; a copy whose version folder was renamed keeps ``{f|m}/sess<e>/``.
LAYOUT = Layout(
    folders=((_VERSION_LEVEL, r"f|m", r"sess[a-z]"), (r"f|m", r"sess[a-z]")),
    shown="OréauFR_0x/<f|m>/sess<e>/",
)


def scan(root: Path, version: int | None = None) -> Scan:
    """Every Oréau utterance of one version under ``root``; ``version=None`` takes the newest one present. Only
    the ``sess<e>/`` folders of the layout are read; audio elsewhere is named as skipped."""
    found = locate(root, LAYOUT, AUDIO_SUFFIXES)
    files = found.files
    versions = {path: file_version(utterance_id(path, root), root) for path in files}
    present = sorted({v for v in versions.values() if v is not None})
    if not present:  # no OréauFR_0x folder at all (renamed by the user): take the files as they are
        return scan_files(root, INFO, parse, files=files, outside=found.outside, notes=found.notes)
    if version is not None and version not in present:
        raise CorpusError(f"Oréau version {version!r} asked for; found only version(s) {present} under {root}")
    chosen = version if version is not None else present[-1]
    kept = [path for path in files if versions[path] == chosen]
    skipped = [Skipped(p, _version_reason(versions[p], chosen)) for p in files if versions[p] != chosen]
    return scan_files(root, INFO, parse, files=kept, skipped=skipped, outside=found.outside, notes=found.notes)


def _version_reason(found: int | None, chosen: int) -> str:
    """Why a file outside the chosen version is not used."""
    if found is None:
        return f"not inside an OréauFR_0{chosen} folder (Oréau version {chosen} is used)"
    return f"Oréau version {found} file: version {chosen} is used, and the two versions are never mixed"
