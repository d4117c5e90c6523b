"""Run records (``results/runs/…/*.json``, schema ``ser-probe-run/2``, see ``docs/run-record.md``): paths,
hashing, atomic writing and reading.

A record and its ``.npz`` sidecar (test ``ids`` and ``embeddings``) are each written to a temporary file in the
same directory and moved into place with :func:`os.replace`, sidecar first, so an interrupted run leaves no
record and a record always has its sidecar.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RECORD_SCHEMA = "ser-probe-run/2"
"""The schema every record is written with and the only one :func:`read_record` accepts."""

RECORD_KEYS: tuple[str, ...] = (
    "schema", "corpus", "language", "model", "family", "pretraining", "languages", "probe", "protocol", "fold",
    "n_folds", "seed", "classes", "preset", "overrides", "config_id", "config", "config_hash", "split", "cache", "metrics", "curves", "predictions",
    "layer_weights", "layerwise", "versions", "determinism", "throughput", "created", "duration_s",
)
"""Every top-level key of a record, in the order of ``docs/run-record.md``."""

SPLIT_KEYS: tuple[str, ...] = ("hash", "n_train", "n_val", "n_test", "speakers_train", "speakers_val", "speakers_test",
                               "partition")
METRIC_KEYS: tuple[str, ...] = ("macro_f1", "uar", "accuracy", "weighted_f1", "per_class_f1", "confusion")
CURVE_KEYS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "val_macro_f1", "lr")
PREDICTION_KEYS: tuple[str, ...] = ("id", "speaker", "true", "pred", "proba")
LAYERWISE_KEYS: tuple[str, ...] = ("layers", "val_macro_f1", "test_macro_f1", "test_uar", "best_layer")

UNHASHED_CONFIG: tuple[str, ...] = ("device", "data")
RUN_COORDINATES: tuple[str, ...] = ("seed", "split_seed", "fold")
"""Config keys that tell the runs of one configuration apart; :func:`config_id` leaves them out."""
"""Config keys left out of ``config_hash`` as they are: which device index a run computes on and how it reads its
frames do not change what it is; the device's kind (CPU or GPU) does, and is hashed (:func:`device_kind`)."""

PACKAGES: tuple[str, ...] = ("ser-probe", "torch", "numpy", "scikit-learn", "h5py", "pandas")
UNHASHED_CACHE: tuple[str, ...] = ("file", "created")
"""Cache identity keys left out of ``config_hash`` and ``config_id``: where the cache lies and when it was written
do not change what it holds (its ``content_hash`` does), so identical features re-extracted keep their ids."""


def device_kind(config: Mapping[str, Any]) -> str:
    """``cpu``, ``cuda`` or ``mps`` (the configuration's device without its index): hashed, because CPU and GPU
    kernels give different numbers, so their runs are never seeds of one configuration."""
    return str(config.get("device") or "cpu").split(":")[0]


def safe_model_name(model: str) -> str:
    """Hub ids such as ``microsoft/wavlm-base`` become ``microsoft--wavlm-base`` in paths."""
    return model.replace("/", "--")


def record_path(
    results: str | Path,
    corpus: str,
    model: str,
    probe: str,
    protocol: str,
    classes: str,
    seed: int,
    fold: int | None = None,
    config: str = "",
) -> Path:
    """``<results>/runs/<corpus>/<model>/<probe>/<protocol>-<classes>[-<config>]/seed<k>[-fold<f>].json``
    (``fold`` for the k-fold protocol only; ``config`` is ``<preset>-<config id>``, so runs of different
    configurations never share a file)."""
    name = f"seed{seed}" if protocol == "holdout" or fold is None else f"seed{seed}-fold{fold}"
    folder = f"{protocol}-{classes}" + (f"-{config}" if config else "")
    return Path(results) / "runs" / corpus / safe_model_name(model) / probe / folder / f"{name}.json"


TRANSFER_DIR = "transfer"
"""Transfer records live under ``<results>/transfer/runs``, apart from the in-domain ``runs``."""
MODEL_IDENTITY: tuple[str, ...] = ("model", "base_model", "family", "pretraining", "languages", "checkpoint",
                                   "weights", "n_layers", "dim", "whisper_input", "precision")
"""The cache attributes that name a backbone: a transfer configuration's id hashes these (one id for every cell of
a matrix), not a corpus's cache."""


def transfer_record_path(results: str | Path, model: str, protocol: str, train: str, test: str, probe: str,
                         classes: str, config: str, seed: int) -> Path:
    """``<results>/transfer/runs/<model>/<protocol>/<train>/<test>/<probe>/<classes>-<config>/seed<k>.json``
    (``config`` is ``<preset>-<config id>``)."""
    return (Path(results) / TRANSFER_DIR / "runs" / safe_model_name(model) / protocol / train / test / probe
            / f"{classes}-{config}" / f"seed{seed}.json")


def model_identity(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The backbone's identity among a cache's attributes (:data:`MODEL_IDENTITY`; absent ones are ``""``)."""
    return {k: attrs.get(k, "") for k in MODEL_IDENTITY}


def joint_split_hash(split_hashes: Mapping[str, str]) -> str:
    """One hash (16 hex digits) for the splits of several domains, ``{domain: split hash}``: a transfer cell's
    ``split.hash``, hashed into its :func:`config_hash`."""
    text = json.dumps(dict(split_hashes), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sidecar_path(record: str | Path) -> Path:
    """The ``.npz`` beside a record."""
    return Path(record).with_suffix(".npz")


def _plain(value: Any) -> Any:
    """JSON-ready: NumPy scalars and arrays to Python, tuples to lists, non-finite floats to ``None``."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def config_hash(config: Mapping[str, Any], split_hash: str, cache_identity: Mapping[str, Any]) -> str:
    """First 16 hex digits of the sha256 of the configuration (less :data:`UNHASHED_CONFIG`, with its device
    kind), the split's hash and the cache's identity (less its file path and creation time, so a moved or
    identically re-extracted features folder keeps its results)."""
    payload = {
        "config": {k: v for k, v in config.items() if k not in UNHASHED_CONFIG},
        "split": split_hash,
        "cache": {k: v for k, v in cache_identity.items() if k not in UNHASHED_CACHE},
        "device_kind": device_kind(config),
    }
    text = json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def config_id(config: Mapping[str, Any], cache_identity: Mapping[str, Any]) -> str:
    """Short id (8 hex digits) of a configuration: the config less the run's coordinates (seed, split seed, fold)
    and :data:`UNHASHED_CONFIG` but with its device kind, and the cache's identity less its path and creation time
    (:data:`UNHASHED_CACHE`). Runs that share it are seeds or folds of
    one configuration and may be averaged; runs that do not must never be."""
    payload = {
        "config": {k: v for k, v in config.items() if k not in UNHASHED_CONFIG + RUN_COORDINATES},
        "cache": {k: v for k, v in cache_identity.items() if k not in UNHASHED_CACHE},
        "device_kind": device_kind(config),
    }
    text = json.dumps(_plain(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def record_config_id(record: Mapping[str, Any]) -> str:
    """A record's ``config_id`` (:func:`config_id` of its config and cache, written by the run)."""
    return str(record["config_id"])


def record_preset(record: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """A record's preset and the settings run differently from it."""
    return str(record["preset"]), tuple(str(o) for o in record["overrides"])


def versions() -> dict[str, str]:
    """Python and library versions (``""`` for a package that is not installed), and what the numbers depend on
    beyond them: torch's CPU instruction set (``torch_cpu_capability``, e.g. ``AVX512``: runs are bit-identical
    per machine type, not across instruction sets) and the CUDA device's name (``cuda_device``, ``""`` without
    one)."""
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = ""
    found.update(machine())
    return found


@functools.cache
def machine() -> dict[str, str]:
    """``torch_cpu_capability`` and ``cuda_device`` of this machine (``""`` where torch cannot tell); asked once
    per process (callers copy it)."""
    try:
        import torch
    except ImportError:
        return {"torch_cpu_capability": "", "cuda_device": ""}
    try:
        capability = str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):
        capability = ""
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else ""
    return {"torch_cpu_capability": capability, "cuda_device": cuda}


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file)`` on a temporary file beside ``path`` and move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_record(path: str | Path, record: Mapping[str, Any], ids: list[str], embeddings: np.ndarray) -> Path:
    """Write ``record`` (every key of :data:`RECORD_KEYS`) and its sidecar atomically; returns the record path."""
    path = Path(path)
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"run record lacks key(s) {missing}")
    ordered = {k: record[k] for k in RECORD_KEYS}
    ordered.update({k: v for k, v in record.items() if k not in ordered})
    text = json.dumps(_plain(ordered), indent=1, allow_nan=False) + "\n"
    emb = np.asarray(embeddings, dtype=np.float32)
    _atomic_write(sidecar_path(path), lambda f: np.savez(f, ids=np.asarray(ids, dtype=str), embeddings=emb))
    _atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


def read_record(path: str | Path) -> dict[str, Any]:
    """A record as a dict (raises ``ValueError`` for a file that is not a run record)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read run record ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ValueError(f"{path}: not a {RECORD_SCHEMA} record" + (f" (schema {found})" if found else ""))
    return data


def recorded_hash(path: str | Path) -> str | None:
    """The ``config_hash`` of the record at ``path``, or ``None`` when there is no readable record."""
    if not Path(path).is_file():
        return None
    try:
        return str(read_record(path).get("config_hash"))
    except ValueError:
        return None


def is_done(path: str | Path, config_hash_value: str) -> bool:
    """Whether the record at ``path`` exists, has its sidecar, and was made with this configuration hash."""
    return recorded_hash(path) == config_hash_value and sidecar_path(path).is_file()


def iter_records(results: str | Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """``(path, record)`` for every readable record under ``<results>/runs``, in path order."""
    root = Path(results) / "runs"
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*.json")):
        try:
            yield path, read_record(path)
        except ValueError:
            continue
