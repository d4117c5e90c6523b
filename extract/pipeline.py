"""One pass of a backbone over a corpus manifest, into ``features/<corpus>/<model>.h5``.

Crash safety: work goes into ``<model>.h5.partial/``, one shard file per ``shard_size`` consecutive clips, each
written under a temporary name and renamed when whole. A rerun keeps the finished shards (when the manifest
and model settings match) and does the rest; when every shard is there they are merged into ``<model>.h5.tmp``,
which is renamed into place only once complete. Shard and batch boundaries depend only on the manifest, so a
resumed run produces the same cache as an uninterrupted one. Clips that cannot be read are reported, skipped
and listed in the cache; they never stop the run. So are the files the corpus scan rejected (``rejected``) and
clips whose states hold NaN or inf (:mod:`extract.guards`).

One writer per cache: the whole pass holds an OS lock on ``<model>.h5.lock`` (:mod:`extract.locks`). A full disk
is one :class:`extract.guards.DiskFullError` naming the folder and the space needed; finished shards stay for a
rerun, and free space is checked before the merge, which needs about the cache's size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from extract.audio import MAX_SECONDS, SAMPLE_RATE, AudioError, Clip, read_clip
from extract.backbones.base import Backbone, CacheStates
from extract.labels import class_set_name
from extract.cache import SCHEMA, cache_path, cache_status
from extract.guards import (
    CacheMismatchError, NoUsableClipsError, disk_full_error, ensure_folder, is_disk_full, mismatch_message,
    require_space, settings_differences, state_problem,
)
from extract.locks import exclusive_lock
from extract.determinism import determinism_settings, deterministic_cuda
from extract.shards import MergeDied, merge_in_child, shard_name, write_shard
from extract.versions import library_versions



@dataclass
class ExtractSummary:
    """What one extraction did."""

    corpus: str
    model: str
    path: Path
    status: str  # "written", "exists" (complete cache with the same settings found, nothing done)
    n_clips: int = 0
    n_done: int = 0
    n_resumed: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (id, path, reason)
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, path, note): used, but odd (truncated)
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


def _batches(waves: list[tuple[int, np.ndarray]], backbone: Backbone, batch_size: int) -> Iterator[list[int]]:
    """Positions of ``waves`` in the backbone's batches (:meth:`Backbone.batch_plan`: grouped by its batching key;
    length-bucketed where it pads)."""
    yield from backbone.batch_plan([len(wave) for _, wave in waves], batch_size)


class _Prefetcher:
    """Decodes and resamples upcoming clips on worker threads while the model runs."""

    def __init__(self, paths: list[str], workers: int, depth: int, max_seconds: float = MAX_SECONDS) -> None:
        self._paths = paths
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="audio")
        self._queue: deque[Future[Clip]] = deque()
        self._next = 0
        self._depth = depth
        self._max_seconds = max_seconds

    def _fill(self) -> None:
        while self._next < len(self._paths) and len(self._queue) < self._depth:
            self._queue.append(self._pool.submit(read_clip, self._paths[self._next], self._max_seconds))
            self._next += 1

    def take(self) -> Clip | AudioError:
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


CUDA_BATCH = 8
CPU_BATCH = 2
"""Default clips per forward pass. On a CPU, batching 30 s Whisper windows bought no speed (Whisper tiny.en, 128
demo clips on a 2-core Xeon VM, benchmarks/extract_vs_baseline.py: suite ÷ one clip at a time 0.93×, 0.95×, 0.96× at
batch 8 and 1.08×, 0.91×, 0.97× at batch 2, within the VM's run-to-run noise) while a batch of 8 holds 4× the
activations of a batch of 2 (attention over 1500 frames per clip), so the CPU default is small."""


def default_batch_size(backbone: Backbone) -> int:
    """:data:`CUDA_BATCH` on a GPU, :data:`CPU_BATCH` on a CPU."""
    return CUDA_BATCH if backbone.device.type == "cuda" else CPU_BATCH


def extract_corpus(
    manifest: pd.DataFrame,
    backbone: Backbone,
    out: Path,
    *,
    corpus: str,
    language: str = "",
    classes: list[str] | None = None,
    batch_size: int | None = None,
    shard_size: int = 32,
    force: bool = False,
    workers: int = 2,
    rejected: Sequence[tuple[str, str, str]] = (),
    max_seconds: float = MAX_SECONDS,
    wait_lock: bool = False,
    progress: Callable[[int, float], None] | None = None,
    log: Callable[[str], None] = print,
) -> ExtractSummary:
    """Extract every layer of ``backbone`` for every clip of ``manifest`` into ``<out>/<corpus>/<model>.h5``.

    ``rejected``: files of the corpus folder the scan did not use, ``(id, path, reason)``; they are listed in the
    summary and in the cache's ``skipped/`` with the clips that fail here. ``max_seconds``: longest clip accepted.
    ``batch_size``: clips per forward pass (default :func:`default_batch_size`).
    ``progress(clips, audio_seconds)`` is called after each batch with the increments. Raises
    :class:`extract.locks.LockBusy` when another process writes the same cache (unless ``wait_lock``), and
    :class:`extract.guards.ExtractError` (a mismatched cache, a full disk, out-of-range states, no usable clip).
    """
    path = cache_path(out, corpus, backbone.name)
    ensure_folder(path.parent, "--out", f"cache {path.name}")
    batch_size = batch_size or default_batch_size(backbone)
    deterministic_cuda(backbone.device)  # recorded in the cache's ``determinism`` attribute
    with exclusive_lock(path, what=f"cache {path}", wait=wait_lock, log=log):
        return _extract_locked(manifest, backbone, path, corpus=corpus, language=language, classes=classes,
                               batch_size=batch_size, shard_size=shard_size, force=force, workers=workers,
                               rejected=list(rejected), max_seconds=max_seconds, progress=progress, log=log)


def _extract_locked(
    manifest: pd.DataFrame, backbone: Backbone, path: Path, *, corpus: str, language: str,
    classes: list[str] | None, batch_size: int, shard_size: int, force: bool, workers: int,
    rejected: list[tuple[str, str, str]], max_seconds: float, progress: Callable[[int, float], None] | None,
    log: Callable[[str], None],
) -> ExtractSummary:
    """:func:`extract_corpus` once the cache's lock is held."""
    start = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    summary = ExtractSummary(corpus=corpus, model=backbone.name, path=path, status="written", n_clips=len(manifest))
    manifest = manifest.reset_index(drop=True)
    m_hash = manifest_hash(manifest)
    wanted_classes = classes if classes is not None else sorted(manifest["label"].unique())
    if force:
        path.unlink(missing_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
    elif cache_status(path).complete:
        differences = settings_differences(path, {**backbone.attrs(), "classes": wanted_classes}, m_hash)
        if differences:
            raise CacheMismatchError(mismatch_message(path, differences))
        shutil.rmtree(partial, ignore_errors=True)  # left over by a run stopped right after its final rename
        summary.status = "exists"
        return summary
    meta = {
        "cache_schema": SCHEMA,
        "manifest_hash": m_hash,
        "n_clips": len(manifest),
        "shard_size": shard_size,
        "batch_size": batch_size,
        **{k: str(v) for k, v in backbone.attrs().items() if k != "device"},
    }
    _prepare_partial(partial, meta, log)

    n_shards = -(-len(manifest) // shard_size)
    todo = [s for s in range(n_shards) if not (partial / shard_name(s)).exists()]
    finished = sorted(set(range(n_shards)) - set(todo))
    summary.n_resumed = sum(min(shard_size, len(manifest) - s * shard_size) for s in finished)
    if summary.n_resumed:
        log(f"resuming: {summary.n_resumed} of {len(manifest)} clips already extracted in {partial}")
        if progress:
            progress(summary.n_resumed, 0.0)
    rows_todo = [r for s in todo for r in range(s * shard_size, min((s + 1) * shard_size, len(manifest)))]
    prefetch = _Prefetcher([str(manifest.at[r, "path"]) for r in rows_todo], workers, 2 * shard_size, max_seconds)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdf5")
    pending: Future[int] | None = None
    shard_need = 0
    kept = f"The finished shards are kept in {partial}: free some space and rerun the same command to resume."
    try:
        for shard in todo:
            rows = list(range(shard * shard_size, min((shard + 1) * shard_size, len(manifest))))
            waves: list[tuple[int, np.ndarray]] = []
            skipped: list[tuple[int, str]] = []
            notes: list[tuple[int, str]] = []
            t0 = time.perf_counter()
            for row in rows:
                item = prefetch.take()
                if isinstance(item, AudioError):
                    skipped.append((row, item.reason))
                    log(f"skipped {item.path}: {item.reason}")
                else:
                    waves.append((row, item.wave))
                    notes.extend((row, note) for note in item.notes)
                    for note in item.notes:
                        log(f"note {manifest.at[row, 'path']}: {note}")
            summary.load_wait_s += time.perf_counter() - t0
            states: dict[int, CacheStates] = {}
            for batch in _batches(waves, backbone, batch_size):
                t0 = time.perf_counter()
                out_states = backbone.extract_for_cache([waves[p][1] for p in batch])
                summary.forward_s += time.perf_counter() - t0
                seconds = 0.0
                for p, s in zip(batch, out_states):
                    row = waves[p][0]
                    problem = state_problem(s.frames, f"{manifest.at[row, 'id']} ({manifest.at[row, 'path']})",
                                            peaks=s.peaks)
                    if problem is None:
                        states[p] = s
                    else:
                        skipped.append((row, problem))
                        log(f"skipped {manifest.at[row, 'path']}: {problem}")
                    seconds += len(waves[p][1]) / SAMPLE_RATE
                summary.audio_seconds += seconds
                if progress:
                    progress(len(batch), seconds)
            if progress and skipped:
                progress(sum(r not in {w for w, _ in waves} for r, _ in skipped), 0.0)
            used = [p for p in range(len(waves)) if p in states]
            skipped.sort()
            t0 = time.perf_counter()
            if pending is not None:
                summary.bytes_written += pending.result()
            summary.write_s += time.perf_counter() - t0
            shard_need = sum(states[p].frames.size * 2 + states[p].pooled.size * 4 for p in used)
            pending = writer.submit(
                write_shard, partial / shard_name(shard), [waves[p][0] for p in used],
                [states[p].frames for p in used], [len(waves[p][1]) / SAMPLE_RATE for p in used], skipped,
                backbone.n_states, backbone.dim, notes, [states[p].pooled for p in used],
            )
            summary.n_done += len(used)
        t0 = time.perf_counter()
        if pending is not None:
            summary.bytes_written += pending.result()
        summary.write_s += time.perf_counter() - t0
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(partial, "a shard", shard_need, kept) from None
        raise
    finally:
        prefetch.close()
        writer.shutdown(wait=True)

    t0 = time.perf_counter()
    attrs = {
        **backbone.attrs(),
        "corpus": corpus,
        "language": language,
        "sample_rate": SAMPLE_RATE,
        "classes": wanted_classes,
        "class_set": class_set_name(classes),
        "manifest_hash": m_hash,
        "versions": library_versions(),
        "determinism": determinism_settings(backbone.device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shard_bytes = sum((partial / shard_name(s)).stat().st_size for s in range(n_shards))
    require_space(path.parent, shard_bytes, f"merging the shards into {path.name}", kept)
    try:
        summary.skipped, summary.notes = merge_in_child(partial, path, manifest, attrs, backbone.n_states, backbone.dim,
                                                n_shards, rejected)
    except NoUsableClipsError:
        shutil.rmtree(partial, ignore_errors=True)  # nothing worth resuming: every clip failed
        raise
    except (OSError, MergeDied) as exc:
        path.with_suffix(".h5.tmp").unlink(missing_ok=True)
        if is_disk_full(exc) or shutil.disk_usage(path.parent).free < shard_bytes:
            raise disk_full_error(path.parent, f"the merged cache {path.name}", shard_bytes, kept) from None
        raise
    summary.merge_s = time.perf_counter() - t0
    summary.bytes_written += path.stat().st_size
    shutil.rmtree(partial, ignore_errors=True)
    summary.wall_s = time.perf_counter() - start
    return summary
