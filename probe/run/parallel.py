"""Several caches trained at once, one worker process each (``probe run --jobs N``).

Training runs on one torch thread by default (:func:`probe.train.config.training_threads`: the thread count would change
the records), so a machine's other cores are used by training several caches at once instead. Each worker opens
its cache and trains that cache's pending runs exactly as the single-process runner does
(:func:`probe.run.execute.run_cache`), with the same configuration, so every record is the one a single process would
write; only the order in which runs finish differs. Progress events come back to the parent's listener through a
queue. Workers are started with ``spawn`` (torch's thread pools do not survive ``fork``), and each gets an equal
share of the memory budget (how frames are held never changes a result).
"""

from __future__ import annotations

import multiprocessing
import queue
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from extract.cache import FeatureCache
from probe.data.cache_data import default_memory_budget
from probe.run.execute import run_cache
from probe.run.spec import RunListener, RunOutcome, RunSpec
from probe.train.config import TrainConfig


class _QueueListener:
    """A worker's listener: forwards ``started``/``finished`` to the parent."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def planned(self, *args: Any) -> None:
        pass

    def started(self, spec: RunSpec) -> None:
        self.events.put(("started", spec))

    def finished(self, outcome: RunOutcome) -> None:
        self.events.put(("finished", outcome))


def _train_cache(path: Path, todo: Sequence[RunSpec], train: TrainConfig, memory_budget: int,
                 events: Any) -> list[RunOutcome]:
    """Worker: train the pending runs of one cache."""
    with FeatureCache(path) as cache:
        return run_cache(cache, todo, train, memory_budget, _QueueListener(events))


def _forward(events: Any, listener: RunListener, finished: set[Path]) -> None:
    """Pass every queued event on to ``listener``; note the record paths of finished runs in ``finished``."""
    while True:
        try:
            kind, item = events.get_nowait()
        except queue.Empty:
            return
        if kind == "finished":
            finished.add(item.spec.path)
        getattr(listener, kind)(item)


def run_caches_in_parallel(
    work: Sequence[tuple[Path, list[RunSpec]]], train: TrainConfig, memory_budget: int | None,
    listener: RunListener, jobs: int,
) -> list[RunOutcome]:
    """Train each ``(cache path, pending runs)`` of ``work`` in one of ``jobs`` worker processes; the outcomes
    come back in the order of ``work``. A worker that dies fails its cache's runs with the reason; the others go
    on."""
    budget = (memory_budget if memory_budget is not None else default_memory_budget()) // max(1, jobs)
    context = multiprocessing.get_context("spawn")
    results: dict[int, list[RunOutcome]] = {}
    finished: set[Path] = set()
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        events = manager.Queue()
        futures: dict[Future[list[RunOutcome]], int] = {
            pool.submit(_train_cache, path, todo, train, budget, events): i for i, (path, todo) in enumerate(work)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            _forward(events, listener, finished)
            for future in done:
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # noqa: BLE001 - a dead worker fails its own cache's runs, named
                    _forward(events, listener, finished)
                    path, todo = work[i]
                    results[i] = [RunOutcome(s, "failed", message=f"{path}: worker process failed: "
                                                                  f"{type(exc).__name__}: {exc}")
                                  for s in todo if s.path not in finished]
                    for outcome in results[i]:
                        listener.finished(outcome)
        _forward(events, listener, finished)
    return [outcome for i in range(len(work)) for outcome in results[i]]
