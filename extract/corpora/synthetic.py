"""The synthetic demo corpus rendered by ``probe synth`` (:mod:`extract.synth`): eSpeak NG voices in eight languages.

Layout: ``<lang>/<lang>-<variant>/<emotion>_<sentence>_<take>.wav``, e.g. ``it/it-m3/anger_00_0.wav``. The label is
the file name's emotion, the speaker the folder (``it-m3``), the gender the variant's letter (``f``/``m``).
"""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._folders import Layout, locate
from extract.corpora._scan import Unusable, lookup, sweep, walk
from extract.corpora.base import AUDIO_SUFFIXES, CorpusInfo, Scan
from extract.labels import FOUR_CLASS

INFO = CorpusInfo(
    key="synthetic",
    name="Synthetic eSpeak NG emotional speech (ser-probe demo)",
    language="multi",
    labels={label: label for label in FOUR_CLASS},
    expected_files=None,  # depends on the `probe synth` settings (384 clips by default)
    expected_speakers=None,
    access="open",
    url="generated locally: probe synth --out DIR",
    notes=(
        "Emotions rendered as eSpeak NG prosody profiles (pitch, pitch range, rate, loudness, word gaps) with per-clip "
        "variation, per-speaker offsets and background noise; it, de, fr, es, el, fa, ar, en. For tests and the demo, "
        "not a substitute for acted speech."
    ),
)

_NAME = re.compile(r"(?P<emotion>[a-z]+)_(?P<sentence>\d+)_(?P<take>\d+)")
_SPEAKER = re.compile(r"(?P<lang>[a-z]{2,3})-(?P<variant>[a-z]+\d*)")
_LAYOUT = "<lang>/<lang>-<variant>/<emotion>_<sentence>_<take>.wav"


def parse(uid: str) -> tuple[str, str, str, str]:
    """Label, speaker, gender and recording key of one utterance id such as ``it/it-m3/anger_00_0``; speakers
    keep their voice name (``it-m3``), which is already unique and matches the rendered manifest.csv."""
    parts = uid.split("/")
    if len(parts) != 3:
        raise Unusable(f"not at {_LAYOUT}")
    lang, speaker, name = parts
    voice = _SPEAKER.fullmatch(speaker)
    found = _NAME.fullmatch(name)
    if voice is None or found is None or voice["lang"] != lang:
        raise Unusable(f"name does not follow {_LAYOUT}")
    variant = voice["variant"]
    gender = variant[0] if variant[0] in ("f", "m") and variant[1:].isdigit() else ""
    return lookup(INFO.labels, found["emotion"]), speaker, gender, ""


def language_of(uid: str) -> str:
    """The language (ISO 639-1) of utterance ``uid``: its first path component (``it/it-m3/anger_00_0`` → ``it``).
    Lets the demo's eight languages be treated as corpora of their own (``probe transfer --group-by language``)."""
    lang = uid.split("/", 1)[0]
    if not re.fullmatch(r"[a-z]{2,3}", lang):
        raise Unusable(f"{uid!r}: no language at {_LAYOUT}")
    return lang


# ``<lang>/<lang>-<variant>/``, exactly under the root (ids are read relative to it).
LAYOUT = Layout(folders=((r"[a-z]{2,3}", r"[a-z]{2,3}-[a-z]+\d*"),), shown="<lang>/<lang>-<variant>/", wrappers=0,
                root_inside=False)


def scan(root: Path) -> Scan:
    """Every clip of a corpus written by :func:`extract.synth.render_corpus` under ``root``; audio outside its
    ``<lang>/<lang>-<variant>/`` folders is named as skipped."""
    root = Path(root)
    found = locate(root, LAYOUT, AUDIO_SUFFIXES)
    scan = walk(root, found.files, parse)
    scan.skipped.extend(sweep(root, scan, AUDIO_SUFFIXES, found.outside or "ignored: outside the corpus's audio "
                                                                           "folders"))
    scan.notes.extend(found.notes)
    return scan
