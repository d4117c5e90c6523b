"""One pass of a backbone over a corpus manifest, into ``features/<corpus>/<model>.h5``.

Crash safety: work goes into ``<model>.h5.partial/``, one shard file per ``shard_size`` consecutive clips, each
written under a temporary name and renamed when whole. A rerun keeps the finished shards (when the manifest
and model settings match) and does the rest; when every shard is there they are merged into ``<model>.h5.tmp``,
which is renamed into place only once complete. Shard and batch boundaries depend only on the manifest, so a
resumed run produces the same cache as an uninterrupted one. Clips that cannot be read are reported, skipped
and listed in the cache; they never stop the run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from extract.audio import SAMPLE_RATE, AudioError, load_audio
from extract.backbones.base import Backbone
from extract.cache import SCHEMA, cache_path, cache_status, finalise, write_cache
from extract.versions import library_versions

SHARD_SCHEMA = "ser-probe-shard/1"


@dataclass
class ExtractSummary:
    """What one extraction did."""

    corpus: str
    model: str
    path: Path
    status: str  # "written", "exists" (complete cache found, nothing done)
    n_clips: int = 0
    n_done: int = 0
    n_resumed: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (id, path, reason)
    audio_seconds: float = 0.0
    wall_s: float = 0.0
    forward_s: float = 0.0
    load_wait_s: float = 0.0
    write_s: float = 0.0
    merge_s: float = 0.0
    bytes_written: int = 0

    @property
    def overhead_share(self) -> float:
        """Share of wall time spent outside the model's forward pass."""
        return 1.0 - self.forward_s / self.wall_s if self.wall_s > 0 else 0.0


def manifest_hash(manifest: pd.DataFrame) -> str:
    """Identity of a manifest's content (ids, labels, speakers, genders; not machine-specific paths)."""
    text = manifest[["id", "label", "speaker", "gender"]].astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def _batches(waves: list[tuple[int, np.ndarray]], backbone: Backbone, batch_size: int) -> Iterator[list[int]]:
    """Positions of ``waves`` grouped by the backbone's batching key, in first-appearance order."""
    groups: dict[object, list[int]] = {}
    for pos, (_, wave) in enumerate(waves):
        groups.setdefault(backbone.group_key(len(wave)), []).append(pos)
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


class _Prefetcher:
    """Decodes and resamples upcoming clips on worker threads while the model runs."""

    def __init__(self, paths: list[str], workers: int, depth: int) -> None:
        self._paths = paths
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="audio")
        self._queue: deque[Future[np.ndarray]] = deque()
        self._next = 0
        self._depth = depth

    def _fill(self) -> None:
        while self._next < len(self._paths) and len(self._queue) < self._depth:
            self._queue.append(self._pool.submit(load_audio, self._paths[self._next]))
            self._next += 1

    def take(self) -> np.ndarray | AudioError:
        """The next clip's waveform, or the :class:`AudioError` that explains why it cannot be used."""
        self._fill()
        future = self._queue.popleft()
        self._fill()
        try:
            return future.result()
        except AudioError as exc:
            return exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _write_shard(path: Path, rows: list[int], states: list[np.ndarray], durations: list[float],
                 skipped: list[tuple[int, str]], n_states: int, dim: int) -> int:
    """Write one shard under a temporary name and rename it; returns its size in bytes."""
    tmp = path.with_suffix(".h5.tmp")
    with h5py.File(tmp, "w") as h5:
        h5.attrs["schema"] = SHARD_SCHEMA
        h5.create_dataset("rows", data=np.asarray(rows, dtype=np.int64))
        h5.create_dataset("n_frames", data=np.asarray([s.shape[1] for s in states], dtype=np.int64))
        h5.create_dataset("duration", data=np.asarray(durations, dtype=np.float32))
        pooled = np.stack([s.mean(axis=1) for s in states]) if states else np.empty((0, n_states, dim))
        h5.create_dataset("pooled", data=pooled.astype(np.float32))
        for layer in range(n_states):
            frames = np.concatenate([s[layer] for s in states]) if states else np.empty((0, dim))
            h5.create_dataset(f"layers/{layer:02d}", data=frames.astype(np.float16))
        h5.create_dataset("skipped_rows", data=np.asarray([r for r, _ in skipped], dtype=np.int64))
        h5.create_dataset("skipped_reason", data=[m for _, m in skipped], dtype=h5py.string_dtype("utf-8"))
    size = tmp.stat().st_size
    tmp.replace(path)
    return size


def _prepare_partial(partial: Path, meta: dict[str, Any], log: Callable[[str], None]) -> None:
    """Create the work folder, or keep it for resuming when it was made with the same settings."""
    meta_file = partial / "meta.json"
    if partial.is_dir():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old == meta:
            return
        log(f"discarding {partial}: it was made with other settings or another manifest")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    tmp = meta_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    tmp.replace(meta_file)


def extract_corpus(
    manifest: pd.DataFrame,
    backbone: Backbone,
    out: Path,
    *,
    corpus: str,
    language: str = "",
    classes: list[str] | None = None,
    batch_size: int = 8,
    shard_size: int = 32,
    force: bool = False,
    workers: int = 2,
    progress: Callable[[int, float], None] | None = None,
    log: Callable[[str], None] = print,
) -> ExtractSummary:
    """Extract every layer of ``backbone`` for every clip of ``manifest`` into ``<out>/<corpus>/<model>.h5``.

    ``progress(clips, audio_seconds)`` is called after each batch with the increments.
    """
    start = time.perf_counter()
    path = cache_path(out, corpus, backbone.name)
    partial = path.with_name(path.name + ".partial")
    summary = ExtractSummary(corpus=corpus, model=backbone.name, path=path, status="written", n_clips=len(manifest))
    if force:
        path.unlink(missing_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
    elif cache_status(path).complete:
        shutil.rmtree(partial, ignore_errors=True)  # left over by a run stopped right after its final rename
        summary.status = "exists"
        return summary
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = manifest.reset_index(drop=True)
    meta = {
        "cache_schema": SCHEMA,
        "manifest_hash": manifest_hash(manifest),
        "n_clips": len(manifest),
        "shard_size": shard_size,
        "batch_size": batch_size,
        **{k: str(v) for k, v in backbone.attrs().items() if k != "device"},
    }
    _prepare_partial(partial, meta, log)

    n_shards = -(-len(manifest) // shard_size)
    todo = [s for s in range(n_shards) if not (partial / _shard_name(s)).exists()]
    finished = sorted(set(range(n_shards)) - set(todo))
    summary.n_resumed = sum(min(shard_size, len(manifest) - s * shard_size) for s in finished)
    if summary.n_resumed:
        log(f"resuming: {summary.n_resumed} of {len(manifest)} clips already extracted in {partial}")
        if progress:
            progress(summary.n_resumed, 0.0)
    rows_todo = [r for s in todo for r in range(s * shard_size, min((s + 1) * shard_size, len(manifest)))]
    prefetch = _Prefetcher([str(manifest.at[r, "path"]) for r in rows_todo], workers, depth=2 * shard_size)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdf5")
    pending: Future[int] | None = None
    try:
        for shard in todo:
            rows = list(range(shard * shard_size, min((shard + 1) * shard_size, len(manifest))))
            waves: list[tuple[int, np.ndarray]] = []
            skipped: list[tuple[int, str]] = []
            t0 = time.perf_counter()
            for row in rows:
                item = prefetch.take()
                if isinstance(item, AudioError):
                    skipped.append((row, item.reason))
                    log(f"skipped {item.path}: {item.reason}")
                else:
                    waves.append((row, item))
            summary.load_wait_s += time.perf_counter() - t0
            states: dict[int, np.ndarray] = {}
            for batch in _batches(waves, backbone, batch_size):
                t0 = time.perf_counter()
                out_states = backbone.extract([waves[p][1] for p in batch])
                summary.forward_s += time.perf_counter() - t0
                seconds = 0.0
                for p, s in zip(batch, out_states):
                    states[p] = s
                    seconds += len(waves[p][1]) / SAMPLE_RATE
                summary.audio_seconds += seconds
                if progress:
                    progress(len(batch), seconds)
            if progress and skipped:
                progress(len(skipped), 0.0)
            ordered = [states[p] for p in range(len(waves))]
            t0 = time.perf_counter()
            if pending is not None:
                summary.bytes_written += pending.result()
            summary.write_s += time.perf_counter() - t0
            pending = writer.submit(
                _write_shard, partial / _shard_name(shard), [r for r, _ in waves], ordered,
                [len(w) / SAMPLE_RATE for _, w in waves], skipped, backbone.n_states, backbone.dim,
            )
            summary.n_done += len(waves)
        t0 = time.perf_counter()
        if pending is not None:
            summary.bytes_written += pending.result()
        summary.write_s += time.perf_counter() - t0
    finally:
        prefetch.close()
        writer.shutdown(wait=True)

    t0 = time.perf_counter()
    attrs = {
        **backbone.attrs(),
        "corpus": corpus,
        "language": language,
        "sample_rate": SAMPLE_RATE,
        "classes": classes if classes is not None else sorted(manifest["label"].unique()),
        "manifest_hash": meta["manifest_hash"],
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    summary.skipped = _merge(partial, path, manifest, attrs, backbone.n_states, backbone.dim, n_shards)
    summary.merge_s = time.perf_counter() - t0
    summary.bytes_written += path.stat().st_size
    shutil.rmtree(partial, ignore_errors=True)
    summary.wall_s = time.perf_counter() - start
    return summary


def _merge(partial: Path, path: Path, manifest: pd.DataFrame, attrs: dict[str, Any], n_states: int, dim: int,
           n_shards: int) -> list[tuple[str, str, str]]:
    """Merge the shards into the final cache (written to ``.tmp`` and renamed); returns the skipped clips."""
    shards = [h5py.File(partial / _shard_name(s), "r") for s in range(n_shards)]
    try:
        rows = np.concatenate([f["rows"][()] for f in shards]) if shards else np.empty(0, dtype=np.int64)
        table = manifest.loc[rows, ["id", "label", "speaker", "gender"]].reset_index(drop=True)
        table["duration"] = np.concatenate([f["duration"][()] for f in shards]) if shards else []
        table["n_frames"] = np.concatenate([f["n_frames"][()] for f in shards]) if shards else []
        skipped_rows = [int(r) for f in shards for r in f["skipped_rows"][()]]
        reasons = [r.decode() if isinstance(r, bytes) else r for f in shards for r in f["skipped_reason"][()]]
        skipped = pd.DataFrame({
            "id": [manifest.at[r, "id"] for r in skipped_rows],
            "path": [str(manifest.at[r, "path"]) for r in skipped_rows],
            "reason": reasons,
        })
        pooled = np.concatenate([f["pooled"][()] for f in shards]) if shards else np.empty((0, n_states, dim))
        blocks = ((l, f[f"layers/{l:02d}"][()]) for l in range(n_states) for f in shards)
        tmp = path.with_suffix(".h5.tmp")
        write_cache(tmp, {**attrs, "n_skipped": len(skipped)}, table, blocks, pooled, skipped,
                    n_states=n_states, dim=dim)
        finalise(tmp, path)
    finally:
        for f in shards:
            f.close()
    return list(skipped.itertuples(index=False, name=None))
