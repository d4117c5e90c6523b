"""The eSpeak NG worker process of :mod:`extract.espeak`: ``python -m extract.espeak_worker LIBRARY DATA_PATH``.

Standard library only, so it starts quickly and nothing else is loaded into the process that drives the library.
It loads and initialises libespeak-ng once and answers a header line (``ok``, ``sample_rate``, ``version``), then
reads one JSON request per line on stdin (``voice``, ``text``, ``params``: ``[[parameter id, value], ...]``) and
answers a JSON header line (``ok``, ``bytes`` or ``error``) followed by the raw little-endian 16-bit samples.
Each request is synthesised by a freshly forked child of the initialised process, so every utterance starts from
the same pristine library state; where fork is unavailable the process answers one request and exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any, BinaryIO

Reply = tuple[dict[str, Any], bytes]
"""A JSON header and the samples that follow it."""

SYNCHRONOUS, DONT_EXIT = 2, 0x8000
"""espeak_Initialize's output mode (samples to the callback, no audio device) and option (no exit on error)."""


def _send(out: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    out.write(json.dumps(header).encode() + b"\n" + payload)
    out.flush()


class Engine:
    """libespeak-ng loaded, initialised and collecting its samples in memory."""

    def __init__(self, lib_path: str, data_path: str) -> None:
        self.lib = lib = ctypes.CDLL(lib_path)  # OSError when it cannot be loaded
        callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [callback_type]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        self.rate = lib.espeak_Initialize(SYNCHRONOUS, 0, data_path.encode(), DONT_EXIT)
        self.chunks: list[bytes] = []
        self._callback = callback_type(self._collect)  # kept referenced while the library may call it
        if self.rate > 0:
            lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            self.chunks.append(ctypes.string_at(wav, 2 * count))
        return 0

    def version(self) -> str:
        """The library's version string."""
        return (self.lib.espeak_Info(None) or b"?").decode()

    def synth(self, request: dict[str, Any]) -> Reply:
        """Synthesise one request with the library as it is now (call it in a fresh fork)."""
        err = self.lib.espeak_SetVoiceByName(request["voice"].encode())
        if err != 0:
            return {"ok": False, "error": "no voice %r (espeak error %d)" % (request["voice"], err)}, b""
        for key, value in request["params"]:
            self.lib.espeak_SetParameter(key, value, 0)
        text = request["text"].encode("utf-8")
        err = self.lib.espeak_Synth(text, len(text) + 1, 0, 1, 0, 1, None, None)  # character positions, UTF-8
        if err != 0:
            return {"ok": False, "error": "espeak_Synth returned %d" % err}, b""
        data = b"".join(self.chunks)
        return {"ok": True, "bytes": len(data)}, data


def _forked(engine: Engine, request: dict[str, Any], out: BinaryIO) -> None:
    """Answer ``request`` from a child forked off the pristine engine (the child exits after it)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            header, data = engine.synth(request)
        except BaseException as exc:
            header, data = {"ok": False, "error": repr(exc)}, b""
        view = memoryview(json.dumps(header).encode() + b"\n" + data)
        while view:
            view = view[os.write(wfd, view):]
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd, "rb") as pipe:
        message = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or b"\n" not in message:
        _send(out, {"ok": False, "error": "the synthesis process died (wait status %d)" % status})
    else:
        out.write(message)
        out.flush()


def main(lib_path: str, data_path: str) -> None:
    """Initialise the library, then answer requests until stdin closes."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    try:
        engine = Engine(lib_path, data_path)
    except OSError as exc:
        _send(out, {"ok": False, "error": "cannot load the library: %s" % exc})
        return
    if engine.rate <= 0:
        _send(out, {"ok": False, "error": "espeak_Initialize returned %d" % engine.rate})
        return
    _send(out, {"ok": True, "sample_rate": engine.rate, "version": engine.version()})
    for line in inp:
        request = json.loads(line)
        if not hasattr(os, "fork"):
            _send(out, *engine.synth(request))
            return
        _forked(engine, request, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
