"""Synthesising speech with eSpeak NG, in memory: :func:`speak` and the engine behind it.

eSpeak NG comes from the ``espeakng-loader`` wheel (library plus voice data, no system package) and is driven
through ``ctypes`` in synchronous mode, a synth callback collecting the 16-bit samples in memory, by the worker
process of :mod:`extract.espeak_worker`.

>>> from extract.espeak import speak
>>> audio, sr = speak("Good morning.", "en", voice="f2")   # float32 at eSpeak's native rate
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from extract.synth_profiles import ESPEAK_LIMITS, Prosody

if TYPE_CHECKING:  # numpy and soxr load in the functions that synthesise: `probe --help` needs neither
    import numpy as np


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
# The worker is the module :mod:`extract.espeak_worker`.

_PARAMS = {"rate": 1, "volume": 2, "pitch": 3, "pitch_range": 4, "word_gap": 7}
"""espeak_PARAMETER ids of the prosody settings."""

WORKER_MODULE = "extract.espeak_worker"
_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)
"""The folder holding the ``extract`` package: ``python -m`` puts the working folder first on the worker's path, so
the worker is this copy's module whatever the caller's working folder and environment."""


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
        self._proc = subprocess.Popen(  # -E -s: no PYTHON* variables, no user site; the package's folder first
            [sys.executable, "-E", "-s", "-m", WORKER_MODULE, self.library_path, self.data_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=_PACKAGE_PARENT,
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
