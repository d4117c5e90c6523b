"""What the synthetic corpus is made of: languages and their sentences, the eSpeak NG voices used as speakers, the
emotion classes as prosody profiles, and the ranges of the per-clip variation (:mod:`extract.synth`).

Every value here determines the rendered audio: a change that alters it bumps :data:`SYNTH_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract.labels import FOUR_CLASS

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
