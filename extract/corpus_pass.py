"""One extraction of a corpus: what it reads, writes and reports (:class:`CorpusPass`), what it did
(:class:`ExtractSummary`), and its work folder ``<model>.h5.partial/`` (settings, finished shards).

The shards of the work folder are kept for a resumed run only when its ``meta.json`` (the manifest's hash, the
shard and batch sizes, the model's settings) matches; :mod:`extract.pipeline` does the extraction itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from extract.backbones.base import Backbone
from extract.cache import SCHEMA, cache_status
from extract.determinism import compute_device
from extract.guards import CacheMismatchError, mismatch_message, settings_differences
from extract.job import ExtractJob
from extract.shards import shard_name

Rows = list[tuple[str, str, str]]
"""``(id, path, reason)`` rows: files skipped, or notes on clips used."""


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
    skipped: Rows = field(default_factory=list)  # (id, path, reason)
    notes: Rows = field(default_factory=list)  # (id, path, note): used, but odd (truncated)
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


@dataclass
class CorpusPass:
    """What one extraction reads, where it writes and how it reports: everything that is not a setting."""

    manifest: pd.DataFrame  # index 0 .. n-1, the rows of the cache in order
    backbone: Backbone
    path: Path
    corpus: str
    language: str
    rejected: Rows
    progress: Callable[[int, float], None] | None
    log: Callable[[str], None]

    @property
    def partial(self) -> Path:
        """The work folder of the shards, ``<model>.h5.partial``."""
        return self.path.with_name(self.path.name + ".partial")

    @property
    def kept(self) -> str:
        """What a full disk leaves behind, and the remedy."""
        return f"The finished shards are kept in {self.partial}: free some space and rerun the same command to resume."

    def rows(self, shard: int, shard_size: int) -> range:
        """The manifest rows of ``shard``."""
        return range(shard * shard_size, min((shard + 1) * shard_size, len(self.manifest)))

    def report(self, clips: int, seconds: float) -> None:
        """Pass the increments on to ``progress`` (when one was given)."""
        if self.progress:
            self.progress(clips, seconds)


def prepare_partial(partial: Path, meta: dict[str, Any], log: Callable[[str], None]) -> None:
    """Create the work folder, or keep it for resuming when it was made with the same settings."""
    meta_file = partial / "meta.json"
    if partial.is_dir():
        try:
            old = json.loads(meta_file.read_text())
        except (OSError, json.JSONDecodeError):
            old = None
        if old == meta:
            return
        what = ""
        if isinstance(old, dict):
            changed = (f"{k}: {old.get(k)} -> {meta.get(k)}" for k in sorted(set(meta) | set(old))
                       if old.get(k) != meta.get(k))
            what = f" ({', '.join(changed)})"
        log(f"discarding {partial}: it was made with other settings or another manifest{what}")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    tmp = meta_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
    tmp.replace(meta_file)


def wanted_classes(job: ExtractJob, work: CorpusPass) -> list[str]:
    """The cache's ``classes``: the job's class set, else every label of the manifest."""
    return list(job.classes) if job.classes is not None else sorted(work.manifest["label"].unique())


def complete_already(job: ExtractJob, work: CorpusPass, m_hash: str) -> bool:
    """True when a complete cache made the same way is in place (nothing to do); one made otherwise is refused
    with the difference named. ``force`` removes the cache and the work folder first."""
    if job.force:
        work.path.unlink(missing_ok=True)
        shutil.rmtree(work.partial, ignore_errors=True)
        return False
    if not cache_status(work.path).complete:
        return False
    requested = {**work.backbone.attrs(), "classes": wanted_classes(job, work)}
    differences = settings_differences(work.path, requested, m_hash)
    if differences:
        raise CacheMismatchError(mismatch_message(work.path, differences))
    shutil.rmtree(work.partial, ignore_errors=True)  # left over by a run stopped right after its final rename
    return True


def partial_meta(job: ExtractJob, work: CorpusPass, m_hash: str) -> dict[str, Any]:
    """What the shards in the work folder depend on: a resumed run keeps them only when it matches."""
    return {
        "cache_schema": SCHEMA,
        "manifest_hash": m_hash,
        "n_clips": len(work.manifest),
        "shard_size": job.shard_size,
        "batch_size": job.batch_size,
        **{k: str(v) for k, v in work.backbone.attrs().items() if k != "device"},
        "compute_device": compute_device(work.backbone.device),  # not the index: cuda:0 and cuda:1 may share shards
    }


def n_shards(job: ExtractJob, work: CorpusPass) -> int:
    return -(-len(work.manifest) // job.shard_size)


def shards_to_do(job: ExtractJob, work: CorpusPass, summary: ExtractSummary) -> list[int]:
    """The shards not yet in the work folder; the clips of the others count as resumed."""
    count = n_shards(job, work)
    todo = [s for s in range(count) if not (work.partial / shard_name(s)).exists()]
    finished = sorted(set(range(count)) - set(todo))
    summary.n_resumed = sum(len(work.rows(s, job.shard_size)) for s in finished)
    if summary.n_resumed:
        work.log(f"resuming: {summary.n_resumed} of {len(work.manifest)} clips already extracted in {work.partial}")
        work.report(summary.n_resumed, 0.0)
    return todo
