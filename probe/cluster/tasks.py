"""Task lists: the unit of work of one array task, as a pickled callable that submitit runs on a node.

- :class:`ExtractTask`: one (model, corpus) cache, the ordinary resumable extraction. When SLURM preempts it or it
  reaches its time limit, submitit calls :meth:`ExtractTask.checkpoint` and requeues it; the finished shards stay
  on disk, so the requeued task resumes where it stopped (``--force`` is dropped for the requeue, or it would throw
  its own shards away).
- :class:`ProbeTask`: the runs of one cache and a group of probes over every seed (and fold). Records are written
  atomically and runs already recorded with the same configuration hash are skipped, so a requeued or resubmitted
  task redoes only what is missing and never leaves a partial record. Tasks never write the leaderboard; the
  submitting process (or ``probe leaderboard``) rebuilds it once at the end.
- :class:`TransferTask`: the transfer cells of one model and one probe, resumable the same way.

Probe and transfer tasks carry the command's :class:`probe.run.spec.RunJob` (the object the inline run gets). All
are :class:`submitit.helpers.Checkpointable`; all raise :class:`TaskFailed` when part of their work failed,
so that the task shows as failed in ``probe status`` with its reason in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable, DelayedSubmission

from extract.job import ExtractJob
from probe.run.selection import RunSelection
from probe.run.spec import RunJob


class TaskFailed(RuntimeError):
    """Part of a task's work failed (the message says which and why)."""


@dataclass
class ExtractTask(Checkpointable):
    """Cache every layer of ``model`` over one corpus folder into ``<out>/<corpus>/<model>.h5``."""

    model: str
    corpus: str
    root: Path
    out: Path
    job: ExtractJob = field(default_factory=ExtractJob)  # every option of `probe extract`, as the command built it

    @property
    def label(self) -> str:
        """``corpus × model``."""
        return f"{self.corpus} × {self.model}"

    def __call__(self) -> dict[str, Any]:
        from extract.engine import LogListener, Selection, run_extraction

        backbone = self.job.load(self.model)
        if not run_extraction(self.job, Selection(backbone, {self.corpus: Path(self.root)}, Path(self.out)),
                              LogListener()):
            raise TaskFailed(f"{self.label}: the corpus at {self.root} could not be read (see the lines above)")
        from extract.cache import cache_path

        return {"cache": str(cache_path(Path(self.out), self.corpus, backbone.name))}

    def checkpoint(self, *args: Any, **kwargs: Any) -> DelayedSubmission:
        """Requeue the same extraction without ``force``: it resumes from the shards already written."""
        return DelayedSubmission(replace(self, job=replace(self.job, force=False)), *args, **kwargs)


@dataclass
class ProbeTask(Checkpointable):
    """Train ``probes`` × seeds (× folds) on the cache ``<job.features>/<corpus>/<model>.h5``; records only."""

    corpus: str
    model: str
    probes: tuple[str, ...]
    job: RunJob  # every setting of `probe run` (threads: config.cpu_threads)

    @property
    def label(self) -> str:
        """``corpus/model probes``."""
        return f"{self.corpus}/{self.model} {','.join(self.probes)}"

    def __call__(self) -> dict[str, Any]:
        from probe.run.runner import run_all

        selection = RunSelection(corpora=[self.corpus], models=[self.model], probes=",".join(self.probes))
        summary = run_all(self.job, selection, write_board=False)
        for outcome in summary.outcomes:
            if outcome.status != "skipped":
                print(f"{outcome.status} {outcome.spec.label}"
                      + (f": macro-F1 {outcome.macro_f1:.1f}" if outcome.macro_f1 is not None else "")
                      + (f": {outcome.message}" if outcome.status == "failed" else ""), flush=True)
        problems = [f"{issue.path}: {issue.reason}" for issue in summary.issues]
        problems += [f"{o.spec.label}: {o.message}" for o in summary.outcomes if o.status == "failed"]
        if problems:
            raise TaskFailed(f"{self.label}: " + "; ".join(problems))
        return {"trained": summary.count("trained"), "skipped": summary.count("skipped")}


@dataclass
class TransferTask(Checkpointable):
    """Every transfer cell of one model and one probe (of ``corpora``'s caches, default all); records only."""

    model: str
    probe: str
    job: RunJob  # every setting of `probe transfer`, its TransferSetup included
    corpora: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """``transfer model probe``."""
        return f"transfer {self.model} {self.probe}"

    def __call__(self) -> dict[str, Any]:
        from probe.run.transfer_run import run_transfer

        summary = run_transfer(self.job, RunSelection(corpora=self.corpora, models=[self.model], probes=self.probe))
        for outcome in summary.outcomes:
            if outcome.status != "skipped":
                print(f"{outcome.status} {outcome.spec.label}", flush=True)
        failed = [o for o in summary.outcomes if o.status == "failed"]
        if failed:
            raise TaskFailed(f"{self.label}: " + "; ".join(f"{o.spec.label}: {o.message}" for o in failed))
        return {"trained": summary.count("trained"), "skipped": summary.count("skipped")}


def transfer_tasks(job: RunJob, selection: RunSelection) -> list[TransferTask]:
    """One task per (model, probe) over the models with complete caches (``probe transfer``'s selection), each
    carrying ``job`` (with absolute folders)."""
    from extract.cache import find_caches
    from probe.results.records import safe_model_name
    from probe.run.selection import NoCachesError

    corpora = selection.corpora
    wanted = {safe_model_name(m) for m in selection.models or ()}
    stems = sorted({p.stem for p in find_caches(job.features) if (not wanted or p.stem in wanted)
                    and (not corpora or p.parent.name in corpora)})
    if not stems:
        raise NoCachesError(f"no complete cache of {sorted(wanted) or 'any model'} under "
                            f"{Path(job.features).resolve()}")
    return [TransferTask(m, p, job.resolved(), tuple(corpora) if corpora else None)
            for m in stems for p in selection.probe_names()]


def extract_tasks(models: list[str], roots: dict[str, Path], out: Path, job: ExtractJob) -> list[ExtractTask]:
    """One task per (model, corpus), models outermost, each carrying the same ``job``."""
    return [ExtractTask(model=m, corpus=c, root=Path(r).resolve(), out=Path(out).resolve(), job=job)
            for m in models for c, r in roots.items()]


def probe_groups(probes: list[str]) -> list[tuple[str, ...]]:
    """Probes that read ``pooled/mean`` (seconds each) share one task; each frame-level probe gets its own."""
    from probe.train.heads import PROBES

    pooled = tuple(p for p in probes if not PROBES[p].frames)
    return ([pooled] if pooled else []) + [(p,) for p in probes if PROBES[p].frames]


def plan_state(task: ProbeTask) -> str:
    """``recorded`` (every run of ``task`` is recorded with its configuration hash: nothing to submit), ``todo``,
    or why the task cannot run at all (its corpus cannot be split, too few classes), found here before submission
    as ``probe run`` finds it. A cache that cannot be opened here is ``todo``: the task reports why."""
    from extract.cache import CacheError, FeatureCache
    from probe.results.records import is_done
    from probe.run.runner import plan_cache
    from probe.run.selection import parse_seeds
    from probe.run.splits import SplitError

    run = task.job
    try:
        with FeatureCache(Path(run.features) / task.corpus / f"{task.model}.h5") as cache:
            specs = plan_cache(cache, run.results, list(task.probes), parse_seeds(run.seeds), run.protocol,
                               run.folds, run.classes, run.config, run.split_seed)
    except (CacheError, OSError):
        return "todo"
    except (SplitError, ValueError) as exc:
        return f"{task.corpus}: {exc}"
    if not run.force and specs and all(is_done(s.path, s.config_hash) for s in specs):
        return "recorded"
    return "todo"


def probe_tasks(job: RunJob, selection: RunSelection) -> tuple[list[ProbeTask], int, list[str]]:
    """One task per (cache, probe group) over the complete caches selected (``probe run``'s selection), each
    carrying ``job`` (with absolute folders), less the tasks whose runs are all recorded already (how many: the
    second value) and those that cannot run (why: the third)."""
    from probe.run.selection import select_caches

    groups = probe_groups(list(selection.probe_names()))
    paths = select_caches(job.features, selection.corpora, selection.models)
    resolved = job.resolved()
    tasks = [ProbeTask(corpus=p.parent.name, model=p.stem, probes=g, job=resolved) for p in paths for g in groups]
    states = [plan_state(t) for t in tasks]
    todo = [t for t, state in zip(tasks, states, strict=True) if state == "todo"]
    problems = [f"{t.label}: {state}" for t, state in zip(tasks, states, strict=True)
                if state not in ("todo", "recorded")]
    return todo, states.count("recorded"), problems
