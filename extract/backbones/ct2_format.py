"""The CTranslate2 ``model.bin`` format, read with nothing but the standard library and numpy.

File layout (CTranslate2 binary version 6, written by ``ctranslate2/specs/model_spec.py::_serialize``; all
integers little-endian; a *string* is ``uint16 length-with-NUL`` + UTF-8 bytes + ``\\0``)::

    uint32 binary_version | string spec_name | uint32 spec_revision | uint32 n_variables
    n_variables x (string name | uint8 rank | rank x uint32 dim | uint8 dtype_id | uint32 n_bytes | bytes)
    uint32 n_aliases | n_aliases x (string alias | string target)

``dtype_id`` indexes ``(float32, int8, int16, int32, float16, bfloat16)``. Quantised weights (int8 per output
row, int16 per tensor) come with a sibling ``<name>_scale`` holding ``127 / amax`` (int8) or ``2**10 / amax``
(int16); the float value is ``quantised / scale``. A tensor equal to an earlier one (alphabetically) is stored
once and the other name becomes an alias.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_BINARY_VERSION = 6
_DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class CT2FormatError(ValueError):
    """``model.bin`` is not a CTranslate2 Whisper file this module can read; the message names file and reason."""


class _Reader:
    """Little-endian cursor over the bytes of a ``model.bin``, raising :class:`CT2FormatError` when truncated."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise CT2FormatError(f"{self.path}: truncated while reading {what} at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.unpack("H", f"length of {what}")
        raw = self.take(n, what)
        if n == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self.path}: {what} at byte {self.pos - n} is not NUL-terminated")
        return raw[:-1].decode("utf-8")


def _to_numpy(raw: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Decode one stored buffer; bfloat16 is widened to float32 (numpy has no bfloat16)."""
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()


def _dequantize(name: str, value: np.ndarray, scale: np.ndarray, path: Path) -> np.ndarray:
    """Undo CTranslate2's weight quantisation: ``value / scale`` (per output row for int8, global for int16)."""
    scale = scale.astype(np.float32)
    if value.dtype == np.int16 and scale.size == 1:
        return value.astype(np.float32) / scale.reshape(())
    if value.dtype == np.int8 and scale.ndim == 1 and scale.shape[0] == value.shape[0]:
        flat = value.reshape(value.shape[0], -1).astype(np.float32) / scale[:, None]
        return flat.reshape(value.shape)
    raise CT2FormatError(
        f"{path}: cannot dequantise {name} ({value.dtype}, shape {value.shape}) with a scale of shape {scale.shape}"
    )


def read_ct2_model(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse a CTranslate2 ``model.bin`` (or the directory holding it) into named numpy arrays.

    Returns ``(tensors, meta)``. ``tensors`` maps every variable *and every alias* to an array: floating
    tensors as float32 (float16/bfloat16 widen exactly), quantised weights dequantised to float32 (their
    ``*_scale`` companions are consumed), integer scalars as stored. ``meta`` holds ``binary_version``,
    ``spec_name``, ``spec_revision``, ``aliases`` (alias -> target), ``dtypes`` (name -> stored dtype),
    ``quantized`` (names that were dequantised) and ``config`` (the sibling config.json, ``{}`` if absent).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CTranslate2 model file not found")
    reader = _Reader(path.read_bytes(), path)

    version = reader.unpack("I", "binary version")
    if version != SUPPORTED_BINARY_VERSION:
        raise CT2FormatError(
            f"{path}: CTranslate2 binary version {version} is not supported (this reader knows version "
            f"{SUPPORTED_BINARY_VERSION}); re-convert the model with a current ctranslate2"
        )
    spec_name = reader.string("spec name")
    spec_revision = reader.unpack("I", "spec revision")

    raw: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for index in range(reader.unpack("I", "variable count")):
        name = reader.string(f"name of variable {index}")
        rank = reader.unpack("B", f"rank of {name}")
        shape = tuple(reader.unpack("I", f"shape of {name}") for _ in range(rank))
        type_id = reader.unpack("B", f"dtype of {name}")
        if type_id >= len(_DTYPES):
            raise CT2FormatError(f"{path}: variable {name} has unknown dtype id {type_id}")
        dtype = _DTYPES[type_id]
        n_bytes = reader.unpack("I", f"size of {name}")
        expected = int(np.prod(shape, dtype=np.int64)) * (2 if dtype == "bfloat16" else np.dtype(dtype).itemsize)
        if n_bytes != expected:
            raise CT2FormatError(
                f"{path}: variable {name} {shape} {dtype} declares {n_bytes} bytes, expected {expected}"
            )
        raw[name] = _to_numpy(reader.take(n_bytes, f"data of {name}"), dtype, shape)
        dtypes[name] = dtype

    aliases: dict[str, str] = {}
    for index in range(reader.unpack("I", "alias count")):
        alias = reader.string(f"alias {index}")
        aliases[alias] = reader.string(f"target of alias {alias}")
    if reader.pos != len(reader.data):
        raise CT2FormatError(f"{path}: {len(reader.data) - reader.pos} unexpected trailing bytes after the alias table")

    tensors: dict[str, np.ndarray] = {}
    quantized: list[str] = []
    for name, value in raw.items():
        if name.endswith("_scale") and name[: -len("_scale")] in raw:
            continue  # consumed by the quantised tensor it scales
        if name.endswith("_zero") and name[: -len("_zero")] in raw:
            raise CT2FormatError(f"{path}: {name} is an AWQ/GPTQ zero point; pre-quantised models are not supported")
        scale = raw.get(name + "_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            tensors[name] = _dequantize(name, value, scale, path)
            quantized.append(name)
        elif value.dtype.kind == "f":
            tensors[name] = value.astype(np.float32, copy=False)
        else:
            tensors[name] = value
    for alias, target in aliases.items():
        if target not in tensors:
            raise CT2FormatError(f"{path}: alias {alias} points to missing variable {target}")
        tensors[alias] = tensors[target]

    config_path = path.with_name("config.json")
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    meta: dict[str, Any] = {
        "path": str(path),
        "binary_version": version,
        "spec_name": spec_name,
        "spec_revision": spec_revision,
        "aliases": aliases,
        "dtypes": dtypes,
        "quantized": quantized,
        "config": config,
    }
    return tensors, meta
