"""The extraction engine: one model over one or more corpus folders, as ``probe extract`` runs it.

:func:`run_extraction` is called as ``run_extraction(job, selection, listener)``: the :class:`ExtractJob` holds
every setting of the stage, the :class:`Selection` what to extract (a loaded backbone, the corpus folders, where
the caches go), and the :class:`ExtractListener` hears what happens (progress, refusals, each corpus's summary).
The engine prints nothing itself: the command line's listener draws the progress bars and the summaries; a cluster
task's (:class:`LogListener`) writes plain lines to its log.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from extract.backbones.base import Backbone
from extract.corpus_pass import ExtractSummary, Rows
from extract.guards import human_bytes
from extract.job import ExtractJob


@dataclass(frozen=True)
class Selection:
    """What to extract: ``backbone`` over each corpus folder of ``roots`` (key -> folder), caches under ``out``."""

    backbone: Backbone
    roots: Mapping[str, Path]
    out: Path


class ExtractListener(Protocol):
    """What the engine reports, in this order for each corpus: ``corpus_failed`` (scan, selection or start refused:
    nothing written), or ``corpus_started``, ``progress`` and ``log`` while it runs, ``corpus_stopped``, then
    ``corpus_failed`` (``problem`` "error") or ``corpus_done``."""

    def model_ready(self, backbone: Backbone) -> None:
        """The model is loaded; its corpora follow."""

    def corpus_failed(self, corpus: str, problem: str, reason: str, files: Rows) -> None:
        """``corpus`` gives no cache. ``problem``: "unreadable" (the scan failed), "empty" (no usable clip of the
        classes asked for), "refused" (not started: no space, see :mod:`extract.plan`) or "error" (the extraction
        stopped). ``files``: the files left out, ``(id, path, reason)``."""

    def corpus_started(self, corpus: str, model: str, clips: int) -> None:
        """The extraction of ``clips`` clips of ``corpus`` starts."""

    def progress(self, clips: int, seconds: float) -> None:
        """``clips`` more clips done, ``seconds`` more audio."""

    def log(self, message: str) -> None:
        """A line to show while the extraction runs (a skipped file, a note, a lock being waited for)."""

    def corpus_stopped(self, corpus: str) -> None:
        """The extraction of ``corpus`` ended (done or failed)."""

    def corpus_done(self, corpus: str, summary: ExtractSummary, left_out: int) -> None:
        """The cache of ``corpus`` is complete (``summary.status`` "written", or "exists": nothing done);
        ``left_out``: clips of other classes than the job's."""


def done_lines(corpus: str, summary: ExtractSummary, left_out: int) -> list[str]:
    """What a finished corpus says, as plain lines: ``<corpus>: <outcome>``, then the clips left out and each
    skipped or odd file. Both listeners print these (the command line with colour)."""
    if summary.status == "exists":
        return [f"{corpus}: complete cache already at {summary.path}; nothing to do (--force redoes it)"]
    speed = summary.audio_seconds / summary.wall_s if summary.wall_s else 0.0
    lines = [f"{corpus}: {summary.n_done} clips extracted"
             + (f" (+{summary.n_resumed} resumed)" if summary.n_resumed else "")
             + f", {len(summary.skipped)} skipped; {summary.audio_seconds / 3600:.2f} h of audio at {speed:.1f} s/s; "
             f"{human_bytes(summary.bytes_written)} written → {summary.path}"]
    if left_out:
        lines.append(f"  left out {left_out} clips of other classes (--classes)")
    return lines + file_lines("skipped", summary.skipped) + file_lines("note", summary.notes)


def file_lines(word: str, rows: Rows) -> list[str]:
    """``  <word> <path>: <reason>`` for each ``(id, path, reason)`` row."""
    return [f"  {word} {path}: {reason}" for _, path, reason in rows]


class LogListener:
    """Plain lines on stderr, for a log file (a cluster task's): no progress bar, one progress line per tenth of a
    corpus, and each corpus's outcome with its skipped files."""

    def __init__(self) -> None:
        self._corpus, self._total, self._done, self._next = "", 0, 0, 0

    @staticmethod
    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def model_ready(self, backbone: Backbone) -> None:
        self.log(f"{backbone.name} ({backbone.checkpoint}) on {backbone.device}: "
                 f"{backbone.n_states} states x {backbone.dim}")

    def corpus_failed(self, corpus: str, problem: str, reason: str, files: Rows) -> None:
        for line in [f"{corpus}: {problem}: {reason}", *file_lines("skipped", files)]:
            self.log(line)

    def corpus_started(self, corpus: str, model: str, clips: int) -> None:
        self._corpus, self._total, self._done, self._next = f"{corpus} x {model}", clips, 0, 0
        self.log(f"{self._corpus}: {clips} clips")

    def progress(self, clips: int, seconds: float) -> None:
        self._done += clips
        if self._done >= self._next:
            self.log(f"{self._corpus}: {self._done}/{self._total} clips")
            self._next = self._done + max(1, self._total // 10)

    def corpus_stopped(self, corpus: str) -> None:
        pass

    def corpus_done(self, corpus: str, summary: ExtractSummary, left_out: int) -> None:
        for line in done_lines(corpus, summary, left_out):
            self.log(line)


def run_extraction(job: ExtractJob, selection: Selection, listener: ExtractListener) -> bool:
    """Extract ``selection`` with ``job``'s settings; False when a corpus could not be extracted (unreadable,
    nothing usable, locked, mismatched cache, full disk), each one told to ``listener``."""
    listener.model_ready(selection.backbone)
    ok = True
    for key, root in selection.roots.items():
        ok = _extract_one(job, selection, key, Path(root), listener) and ok
    return ok


def _extract_one(job: ExtractJob, selection: Selection, key: str, root: Path, listener: ExtractListener) -> bool:
    """One corpus of :func:`run_extraction`."""
    from extract import corpora as corpus_registry
    from extract.guards import ExtractError, NoUsableClipsError
    from extract.locks import LockBusy
    from extract.pipeline import extract_corpus
    from extract.plan import extraction_refusal

    backbone = selection.backbone
    try:
        scan = corpus_registry.scan(key, root)
    except corpus_registry.CorpusError as exc:
        listener.corpus_failed(key, "unreadable", str(exc), [])
        return False
    rejected = [(_rel_id(s.path, root), str(s.path), s.reason) for s in scan.skipped]
    full = scan.to_frame()
    manifest = corpus_registry.select_classes(full, job.classes)
    if manifest.empty:
        what = "no usable audio" if full.empty else f"no clip of the classes {', '.join(job.classes or ())}"
        listener.corpus_failed(key, "empty", f"{what} found under {root}; no cache written", rejected)
        return False
    refusal = None if job.force else extraction_refusal(backbone, key, manifest, selection.out, job.max_seconds)
    if refusal:  # sizes from the clips' headers (extract.plan); force starts anyway
        listener.corpus_failed(key, "refused", refusal, [])
        return False
    listener.corpus_started(key, backbone.name, len(manifest))
    try:
        summary = extract_corpus(manifest, backbone, selection.out, corpus=key,
                                 language=corpus_registry.info(key).language, job=job, rejected=rejected,
                                 progress=listener.progress, log=listener.log)
    except (ExtractError, LockBusy) as exc:
        listener.corpus_stopped(key)
        listener.corpus_failed(key, "error", str(exc), exc.skipped if isinstance(exc, NoUsableClipsError) else [])
        return False
    listener.corpus_stopped(key)
    listener.corpus_done(key, summary, len(full) - len(manifest))
    return True


def _rel_id(path: Path, root: Path) -> str:
    """The id a skipped file is listed under: its path relative to the corpus folder."""
    from extract.corpora.base import utterance_id

    try:
        return utterance_id(path, root) if path != root else "."
    except ValueError:
        return str(path)

