"""CaFE, the Canadian French Emotional speech dataset: ``AA-E-I-S.wav`` (48 kHz) or ``.aiff`` (192 kHz)."""

from __future__ import annotations

import re
from pathlib import Path

from extract.corpora._scan import Fields, Layout, match, scan_files
from extract.corpora.base import CorpusInfo, Scan

# Emotion codes = French initials (Colère, Dégoût, Joie, Neutre, Peur, Surprise, Tristesse); Oréau uses them too.
FRENCH_INITIALS: dict[str, str] = {
    "C": "anger",
    "D": "disgust",
    "J": "happiness",
    "N": "neutral",
    "P": "fear",
    "S": "surprise",
    "T": "sadness",
}

INFO = CorpusInfo(
    key="cafe",
    name="CaFE (Canadian French Emotional speech dataset)",
    language="fr-CA",
    labels=FRENCH_INITIALS,
    expected_files=936,
    expected_speakers=12,
    access="open",
    url="https://zenodo.org/record/1478765",
    notes=(
        "Two versions: 48 kHz .wav and 192 kHz .aiff; use one (if both are under the root, the second copy of "
        "each recording is skipped as a duplicate). Names are AA-E-I-S (speaker, emotion, intensity 1 low / "
        "2 high, sentence 1-6); neutral is AA-N-1-S in the .wav version and AA-N-S in the .aiff version. "
        "Odd speakers are male, even female. The zip stores accented folder names (Colère, Dégoût) in an old DOS "
        "code page, so they unzip as 'ColŠre', 'ColКre' or raw bytes: folders are never used. "
        "936 = 12 x (6 emotions x 2 intensities x 6 sentences + 6 neutral)."
    ),
    expected_per_label={
        "anger": 144,
        "disgust": 144,
        "fear": 144,
        "happiness": 144,
        "sadness": 144,
        "surprise": 144,
        "neutral": 72,
    },
)

# "03-C-2-5" (speaker, emotion, intensity, sentence) or, in the 192 kHz neutral files, "03-N-5".
_NAME = re.compile(r"(?P<speaker>\d{2})-(?:(?P<code>[A-Z])-(?P<intensity>[12])|(?P<neutral>N))-(?P<sentence>[1-6])")


def parse(uid: str) -> Fields:
    """Fields of a CaFE utterance id, from its file name such as ``03-C-2-5``, ``03-N-1-5`` or ``03-N-5``."""
    found = match(_NAME, uid, "'AA-E-I-S' (or 'AA-N-S' for 192 kHz neutral files)")
    code = found["code"] or found["neutral"]
    intensity = found["intensity"] or "1"
    speaker = found["speaker"]
    gender = "m" if int(speaker) % 2 else "f"
    recording = f"{speaker}-{code}-{intensity}-{found['sentence']}"
    return Fields(code=code, speaker=speaker, gender=gender, recording=recording)


# Emotion folders by their plain-ASCII form: accented letters dropped or damaged ("Colre", "Colere", "Dgot").
_EMOTION_FOLDER = r"col(e)?re|d(e)?go(u)?t|joie|neutre|peur|surprise|tristesse"
# ``<Émotion>/<Faible|Fort>/`` and the flat ``Neutre/`` (files directly in an emotion folder are read too).
LAYOUT = Layout(
    folders=((_EMOTION_FOLDER,), (_EMOTION_FOLDER, r"faible|fort")),
    shown="<Émotion>/<Faible|Fort>/ and Neutre/",
)


def scan(root: Path) -> Scan:
    """Every CaFE recording under ``root``, either version; damaged folder names do not matter."""
    return scan_files(root, INFO, parse, unique_names=True, layout=LAYOUT)
