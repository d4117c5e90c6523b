"""IEMOCAP (English): audio in ``Session{n}/sentences/wav/<dialog>/<utt>.wav``, labels in
``Session{n}/dialog/EmoEvaluation/<dialog>.txt`` (the one corpus whose labels are not in its file names)."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

from extract.corpora._scan import Fields, Unusable, match, scan_files, stem
from extract.corpora.base import CorpusError, CorpusInfo, Scan, find_audio

SESSION = re.compile(r"Session[1-5]")
# "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]"
LINE = re.compile(r"\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utt>Ses\S+)\s+(?P<emo>\S+)\s+\[")
# Ses01F_impro04_M003: session Ses01, dialog led by F, utterance spoken by M (the letter that counts).
UTTERANCE = re.compile(r"(?P<session>Ses\d{2})[FM]_\S+_(?P<speaker>[FM])\d+")
NO_CANONICAL: dict[str, str] = {"fru": "frustration", "oth": "other", "xxx": "no majority agreement"}

INFO = CorpusInfo(
    key="iemocap",
    name="IEMOCAP (Interactive Emotional Dyadic Motion Capture database)",
    language="en",
    labels={
        "neu": "neutral",
        "hap": "happiness",
        "exc": "happiness",
        "ang": "anger",
        "sad": "sadness",
        "sur": "surprise",
        "fea": "fear",
        "dis": "disgust",
    },
    expected_files=5680,
    expected_speakers=10,
    expected_per_label={
        "neutral": 1708,
        "happiness": 1636,
        "anger": 1103,
        "sadness": 1084,
        "surprise": 107,
        "fear": 40,
        "disgust": 2,
    },
    access="request",
    url="https://sail.usc.edu/iemocap/",
    english=True,
    notes=(
        "Labels come from Session{n}/dialog/EmoEvaluation/<dialog>.txt (majority label per utterance), not from "
        "file names. Excitement (exc) is merged into happiness, as in the standard 4-class set; classes='4' "
        "gives the usual 5531 utterances (neu 1708, hap+exc 1636, ang 1103, sad 1084). Surprise, fear and "
        "disgust are kept in the full set; fru, oth and xxx have no canonical label and are reported as "
        "skipped. Speaker = SesNN + the first letter of the last '_' field of the utterance id "
        "(Ses01F_impro04_M003 -> Ses01M), not the dialog's letter; 10 speakers, and the session (the usual "
        "cross-validation fold) is the speaker id's SesNN. Point the root at IEMOCAP_full_release."
    ),
)


def sessions(root: Path) -> list[Path]:
    """The ``Session1`` ... ``Session5`` folders directly under ``root``."""
    if not root.is_dir():
        raise CorpusError(f"corpus root {root} does not exist or is not a directory")
    found = sorted(p for p in root.iterdir() if p.is_dir() and SESSION.fullmatch(p.name))
    if not found:
        raise CorpusError(f"no Session1..Session5 folder under {root}: point the root at IEMOCAP_full_release")
    return found


def read_labels(session: Path) -> dict[str, str]:
    """Utterance id -> IEMOCAP label code, from one session's ``dialog/EmoEvaluation/*.txt`` files."""
    labels: dict[str, str] = {}
    for path in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
        if path.name.startswith("._"):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            found = LINE.match(line)
            if found:
                labels[found["utt"]] = found["emo"]
    return labels


def parse(uid: str, labels: dict[str, str]) -> Fields:
    """Label code (from ``labels``: utterance -> IEMOCAP code), speaker and gender of one IEMOCAP utterance id."""
    found = match(UTTERANCE, uid, "IEMOCAP's SesNN<F|M>_<dialog>_<F|M>NNN")
    code = labels.get(stem(uid))
    if code is None:
        raise Unusable("no label line for this utterance in dialog/EmoEvaluation/*.txt")
    if code in NO_CANONICAL:
        raise Unusable(f"label {code!r} ({NO_CANONICAL[code]}) has no canonical label")
    letter = found["speaker"]
    return Fields(code=code, speaker=found["session"] + letter, gender=letter.lower())


def scan(root: Path) -> Scan:
    """Every IEMOCAP utterance with a canonical label under ``root`` (the ``IEMOCAP_full_release`` folder)."""
    labels: dict[str, str] = {}
    files: list[Path] = []
    notes: list[str] = []
    for session in sessions(root):
        labels.update(read_labels(session))
        audio = session / "sentences" / "wav"
        if audio.is_dir():
            files.extend(find_audio(audio))
        else:
            notes.append(f"{session} has no sentences/wav folder; no audio read from it")
    return scan_files(root, INFO, partial(parse, labels=labels), files=files, unique_names=True, notes=notes,
                      outside="ignored: not an utterance clip (IEMOCAP's are in Session*/sentences/wav/)")
