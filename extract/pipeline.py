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

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from extract.audio import SAMPLE_RATE, AudioError
from extract.backbones.base import Backbone, CacheStates
from extract.cache import cache_path
from extract.corpus_pass import (
    CorpusPass, ExtractSummary, complete_already, manifest_hash, n_shards, partial_meta, prepare_partial,
    shards_to_do, wanted_classes,
)
from extract.determinism import determinism_settings, deterministic_cuda
from extract.guards import (
    NoUsableClipsError, disk_full_error, ensure_folder, is_disk_full, require_space, state_problem,
)
from extract.job import ExtractJob
from extract.labels import class_set_name
from extract.locks import exclusive_lock
from extract.prefetch import Prefetcher
from extract.shards import MergeDied, merge_in_child, shard_name, write_shard
from extract.versions import library_versions


def _batches(waves: list[tuple[int, np.ndarray]], backbone: Backbone, batch_size: int) -> Iterator[list[int]]:
    """Positions of ``waves`` in the backbone's batches (:meth:`Backbone.batch_plan`: grouped by its batching key;
    length-bucketed where it pads)."""
    yield from backbone.batch_plan([len(wave) for _, wave in waves], batch_size)


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
    job: ExtractJob | None = None,
    rejected: Sequence[tuple[str, str, str]] = (),
    progress: Callable[[int, float], None] | None = None,
    log: Callable[[str], None] = print,
    **settings: Any,
) -> ExtractSummary:
    """Extract every layer of ``backbone`` for every clip of ``manifest`` into ``<out>/<corpus>/<model>.h5``.

    The extraction settings come from ``job`` (default :class:`ExtractJob`'s), each overridden by a keyword of
    the same name in ``settings`` (``classes``, ``batch_size``, ``shard_size``, ``workers``, ``force``,
    ``max_seconds``, ``wait_lock``); the model's settings are ``backbone``'s own. ``batch_size``: clips per
    forward pass (default :func:`default_batch_size`); ``max_seconds``: longest clip accepted.
    ``rejected``: files of the corpus folder the scan did not use, ``(id, path, reason)``; they are listed in the
    summary and in the cache's ``skipped/`` with the clips that fail here.
    ``progress(clips, audio_seconds)`` is called after each batch with the increments. Raises
    :class:`extract.locks.LockBusy` when another process writes the same cache (unless ``wait_lock``), and
    :class:`extract.guards.ExtractError` (a mismatched cache, a full disk, out-of-range states, no usable clip).
    """
    job = replace(job or ExtractJob(), **settings)
    path = cache_path(out, corpus, backbone.name)
    ensure_folder(path.parent, "--out", f"cache {path.name}")
    job = replace(job, batch_size=job.batch_size or default_batch_size(backbone))
    deterministic_cuda(backbone.device)  # recorded in the cache's ``determinism`` attribute
    work = CorpusPass(manifest.reset_index(drop=True), backbone, path, corpus, language, list(rejected), progress, log)
    with exclusive_lock(path, what=f"cache {path}", wait=job.wait_lock, log=log):
        return _extract_locked(job, work)


def _extract_locked(job: ExtractJob, work: CorpusPass) -> ExtractSummary:
    """:func:`extract_corpus` once the cache's lock is held (``job.batch_size`` resolved)."""
    start = time.perf_counter()
    summary = ExtractSummary(corpus=work.corpus, model=work.backbone.name, path=work.path, status="written",
                             n_clips=len(work.manifest))
    m_hash = manifest_hash(work.manifest)
    if complete_already(job, work, m_hash):
        summary.status = "exists"
        return summary
    prepare_partial(work.partial, partial_meta(job, work, m_hash), work.log)
    todo = shards_to_do(job, work, summary)
    _extract_shards(job, work, todo, summary)
    _merge(job, work, m_hash, summary)
    summary.wall_s = time.perf_counter() - start
    return summary


def _extract_shards(job: ExtractJob, work: CorpusPass, todo: list[int], summary: ExtractSummary) -> None:
    """Read, run and write each shard of ``todo``; a shard is written on a thread while the next one runs."""
    rows_todo = [r for s in todo for r in work.rows(s, job.shard_size)]
    prefetch = Prefetcher([str(work.manifest.at[r, "path"]) for r in rows_todo], job.workers, 2 * job.shard_size,
                          job.max_seconds)
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdf5")
    pending: Future[int] | None = None
    shard_need = 0
    try:
        for shard in todo:
            waves, skipped, notes = _read_shard(work, prefetch, work.rows(shard, job.shard_size), summary)
            states = _run_shard(job, work, waves, skipped, summary)
            used = [p for p in range(len(waves)) if p in states]
            skipped.sort()
            _finish_write(pending, summary)
            shard_need = sum(states[p].frames.size * 2 + states[p].pooled.size * 4 for p in used)
            pending = writer.submit(
                write_shard, work.partial / shard_name(shard), [waves[p][0] for p in used],
                [states[p].frames for p in used], [len(waves[p][1]) / SAMPLE_RATE for p in used], skipped,
                work.backbone.n_states, work.backbone.dim, notes, [states[p].pooled for p in used],
            )
            summary.n_done += len(used)
        _finish_write(pending, summary)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(work.partial, "a shard", shard_need, work.kept) from None
        raise
    finally:
        prefetch.close()
        writer.shutdown(wait=True)


def _read_shard(work: CorpusPass, prefetch: Prefetcher, rows: range, summary: ExtractSummary,
                ) -> tuple[list[tuple[int, np.ndarray]], list[tuple[int, str]], list[tuple[int, str]]]:
    """The waveforms of a shard's clips ``(row, wave)``, the clips that cannot be read ``(row, reason)`` and the
    notes on those read although odd ``(row, note)``."""
    waves: list[tuple[int, np.ndarray]] = []
    skipped: list[tuple[int, str]] = []
    notes: list[tuple[int, str]] = []
    t0 = time.perf_counter()
    for row in rows:
        item = prefetch.take()
        if isinstance(item, AudioError):
            skipped.append((row, item.reason))
            work.log(f"skipped {item.path}: {item.reason}")
        else:
            waves.append((row, item.wave))
            notes.extend((row, note) for note in item.notes)
            for note in item.notes:
                work.log(f"note {work.manifest.at[row, 'path']}: {note}")
    summary.load_wait_s += time.perf_counter() - t0
    return waves, skipped, notes


def _run_shard(job: ExtractJob, work: CorpusPass, waves: list[tuple[int, np.ndarray]], skipped: list[tuple[int, str]],
               summary: ExtractSummary) -> dict[int, CacheStates]:
    """The model's states of each wave, by position in ``waves``, batch by batch; waves whose states hold NaN,
    inf or out-of-range values are added to ``skipped`` instead."""
    manifest, states = work.manifest, {}
    for batch in _batches(waves, work.backbone, job.batch_size):
        t0 = time.perf_counter()
        out_states = work.backbone.extract_for_cache([waves[p][1] for p in batch])
        summary.forward_s += time.perf_counter() - t0
        seconds = 0.0
        for p, s in zip(batch, out_states):
            row = waves[p][0]
            problem = state_problem(s.frames, f"{manifest.at[row, 'id']} ({manifest.at[row, 'path']})", peaks=s.peaks)
            if problem is None:
                states[p] = s
            else:
                skipped.append((row, problem))
                work.log(f"skipped {manifest.at[row, 'path']}: {problem}")
            seconds += len(waves[p][1]) / SAMPLE_RATE
        summary.audio_seconds += seconds
        work.report(len(batch), seconds)
    if skipped:
        work.report(sum(r not in {w for w, _ in waves} for r, _ in skipped), 0.0)
    return states


def _finish_write(pending: Future[int] | None, summary: ExtractSummary) -> None:
    """Wait for the shard being written (its bytes and the wait are counted)."""
    t0 = time.perf_counter()
    if pending is not None:
        summary.bytes_written += pending.result()
    summary.write_s += time.perf_counter() - t0


def _cache_attrs(job: ExtractJob, work: CorpusPass, m_hash: str) -> dict[str, Any]:
    """The root attributes of the cache (the backbone's and the extraction's)."""
    return {
        **work.backbone.attrs(),
        "corpus": work.corpus,
        "language": work.language,
        "sample_rate": SAMPLE_RATE,
        "classes": wanted_classes(job, work),
        "class_set": class_set_name(job.classes),
        "manifest_hash": m_hash,
        "versions": library_versions(),
        "determinism": determinism_settings(work.backbone.device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _merge(job: ExtractJob, work: CorpusPass, m_hash: str, summary: ExtractSummary) -> None:
    """Merge the shards into the cache (in a child process, after checking the free space) and remove them."""
    t0 = time.perf_counter()
    attrs = _cache_attrs(job, work, m_hash)
    count = n_shards(job, work)
    partial, path = work.partial, work.path
    shard_bytes = sum((partial / shard_name(s)).stat().st_size for s in range(count))
    require_space(path.parent, shard_bytes, f"merging the shards into {path.name}", work.kept)
    try:
        summary.skipped, summary.notes = merge_in_child(partial, path, work.manifest, attrs, work.backbone.n_states,
                                                        work.backbone.dim, count, work.rejected)
    except NoUsableClipsError:
        shutil.rmtree(partial, ignore_errors=True)  # nothing worth resuming: every clip failed
        raise
    except (OSError, MergeDied) as exc:
        path.with_suffix(".h5.tmp").unlink(missing_ok=True)
        if is_disk_full(exc) or shutil.disk_usage(path.parent).free < shard_bytes:
            raise disk_full_error(path.parent, f"the merged cache {path.name}", shard_bytes, work.kept) from None
        raise
    summary.merge_s = time.perf_counter() - t0
    summary.bytes_written += path.stat().st_size
    shutil.rmtree(partial, ignore_errors=True)
