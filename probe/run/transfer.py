"""Cross-corpus and cross-lingual transfer: which domains a probe trains on, which it is tested on, over which
classes, and on which speakers.

A *domain* is a corpus (one cache of the model), or with ``group_by="language"`` one language of a cache (the demo
corpus's eight languages, named ``synthetic-it`` …; the corpus module says which language an utterance is in).
Protocols, all on caches of one model (a probe never mixes backbones):

* ``pair``: train on A's training speakers (selection on A's validation speakers), test on B's test speakers; the
  diagonal A = B is the in-domain reference. One training of A serves every B with the same class space.
* ``leave-one-language-out``: train on every domain of the other languages, test on the target language's domains.
* ``multilingual``: train on the union of every domain's training speakers, test on each domain's test part.
* ``sequential``: train on A, then continue training on B's training part (selection on B's validation part);
  test on B. Compare with the pair diagonal B → B.

Classes: those common to every domain involved, within the wanted set (default the 4-class set); the label maps
stay in the corpus modules, transfer only intersects. Each domain is split by :func:`probe.run.splits.holdout_split`
on its own rows within the class space (the same split ``probe run --classes`` gives a corpus), and no test
speaker of the tested domain is ever in training or validation (checked on every task, see :func:`task_parts`).
Where a transfer's class space is smaller than its target's own, an in-domain run over the same classes is added
(:func:`in_domain_references`), so the relative drop compares like with like.

Languages: corpora are merged by primary language subtag (``fr-CA`` with ``fr``), unless ``regional`` (``probe
transfer --regional``, recorded in every record's ``transfer`` block) keeps regional variants apart: CaFE
(Canadian French) then is its own language, not French.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from extract import corpora
from extract.cache import FeatureCache
from extract.labels import parse_classes
from probe.run.splits import Split, holdout_split

PROTOCOLS: tuple[str, ...] = ("pair", "leave-one-language-out", "multilingual", "sequential")
IN_DOMAIN = "in-domain"
"""The protocol of the in-domain references :func:`plan_tasks` adds (see :func:`in_domain_references`)."""
GROUP_BY: tuple[str, ...] = ("corpus", "language")


class TransferError(ValueError):
    """A transfer that cannot be planned (unknown domain, too few shared classes, a speaker on both sides)."""


@dataclass(frozen=True)
class Domain:
    """One training or test domain: a corpus, or one language of a corpus."""

    name: str
    corpus: str
    language: str
    source: int  # index of its cache in the model's cache list
    rows: np.ndarray  # the cache's rows of this domain
    regional: bool = False  # keep regional variants (fr-CA) apart from their language (fr)

    @property
    def lang(self) -> str:
        """Primary language subtag (``fr-CA`` → ``fr``), or the whole tag when ``regional``: corpora of one
        language are merged by it."""
        return (self.language.lower() if self.regional else self.language.split("-")[0].lower()) or self.name


def utterance_languages(cache: FeatureCache) -> np.ndarray:
    """The language of every utterance: a ``language`` column of the cache, else the corpus module's
    ``language_of(id)`` (the synthetic corpus), else the corpus's one language."""
    table = cache.utterances
    if "language" in table:
        return table["language"].astype(str).to_numpy()
    module = corpora.module(cache.corpus) if cache.corpus in corpora.KEYS else None
    if module is not None and hasattr(module, "language_of"):
        return np.array([module.language_of(str(uid)) for uid in table["id"]], dtype=object)
    return np.full(len(table), corpus_language(cache), dtype=object)


def corpus_language(cache: FeatureCache) -> str:
    """A cache's language: its ``language`` attribute, else the corpus module's, else the corpus name."""
    lang = str(cache.attrs.get("language") or "")
    if not lang and cache.corpus in corpora.KEYS:
        lang = corpora.info(cache.corpus).language
    return lang or cache.corpus


def make_domains(caches: Sequence[FeatureCache], group_by: str = "corpus", regional: bool = False) -> list[Domain]:
    """The domains of the caches: one per cache, or (``language``) one per language within each cache;
    ``regional`` keeps regional variants of a language apart (see :attr:`Domain.lang`)."""
    if group_by not in GROUP_BY:
        raise TransferError(f"unknown --group-by {group_by!r}; use one of {', '.join(GROUP_BY)}")
    domains: list[Domain] = []
    for source, cache in enumerate(caches):
        if group_by == "corpus":
            domains.append(Domain(cache.corpus, cache.corpus, corpus_language(cache), source,
                                  np.arange(len(cache), dtype=np.int64), regional))
            continue
        langs = utterance_languages(cache)
        speakers = cache.utterances["speaker"].astype(str).to_numpy()
        for speaker in np.unique(speakers):
            spoken = set(langs[speakers == speaker])
            if len(spoken) > 1:
                raise TransferError(f"{cache.path}: speaker {speaker!r} speaks {sorted(spoken)}; language groups "
                                    "must not share speakers")
        for lang in dict.fromkeys(langs):
            domains.append(Domain(f"{cache.corpus}-{lang}", cache.corpus, str(lang), source,
                                  np.flatnonzero(langs == lang).astype(np.int64), regional))
    names = [d.name for d in domains]
    if len(set(names)) != len(names):
        raise TransferError(f"domain names are not unique: {names}")
    return domains


def domain_labels(domain: Domain, cache: FeatureCache) -> set[str]:
    """The classes present in a domain."""
    return set(cache.utterances["label"].astype(str).to_numpy()[domain.rows])


def shared_classes(label_sets: Sequence[set[str]], wanted: str | Sequence[str] | None = "4") -> tuple[str, ...]:
    """Classes common to every label set, within ``wanted`` (``"4"``, a list, or ``"all"``); sorted."""
    chosen = parse_classes(wanted)
    common = set.intersection(*map(set, label_sets)) if label_sets else set()
    if chosen is not None:
        common &= set(chosen)
    return tuple(sorted(common))


def domain_split(domain: Domain, cache: FeatureCache, classes: Sequence[str], seed: int) -> tuple[Split, dict]:
    """The holdout split of a domain's rows within ``classes`` and its parts as cache rows."""
    table = cache.utterances.iloc[domain.rows]
    keep = table["label"].isin(classes).to_numpy()
    rows = domain.rows[keep]
    manifest = table.loc[keep, ["id", "label", "speaker", "gender"]].reset_index(drop=True)
    split = holdout_split(manifest, seed=seed)
    masks = split.masks(manifest["id"].astype(str).tolist(), 0)
    return split, {p: rows[masks[p]] for p in ("train", "val", "test")}


@dataclass(frozen=True)
class Task:
    """One training (one or two stages of domains) and the domains its probe is tested on."""

    protocol: str
    stages: tuple[tuple[str, ...], ...]
    tests: tuple[str, ...]
    classes: tuple[str, ...]
    label: str = ""

    @property
    def train(self) -> tuple[str, ...]:
        """Every domain trained on, stage order."""
        return tuple(n for stage in self.stages for n in stage)

    @property
    def train_label(self) -> str:
        """Short name of the training side, for paths and tables."""
        if self.label:
            return self.label
        return ">".join("+".join(stage) for stage in self.stages)


def _grouped(protocol: str, stages: tuple[tuple[str, ...], ...], tests: Sequence[str],
             classes_of: dict[str, tuple[str, ...]], label: str = "") -> list[Task]:
    """Tasks of one training, one per distinct class space of its test domains."""
    by_space: dict[tuple[str, ...], list[str]] = {}
    for test in tests:
        by_space.setdefault(classes_of[test], []).append(test)
    return [Task(protocol, stages, tuple(t), space, label) for space, t in by_space.items() if len(space) >= 2]


def plan_tasks(
    protocol: str, domains: Sequence[Domain], labels: dict[str, set[str]], train: Sequence[str] | None = None,
    test: Sequence[str] | None = None, wanted: str | Sequence[str] | None = "4",
) -> tuple[list[Task], list[str]]:
    """The tasks of ``protocol`` over the domains (``train``/``test``: names, default all), and notes on cells left
    out (fewer than two shared classes, no other language to train on)."""
    if protocol not in PROTOCOLS:
        raise TransferError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    by_name = {d.name: d for d in domains}
    for name in [*(train or ()), *(test or ())]:
        if name not in by_name:
            raise TransferError(f"unknown domain {name!r}; available: {', '.join(by_name)}")
    train_names = list(train or by_name)
    test_names = list(test or by_name)
    tasks: list[Task] = []
    notes: list[str] = []

    def space(*names: str) -> tuple[str, ...]:
        return shared_classes([labels[n] for n in names], wanted)

    def keep(found: list[Task], what: str, spaces: dict[str, tuple[str, ...]]) -> None:
        tasks.extend(found)
        for name, cls in spaces.items():
            if len(cls) < 2:
                notes.append(f"{what} → {name}: only {len(cls)} shared class(es) {list(cls)}; left out")

    if protocol == "pair":
        for a in train_names:
            spaces = {b: space(a, b) for b in test_names}
            keep(_grouped(protocol, ((a,),), test_names, spaces), a, spaces)
    elif protocol == "sequential":
        for a in train_names:
            for b in test_names:
                if a != b:
                    spaces = {b: space(a, b)}
                    keep(_grouped(protocol, ((a,), (b,)), [b], spaces), f"{a} then {b}", spaces)
    elif protocol == "multilingual":
        spaces = {b: space(*train_names, b) for b in test_names}
        keep(_grouped(protocol, (tuple(train_names),), test_names, spaces, "all"), "all", spaces)
    else:
        for lang in dict.fromkeys(by_name[t].lang for t in test_names):
            sources = tuple(n for n in train_names if by_name[n].lang != lang)
            targets = [t for t in test_names if by_name[t].lang == lang]
            if not sources:
                notes.append(f"no domain of another language than {lang!r} to train on; {targets} left out")
                continue
            spaces = {t: space(*sources, t) for t in targets}
            keep(_grouped(protocol, (sources,), targets, spaces, f"all-but-{lang}"), f"all but {lang}", spaces)
    return tasks + in_domain_references(tasks, {t: space(t) for t in test_names}), notes


def in_domain_references(tasks: Sequence[Task], own: dict[str, tuple[str, ...]]) -> list[Task]:
    """In-domain runs (train and test on the target's own speakers) over the class space of each transfer into a
    target whose space is smaller than the target's own (``own``, the pair diagonal's), where the tasks hold none:
    leave-one-language-out and multilingual intersect the classes of all sources (3 classes when AESDD, without
    neutral, is one), so the relative drop must divide by an in-domain score over the same classes, not by the
    target's 4-class diagonal."""
    have = {(t, task.classes) for task in tasks if task.protocol == "pair" for t in task.tests if task.train == (t,)}
    wanted = dict.fromkeys((t, task.classes) for task in tasks for t in task.tests
                           if task.train != (t,) and task.classes != own.get(t))
    return [Task(IN_DOMAIN, ((t,),), (t,), classes, t) for t, classes in wanted if (t, classes) not in have]


def task_parts(
    task: Task, domains: dict[str, Domain], splits: dict[str, dict[str, np.ndarray]], speakers: np.ndarray,
    bases: np.ndarray,
) -> tuple[list[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Global rows of each stage's train/val parts, and of each test domain's test part.

    ``splits`` maps a domain to its parts (cache rows); ``speakers`` holds ``source:speaker`` of every global row.
    Raises :class:`TransferError` if a test speaker would be trained or validated on.
    """
    def rows(name: str, part: str) -> np.ndarray:
        return splits[name][part] + bases[domains[name].source]

    stages = [{p: np.concatenate([rows(n, p) for n in stage]) for p in ("train", "val")} for stage in task.stages]
    tests = {t: rows(t, "test") for t in task.tests}
    seen = set(speakers[np.concatenate([s[p] for s in stages for p in ("train", "val")])])
    for name, test_rows in tests.items():
        leaked = seen & set(speakers[test_rows])
        if leaked:
            raise TransferError(f"{task.train_label} → {name}: test speaker(s) {sorted(leaked)[:5]} are in the "
                                "training or validation part")
    return stages, tests


def speaker_keys(table: pd.DataFrame) -> np.ndarray:
    """``<source>:<speaker>`` of every row of a :class:`probe.data.transfer_data.TransferData` table: one speaker per
    cache (two corpora's ``spk01`` are different people; one cache's groups share its speakers)."""
    return (table["source"].astype(str) + ":" + table["speaker"].astype(str)).to_numpy()


