"""A deterministic synthetic emotional-speech corpus rendered with eSpeak NG (for tests and the demo).

eSpeak NG comes from the ``espeakng-loader`` wheel (library plus voice data, no system package) and is driven
through ``ctypes`` in synchronous mode, a synth callback collecting the 16-bit samples in memory. The library keeps
state between utterances, so each utterance is synthesised by a freshly forked copy of a pristine engine (see
:class:`_Espeak`): the same call always gives the same samples.

Emotion classes are prosody profiles (pitch, pitch range, speaking rate, loudness, pauses between words). Every clip
draws its own variation of each parameter around its class profile, every speaker (an eSpeak voice variant such as
``it+m3``) has fixed offsets, and each clip gets a recording gain and coloured background noise at a random SNR, so
the classes overlap: a fair, non-trivial task. All randomness is seeded per clip from the corpus seed and the clip's
key, so the same arguments give byte-identical WAV files, and a clip does not depend on which other clips are made.

Layout under ``out``::

    <lang>/<lang>-<variant>/<emotion>_<sentence:02d>_<take>.wav   16 kHz mono PCM-16
    manifest.csv    id, path (relative), label, speaker, gender, language, text, seconds
    corpus.json     generator, parameters (incl. seed and profiles), voices, totals

>>> from extract.synth import render_corpus, speak
>>> frame = render_corpus(Path("data/synthetic"))          # DEFAULT_CLIPS clips, ~10 s on 2 cores
>>> audio, sr = speak("Good morning.", "en", voice="f2")   # float32 at eSpeak's native rate
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from extract.labels import FOUR_CLASS

if TYPE_CHECKING:  # numpy, pandas, soundfile and soxr load in the functions that render: `probe --help` needs none
    import numpy as np
    import pandas as pd

SAMPLE_RATE = 16000
"""Sample rate of the rendered corpus (Hz)."""

SYNTH_VERSION = 1
"""Bumped whenever a change in this module changes the rendered audio (invalidates resumed corpora)."""

LANGUAGES: tuple[str, ...] = ("it", "de", "fr", "es", "el", "fa", "ar", "en")
"""The eight languages of the benchmark, as eSpeak NG voice names (ISO 639-1)."""

LANGUAGE_NAMES: dict[str, str] = {
    "it": "Italian",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "el": "Greek",
    "fa": "Persian",
    "ar": "Arabic",
    "en": "English",
}

# Short sentences with neutral content, native script; sentence i means roughly the same in every language.
SENTENCES: dict[str, tuple[str, ...]] = {
    "it": (
        "Il treno parte alle otto di mattina.",
        "Domani porto i libri in biblioteca.",
        "La riunione è stata spostata a giovedì.",
        "Ho lasciato le chiavi sul tavolo della cucina.",
        "Il negozio chiude alle sette di sera.",
        "Abbiamo comprato una lampada nuova per lo studio.",
        "La lettera è arrivata questa mattina.",
        "Il pacco è sulla sedia vicino alla porta.",
    ),
    "de": (
        "Der Zug fährt um acht Uhr morgens ab.",
        "Morgen bringe ich die Bücher in die Bibliothek.",
        "Die Besprechung wurde auf Donnerstag verschoben.",
        "Ich habe die Schlüssel auf den Küchentisch gelegt.",
        "Das Geschäft schließt um sieben Uhr abends.",
        "Wir haben eine neue Lampe für das Arbeitszimmer gekauft.",
        "Der Brief ist heute Morgen angekommen.",
        "Das Paket liegt auf dem Stuhl neben der Tür.",
    ),
    "fr": (
        "Le train part à huit heures du matin.",
        "Demain, je rapporte les livres à la bibliothèque.",
        "La réunion a été déplacée à jeudi.",
        "J'ai laissé les clés sur la table de la cuisine.",
        "Le magasin ferme à sept heures du soir.",
        "Nous avons acheté une nouvelle lampe pour le bureau.",
        "La lettre est arrivée ce matin.",
        "Le colis est sur la chaise près de la porte.",
    ),
    "es": (
        "El tren sale a las ocho de la mañana.",
        "Mañana llevo los libros a la biblioteca.",
        "La reunión se ha cambiado al jueves.",
        "He dejado las llaves en la mesa de la cocina.",
        "La tienda cierra a las siete de la tarde.",
        "Hemos comprado una lámpara nueva para el despacho.",
        "La carta llegó esta mañana.",
        "El paquete está en la silla junto a la puerta.",
    ),
    "el": (
        "Το τρένο φεύγει στις οκτώ το πρωί.",
        "Αύριο θα πάω τα βιβλία στη βιβλιοθήκη.",
        "Η συνάντηση μεταφέρθηκε την Πέμπτη.",
        "Άφησα τα κλειδιά στο τραπέζι της κουζίνας.",
        "Το κατάστημα κλείνει στις επτά το βράδυ.",
        "Αγοράσαμε μια καινούργια λάμπα για το γραφείο.",
        "Το γράμμα έφτασε σήμερα το πρωί.",
        "Το δέμα είναι στην καρέκλα δίπλα στην πόρτα.",
    ),
    "fa": (
        "قطار ساعت هشت صبح حرکت می‌کند.",
        "فردا کتاب‌ها را به کتابخانه می‌برم.",
        "جلسه به روز پنجشنبه منتقل شد.",
        "کلیدها را روی میز آشپزخانه گذاشتم.",
        "فروشگاه ساعت هفت عصر بسته می‌شود.",
        "یک چراغ تازه برای اتاق کار خریدیم.",
        "نامه امروز صبح رسید.",
        "بسته روی صندلی کنار در است.",
    ),
    "ar": (
        "يغادر القطار في الساعة الثامنة صباحا.",
        "سآخذ الكتب إلى المكتبة غدا.",
        "تم تأجيل الاجتماع إلى يوم الخميس.",
        "تركت المفاتيح على طاولة المطبخ.",
        "يغلق المتجر في الساعة السابعة مساء.",
        "اشترينا مصباحا جديدا للمكتب.",
        "وصلت الرسالة هذا الصباح.",
        "الطرد على الكرسي بجانب الباب.",
    ),
    "en": (
        "The train leaves at eight in the morning.",
        "Tomorrow I will take the books to the library.",
        "The meeting has been moved to Thursday.",
        "I left the keys on the kitchen table.",
        "The shop closes at seven in the evening.",
        "We bought a new lamp for the study.",
        "The letter arrived this morning.",
        "The parcel is on the chair next to the door.",
    ),
}

VOICE_POOL: tuple[str, ...] = ("m3", "f1", "m1", "f4", "m7", "f1", "m5", "f4", "m2", "f1", "m4", "f4", "m6", "m8")
"""eSpeak NG voice variants used as speakers (``m*`` male, ``f*`` female).

Language ``i`` of :data:`LANGUAGES` takes ``n`` distinct variants going round the pool from index ``i``; f1 and f4
recur every four places so that every language gets a female voice. Only variants without ``breath`` are used:
eSpeak adds breath noise (f2, f3, f5, ...) from a generator seeded per process, so those clips are not
reproducible between two renders.
"""

DEFAULT_SPEAKERS = 3
DEFAULT_SENTENCES = 4
DEFAULT_TAKES = 1
DEFAULT_CLIPS = len(LANGUAGES) * DEFAULT_SPEAKERS * DEFAULT_SENTENCES * DEFAULT_TAKES * len(FOUR_CLASS)
"""Size of the default corpus: 8 languages x 3 speakers x 4 sentences x 1 take x 4 emotions = 384 clips
(about 17 minutes of audio, 1.5 to 5 s per clip, 2.7 s on average; rendered in about 10 s on 2 CPU cores), sized
so the demo extracts it with a tiny Whisper in minutes on 2 CPU cores."""

SNR_DB: tuple[float, float] = (10.0, 30.0)
"""Range of the background-noise SNR (dB, uniform per clip)."""

GAIN_DB: tuple[float, float] = (-4.0, 3.0)
"""Range of the per-clip recording gain (dB, uniform), blurring the loudness cue."""

PAD_S: tuple[float, float] = (0.05, 0.25)
"""Range of the silence (noise only) before and after the speech (seconds, uniform, each side)."""

ESPEAK_LIMITS: dict[str, tuple[int, int]] = {
    "pitch": (0, 100),
    "pitch_range": (0, 100),
    "rate": (80, 450),
    "volume": (10, 200),
    "word_gap": (0, 20),
}


@dataclass(frozen=True)
class Prosody:
    """eSpeak NG prosody parameters: pitch and pitch range 0-100 (50 = voice default), rate in words per minute
    (175 default), volume 0-200 (100 default), extra pause between words in units of 10 ms."""

    pitch: float
    pitch_range: float
    rate: float
    volume: float
    word_gap: float = 0.0


PROFILES: dict[str, Prosody] = {
    "neutral": Prosody(pitch=48, pitch_range=40, rate=168, volume=100, word_gap=0),
    "anger": Prosody(pitch=58, pitch_range=68, rate=192, volume=145, word_gap=0),
    "happiness": Prosody(pitch=66, pitch_range=82, rate=180, volume=118, word_gap=0),
    "sadness": Prosody(pitch=38, pitch_range=18, rate=138, volume=80, word_gap=2),
}
"""Class profiles: anger = loud, fast, raised and wide pitch; happiness = highest and widest pitch, a little fast and
loud; sadness = low, flat, slow, quiet, with pauses between words; neutral = near the voice defaults."""

CLIP_JITTER = Prosody(pitch=6, pitch_range=10, rate=12, volume=14, word_gap=1.0)
"""Standard deviation of the per-clip variation of each parameter (normal, clipped to eSpeak's limits)."""

SPEAKER_OFFSET = Prosody(pitch=6, pitch_range=8, rate=12, volume=10, word_gap=0.0)
"""Standard deviation of each speaker's fixed offset added to every profile (normal, drawn once per speaker)."""


class SynthError(RuntimeError):
    """eSpeak NG cannot be used, or a corpus cannot be rendered as asked."""


# --------------------------------------------------------------------------------------------- eSpeak NG binding
#
# libespeak-ng keeps synthesis state in static variables that no API call resets (pitch-flutter phase, automatic gain,
# echo buffer, noise generator), so the same text rendered twice in one process gives slightly different samples.
# For byte-identical output every utterance is therefore synthesised from a pristine engine: a small stdlib-only
# worker process loads and initialises the library once, then forks a child per utterance (the child synthesises,
# sends the samples back and exits). A crash inside the library cannot take the caller down either. Where fork is
# unavailable (Windows) the worker is restarted after every utterance instead (slower, same result).

_WORKER_SOURCE = r'''
import ctypes, json, os, sys

def main():
    lib_path, data_path = sys.argv[1], sys.argv[2]
    inp, out = sys.stdin.buffer, sys.stdout.buffer

    def reply(header, payload=b""):
        out.write(json.dumps(header).encode() + b"\n" + payload)
        out.flush()

    try:
        lib = ctypes.CDLL(lib_path)
    except OSError as exc:
        reply({"ok": False, "error": "cannot load the library: %s" % exc})
        return
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [callback_type]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    rate = lib.espeak_Initialize(2, 0, data_path.encode(), 0x8000)  # synchronous output, don't exit on error
    if rate <= 0:
        reply({"ok": False, "error": "espeak_Initialize returned %d" % rate})
        return
    chunks = []

    def collect(wav, count, events):
        if count > 0 and wav:
            chunks.append(ctypes.string_at(wav, 2 * count))
        return 0

    keep = callback_type(collect)
    lib.espeak_SetSynthCallback(keep)
    reply({"ok": True, "sample_rate": rate, "version": (lib.espeak_Info(None) or b"?").decode()})

    def synth(request):
        err = lib.espeak_SetVoiceByName(request["voice"].encode())
        if err != 0:
            return {"ok": False, "error": "no voice %r (espeak error %d)" % (request["voice"], err)}, b""
        for key, value in request["params"]:
            lib.espeak_SetParameter(key, value, 0)
        text = request["text"].encode("utf-8")
        err = lib.espeak_Synth(text, len(text) + 1, 0, 1, 0, 1, None, None)  # character positions, UTF-8
        if err != 0:
            return {"ok": False, "error": "espeak_Synth returned %d" % err}, b""
        data = b"".join(chunks)
        return {"ok": True, "bytes": len(data)}, data

    for line in inp:
        request = json.loads(line)
        if not hasattr(os, "fork"):
            header, data = synth(request)
            reply(header, data)
            return
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            try:
                header, data = synth(request)
            except BaseException as exc:
                header, data = {"ok": False, "error": repr(exc)}, b""
            message = json.dumps(header).encode() + b"\n" + data
            view = memoryview(message)
            while view:
                view = view[os.write(wfd, view):]
            os._exit(0)
        os.close(wfd)
        with os.fdopen(rfd, "rb") as pipe:
            message = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or b"\n" not in message:
            reply({"ok": False, "error": "the synthesis process died (wait status %d)" % status})
        else:
            out.write(message)
            out.flush()

main()
'''

_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "pitch_range": 4, "word_gap": 7}


class _Espeak:
    """Client of the eSpeak NG worker process (one per process, calls serialised by a lock)."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - a declared dependency
            raise SynthError("the `espeakng-loader` package is needed: pip install espeakng-loader") from exc
        self.library_path = espeakng_loader.get_library_path()
        try:
            self.data_path = espeakng_loader.get_data_path()
        except RuntimeError as exc:
            raise SynthError(f"eSpeak NG voice data not found: {exc}") from exc
        self.lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner = 0
        self.sample_rate = 0
        self.version = ""
        with self.lock:
            self._start()

    def _where(self) -> str:
        return f"library {self.library_path}, data path {self.data_path}"

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER_SOURCE, self.library_path, self.data_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._owner = os.getpid()
        header = self._read_header()
        if not header.get("ok"):
            self._stop()
            raise SynthError(f"eSpeak NG failed to initialise ({self._where()}): {header.get('error')}")
        self.sample_rate = int(header["sample_rate"])
        self.version = str(header["version"])

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and self._owner == os.getpid():
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _read_header(self) -> dict:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.poll()
            self._proc = None
            raise SynthError(f"the eSpeak NG worker exited unexpectedly (exit code {code}; {self._where()})")
        return json.loads(line)

    def synth(self, text: str, voice: str, params: dict[str, int]) -> np.ndarray:
        """Synthesise ``text`` with eSpeak voice ``voice`` (e.g. ``"it+m3"``): int16 samples at the native rate."""
        import numpy as np

        request = {"voice": voice, "text": text, "params": [[_PARAMS[k], int(v)] for k, v in params.items()]}
        with self.lock:
            if self._proc is None or self._owner != os.getpid() or self._proc.poll() is not None:
                self._proc = None  # a forked copy of this process must not share the parent's pipes
                self._start()
            assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
            try:
                self._proc.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                self._proc = None
                raise SynthError(f"the eSpeak NG worker is gone ({exc}; {self._where()})") from exc
            header = self._read_header()
            data = self._proc.stdout.read(int(header.get("bytes", 0))) if header.get("ok") else b""
            if not hasattr(os, "fork"):
                self._stop()  # one utterance per worker where children cannot be forked
        if not header.get("ok"):
            raise SynthError(f"eSpeak NG failed on {text!r} with voice {voice!r}: {header.get('error')}")
        return np.frombuffer(data, dtype="<i2").astype(np.int16)

    def close(self) -> None:
        with self.lock:
            self._stop()


_ENGINE: _Espeak | None = None
_ENGINE_LOCK = threading.Lock()


def _engine() -> _Espeak:
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = _Espeak()
            atexit.register(_ENGINE.close)
        return _ENGINE


def espeak_version() -> str:
    """Version of the bundled eSpeak NG library (initialises it)."""
    return _engine().version


def espeak_sample_rate() -> int:
    """eSpeak NG's native output rate in Hz (22050 for the bundled voices)."""
    return _engine().sample_rate


@functools.lru_cache(maxsize=1)
def _variants(data_path: str) -> tuple[str, ...]:
    folder = Path(data_path) / "voices" / "!v"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))


def available_variants() -> list[str]:
    """The voice variants (e.g. ``m3``, ``f2``) in the bundled voice data."""
    return list(_variants(_engine().data_path))


def speak(
    text: str,
    lang: str = "en",
    *,
    voice: str | None = None,
    pitch: float = 50,
    pitch_range: float = 50,
    rate: float = 175,
    volume: float = 100,
    word_gap: float = 0,
    sample_rate: int | None = None,
) -> tuple[np.ndarray, int]:
    """Synthesise one utterance with eSpeak NG, in memory.

    ``lang`` is an eSpeak voice name (``"it"``, ``"el"``, ``"fa"``, ``"en-us"``, ...), ``voice`` an optional variant
    (``"m3"``, ``"f2"``, see :func:`available_variants`). Prosody as in :class:`Prosody`; values are clipped to
    eSpeak's limits. Returns ``(samples, rate)``: float32 mono in [-1, 1] at eSpeak's native rate (22050 Hz), or
    resampled to ``sample_rate`` when given.
    """
    import numpy as np
    import soxr

    if not text.strip():
        raise ValueError("speak() needs non-empty text")
    engine = _engine()
    if voice is not None and voice not in available_variants():
        raise ValueError(f"unknown eSpeak NG voice variant {voice!r}; available: {', '.join(available_variants())}")
    name = lang if voice is None else f"{lang}+{voice}"
    params = _espeak_params(Prosody(pitch, pitch_range, rate, volume, word_gap))
    audio = engine.synth(text, name, params).astype(np.float32) / 32768.0
    if audio.size == 0:
        raise SynthError(f"eSpeak NG produced no audio for {text!r} with voice {name!r}")
    if sample_rate is not None and sample_rate != engine.sample_rate:
        audio = soxr.resample(audio, engine.sample_rate, sample_rate, quality="HQ").astype(np.float32)
        return audio, int(sample_rate)
    return audio, engine.sample_rate


def _espeak_params(prosody: Prosody) -> dict[str, int]:
    import numpy as np

    values = asdict(prosody)
    out = {}
    for name, value in values.items():
        low, high = ESPEAK_LIMITS[name]
        out[name] = int(np.clip(round(float(value)), low, high))
    return out


# --------------------------------------------------------------------------------------------- the corpus plan

_FILE_RE = re.compile(r"^(?P<emotion>[a-z]+)_(?P<sentence>\d{2})_(?P<take>\d+)\.wav$")


@dataclass(frozen=True)
class Clip:
    """One clip of the corpus plan."""

    language: str
    variant: str
    emotion: str
    sentence: int
    take: int

    @property
    def speaker(self) -> str:
        return f"{self.language}-{self.variant}"

    @property
    def gender(self) -> str:
        return variant_gender(self.variant)

    @property
    def text(self) -> str:
        return SENTENCES[self.language][self.sentence]

    @property
    def relpath(self) -> str:
        return f"{self.language}/{self.speaker}/{self.emotion}_{self.sentence:02d}_{self.take}.wav"

    @property
    def key(self) -> str:
        return f"{self.speaker}|{self.emotion}|{self.sentence}|{self.take}"


def variant_gender(variant: str) -> str:
    """``"f"`` for eSpeak female variants (``f1``...), ``"m"`` for male ones (``m1``...), else ``""``."""
    head = variant[:1].lower()
    return head if head in ("f", "m") and variant[1:].isdigit() else ""


def voices_for(language: str, count: int) -> list[str]:
    """The ``count`` voice variants used as speakers of ``language`` (see :data:`VOICE_POOL`)."""
    unique = len(set(VOICE_POOL))
    if count < 1 or count > unique:
        raise ValueError(f"speakers per language must be between 1 and {unique}, got {count}")
    start, chosen = LANGUAGES.index(language), []
    for k in range(2 * len(VOICE_POOL)):
        voice = VOICE_POOL[(start + k) % len(VOICE_POOL)]
        if voice not in chosen:
            chosen.append(voice)
        if len(chosen) == count:
            break
    return chosen


def parse_languages(languages: str | Iterable[str]) -> tuple[str, ...]:
    """Validate a language list (``"it,de"`` or a sequence): a subset of :data:`LANGUAGES`, in that order."""
    items = languages.split(",") if isinstance(languages, str) else list(languages)
    chosen = {s.strip().lower() for s in items if s.strip()}
    unknown = sorted(chosen - set(LANGUAGES))
    if unknown:
        raise ValueError(f"unsupported language(s) {unknown}; supported: {', '.join(LANGUAGES)}")
    if not chosen:
        raise ValueError("no language given")
    return tuple(lang for lang in LANGUAGES if lang in chosen)


def _normalise_emotions(emotions: Sequence[str]) -> tuple[str, ...]:
    chosen = {e.strip().lower() for e in emotions if e.strip()}
    unknown = sorted(chosen - set(PROFILES))
    if unknown:
        raise ValueError(f"no prosody profile for emotion(s) {unknown}; available: {', '.join(sorted(PROFILES))}")
    if len(chosen) < 2:
        raise ValueError(f"a corpus needs at least two emotions, got {sorted(chosen)}")
    return tuple(sorted(chosen))


def plan_corpus(
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
) -> list[Clip]:
    """Every clip of a corpus with these settings, in rendering order (language, speaker, sentence, emotion, take)."""
    langs = parse_languages(languages)
    emos = _normalise_emotions(emotions)
    max_sentences = min(len(SENTENCES[lang]) for lang in langs)
    if not 1 <= sentences_per_language <= max_sentences:
        raise ValueError(f"sentences per language must be between 1 and {max_sentences}, got {sentences_per_language}")
    if takes < 1:
        raise ValueError(f"takes must be at least 1, got {takes}")
    clips = []
    for lang in langs:
        for variant in voices_for(lang, speakers_per_language):
            for sentence in range(sentences_per_language):
                for emotion in emos:
                    for take in range(takes):
                        clips.append(Clip(lang, variant, emotion, sentence, take))
    return clips


def _rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on the corpus seed and a key (stable across runs, platforms and subsets)."""
    import numpy as np

    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFF, *words]))


def _draw(rng: np.random.Generator, sd: Prosody) -> Prosody:
    return Prosody(*(float(rng.normal(0.0, s)) if s > 0 else 0.0 for s in asdict(sd).values()))


def clip_prosody(clip: Clip, seed: int) -> Prosody:
    """The eSpeak prosody of ``clip``: class profile + speaker offset + per-clip variation (before clipping)."""
    base = PROFILES[clip.emotion]
    offset = _draw(_rng(seed, f"speaker|{clip.speaker}"), SPEAKER_OFFSET)
    jitter = _draw(_rng(seed, f"prosody|{clip.key}"), CLIP_JITTER)
    parts = zip(asdict(base).values(), asdict(offset).values(), asdict(jitter).values())
    return Prosody(*(b + o + j for b, o, j in parts))


def _coloured_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unit-RMS noise with a random spectral tilt between white and brown-ish."""
    import numpy as np

    alpha = rng.uniform(0.0, 1.6)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / SAMPLE_RATE)
    shaping = np.ones_like(freqs)
    shaping[1:] = (np.maximum(freqs[1:], 20.0) / 1000.0) ** (-alpha / 2.0)
    shaping[0] = 0.0
    noise = np.fft.irfft(spectrum * shaping, n)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def render_clip(clip: Clip, seed: int) -> np.ndarray:
    """Render ``clip``: float32 mono at :data:`SAMPLE_RATE` with padding, recording gain and background noise."""
    import numpy as np

    prosody = clip_prosody(clip, seed)
    speech, _ = speak(clip.text, clip.language, voice=clip.variant, **asdict(prosody), sample_rate=SAMPLE_RATE)
    rng = _rng(seed, f"channel|{clip.key}")
    speech = speech.astype(np.float64) * 10.0 ** (rng.uniform(*GAIN_DB) / 20.0)
    before, after = (int(rng.uniform(*PAD_S) * SAMPLE_RATE) for _ in range(2))
    audio = np.concatenate([np.zeros(before), speech, np.zeros(after)])
    frame = 320
    energies = [np.mean(speech[i : i + frame] ** 2) for i in range(0, max(len(speech) - frame, 1), frame)]
    active = np.asarray(energies)[np.asarray(energies) > 1e-3 * max(energies)] if energies else np.zeros(1)
    speech_power = float(np.mean(active)) if active.size else 1e-6
    snr = rng.uniform(*SNR_DB)
    audio = audio + _coloured_noise(rng, audio.size) * np.sqrt(speech_power / 10.0 ** (snr / 10.0))
    peak = float(np.max(np.abs(audio)))
    if peak > 0.98:
        audio *= 0.98 / peak
    return audio.astype(np.float32)


# --------------------------------------------------------------------------------------------- rendering a corpus

MANIFEST_FIELDS: tuple[str, ...] = ("id", "path", "label", "speaker", "gender", "language", "text", "seconds")


def corpus_parameters(
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
    seed: int = 0,
) -> dict:
    """Everything that determines the audio of a corpus (stored in ``corpus.json``; a resume needs a match)."""
    return json.loads(
        json.dumps(
            {
                "synth_version": SYNTH_VERSION,
                "espeak_ng": espeak_version(),
                "seed": int(seed),
                "languages": list(parse_languages(languages)),
                "speakers_per_language": int(speakers_per_language),
                "sentences_per_language": int(sentences_per_language),
                "takes": int(takes),
                "emotions": list(_normalise_emotions(emotions)),
                "sample_rate": SAMPLE_RATE,
                "profiles": {k: asdict(v) for k, v in sorted(PROFILES.items())},
                "clip_jitter_sd": asdict(CLIP_JITTER),
                "speaker_offset_sd": asdict(SPEAKER_OFFSET),
                "snr_db": list(SNR_DB),
                "gain_db": list(GAIN_DB),
                "pad_s": list(PAD_S),
            }
        )
    )


def _write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_wav_atomic(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp")
    try:
        sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _existing_wavs(out: Path) -> list[Path]:
    """WAV files under ``out`` that sit where this module writes (``<lang>/<lang>-<variant>/<name>.wav``)."""
    found = []
    for lang in LANGUAGES:
        folder = out / lang
        if folder.is_dir():
            found += [p for p in folder.glob(f"{lang}-*/*.wav") if _FILE_RE.match(p.name)]
    return sorted(found)


def _existing_seconds(path: Path) -> float | None:
    """Duration of an already rendered clip, or ``None`` when it is missing or not a readable 16 kHz mono WAV."""
    import soundfile as sf

    if not path.is_file():
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    if info.samplerate != SAMPLE_RATE or info.channels != 1 or info.frames == 0:
        return None
    return info.frames / SAMPLE_RATE


def render_corpus(
    out: Path,
    *,
    languages: str | Iterable[str] = LANGUAGES,
    speakers_per_language: int = DEFAULT_SPEAKERS,
    sentences_per_language: int = DEFAULT_SENTENCES,
    takes: int = DEFAULT_TAKES,
    emotions: Sequence[str] = FOUR_CLASS,
    seed: int = 0,
    progress: bool = True,
    force: bool = False,
    on_clip: Callable[[Clip, bool], None] | None = None,
) -> pd.DataFrame:
    """Render the synthetic corpus under ``out`` and return its manifest (columns :data:`MANIFEST_FIELDS`).

    Resumable: when ``out/corpus.json`` holds the same parameters, clips already on disk are kept (unreadable ones
    are rendered again). Different
    parameters raise :class:`SynthError` unless ``force``, which re-renders everything and removes clips that are
    not part of the new corpus. ``progress`` shows a tqdm bar; ``on_clip(clip, rendered)`` is called after each clip.
    """
    import pandas as pd

    out = Path(out)
    clips = plan_corpus(
        languages=languages,
        speakers_per_language=speakers_per_language,
        sentences_per_language=sentences_per_language,
        takes=takes,
        emotions=emotions,
    )
    params = corpus_parameters(
        languages=languages,
        speakers_per_language=speakers_per_language,
        sentences_per_language=sentences_per_language,
        takes=takes,
        emotions=emotions,
        seed=seed,
    )
    meta_path = out / "corpus.json"
    resume = False
    if meta_path.is_file() and not force:
        try:
            previous = json.loads(meta_path.read_text(encoding="utf-8")).get("parameters")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise SynthError(f"{meta_path} is unreadable ({exc}); use force to re-render") from exc
        if previous != params:
            changed = sorted(k for k in set(params) | set(previous or {}) if (previous or {}).get(k) != params.get(k))
            raise SynthError(
                f"{out} holds a synthetic corpus rendered with other parameters (differs in: {', '.join(changed)}); "
                "re-render it with force (--force) or choose another output folder"
            )
        resume = True
    elif not meta_path.is_file() and not force and _existing_wavs(out):
        raise SynthError(f"{out} already holds WAV files but no corpus.json; use force (--force) to render over them")

    wanted = {clip.relpath for clip in clips}
    if force:
        for stale in _existing_wavs(out):
            if stale.relative_to(out).as_posix() not in wanted:
                stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
    voices = {lang: [f"{lang}+{v}" for v in voices_for(lang, speakers_per_language)] for lang in params["languages"]}
    meta = {
        "name": "ser-probe synthetic emotional speech (eSpeak NG prosody profiles)",
        "generator": "extract.synth.render_corpus",
        "layout": "<lang>/<lang>-<variant>/<emotion>_<sentence:02d>_<take>.wav, 16 kHz mono PCM-16",
        "parameters": params,
        "voices": voices,
        "complete": False,
    }
    _write_atomic_bytes(meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    rows = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(clips), desc="synth", unit="clip")
    try:
        for clip in clips:
            path = out / clip.relpath
            seconds = _existing_seconds(path) if resume else None
            rendered = seconds is None
            if seconds is None:
                audio = render_clip(clip, seed)
                _write_wav_atomic(path, audio)
                seconds = audio.size / SAMPLE_RATE
            rows.append(
                {
                    "id": clip.relpath[: -len(".wav")],
                    "path": clip.relpath,
                    "label": clip.emotion,
                    "speaker": clip.speaker,
                    "gender": clip.gender,
                    "language": clip.language,
                    "text": clip.text,
                    "seconds": round(seconds, 4),
                }
            )
            if bar is not None:
                bar.update(1)
            if on_clip is not None:
                on_clip(clip, rendered)
    finally:
        if bar is not None:
            bar.close()

    frame = pd.DataFrame(rows, columns=list(MANIFEST_FIELDS))
    frame = frame.sort_values("id", kind="stable").reset_index(drop=True)
    _write_atomic_bytes(out / "manifest.csv", frame.to_csv(index=False).encode("utf-8"))
    meta.update(
        {
            "complete": True,
            "clips": len(frame),
            "seconds": round(float(frame["seconds"].sum()), 2),
            "per_label": {k: int(v) for k, v in frame["label"].value_counts().sort_index().items()},
        }
    )
    _write_atomic_bytes(meta_path, (json.dumps(meta, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return frame
