"""`probe corpora`: what the suite knows about each corpus, what is on disk, and the parsed manifest.

* ``probe corpora list``: every corpus of the registry with its facts, and where it was found.
* ``probe corpora check --corpus KEY [--root DIR]``: found vs expected, skipped and unreadable files, a verdict.
* ``probe corpora manifest --corpus KEY [--root DIR] --out FILE.csv``: write the manifest table.

Without ``--root`` a corpus is located as :mod:`extract.corpora.locate` describes (``probe-data.toml``,
``$PROBE_DATA_ROOT``, ``./data/<key>``). User errors (unknown corpus, missing folder, bad class set) exit with
code 2 and a one-line message; an unusable corpus exits with code 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from extract import corpora
from extract.corpora.base import MANIFEST_COLUMNS, CorpusError, CorpusInfo, Item, Scan
from extract.labels import parse_classes

PROGRESS_MIN_FILES = 200  # show a progress bar when reading at least this many headers
SPEAKER_TABLE_MAX = 30  # above this many speakers, summarise them on one line
MIN_SPLIT_SPEAKERS = 3  # probe.splits needs one speaker each for train, val and test

corpora_app = typer.Typer(
    help="Inspect corpora: the registry, a corpus folder on disk, and its parsed manifest.",
    no_args_is_help=True,
)

CorpusOption = typer.Option(..., "--corpus", "-c", help="Corpus key, e.g. emodb (see `probe corpora list`).")
RootOption = typer.Option(
    None,
    "--root",
    "-r",
    help="The corpus folder as distributed. Default: located via probe-data.toml, $PROBE_DATA_ROOT or ./data/<key>.",
)


def register(app: typer.Typer) -> None:
    """Add the `probe corpora` group to the `probe` app."""
    app.add_typer(corpora_app, name="corpora")


# ---------------------------------------------------------------------------------------------------------------
# shared helpers


def _fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error to stderr and exit with ``code`` (2: user error, 1: unusable corpus)."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _key(corpus: str) -> str:
    """The registry key for ``corpus`` (case-insensitive), or exit 2."""
    key = corpus.strip().lower()
    if key not in corpora.KEYS:
        _fail(f"unknown corpus {corpus!r}; known corpora: {', '.join(corpora.KEYS)}")
    return key


def _root(key: str, root: Path | None) -> Path:
    """The corpus folder: ``--root`` if given (must be a folder), else located; exit 2 otherwise."""
    from extract.corpora.locate import corpus_root

    if root is None:
        try:
            return corpus_root(key).absolute()
        except CorpusError as exc:
            _fail(str(exc))
    root = root.expanduser()
    if not root.exists():
        _fail(f"corpus folder {root} does not exist")
    if not root.is_dir():
        _fail(f"corpus folder {root} is not a directory")
    return root.absolute()


def _info(key: str) -> CorpusInfo:
    """The corpus's INFO, or exit 1 when its loader module cannot be loaded."""
    try:
        return corpora.info(key)
    except Exception as exc:  # noqa: BLE001 - a broken loader is reported, not a traceback
        _fail(f"the loader of corpus {key!r} cannot be loaded: {type(exc).__name__}: {exc}", code=1)


def _scan(key: str, root: Path) -> Scan:
    """The loader's scan, or exit 1 with the loader's own reason."""
    try:
        return corpora.scan(key, root)
    except CorpusError as exc:
        _fail(f"{key}: {exc}", code=1)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` where possible, for display."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


# ---------------------------------------------------------------------------------------------------------------
# probe corpora list


def _group(key: str) -> str:
    if key in corpora.BENCHMARK:
        return "benchmark"
    if key in corpora.ENGLISH:
        return "english"
    return "demo"


@corpora_app.command("list")
def list_corpora(
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder holding <key>/ corpus folders."),
    config: Path | None = typer.Option(None, "--config", help="A probe-data.toml with a [corpora] table."),
) -> None:
    """Every corpus the suite knows: language, expected files, speakers and classes, access, source, location."""
    from extract.corpora.locate import corpus_roots
    from probe.splits import LOSO_MAX_SPEAKERS

    console = Console()
    problem = ""
    try:
        found = corpus_roots(data_root=data_root, config=config)
    except CorpusError as exc:
        found, problem = {}, str(exc)
    table = Table(title="Corpora", show_lines=False)
    for column in ("key", "set", "language", "files", "speakers", "classes", "protocol", "access", "where to get it",
                   "found at"):
        table.add_column(column, overflow="fold")
    for key in corpora.KEYS:
        located = escape(str(found[key])) if key in found else "-"
        try:
            info = corpora.info(key)
        except Exception as exc:  # noqa: BLE001 - one broken loader must not hide the others
            error = f"[red]loader error: {type(exc).__name__}: {escape(str(exc))}[/]"
            table.add_row(key, _group(key), "", "", "", error, "", "", "", located)
            continue
        classes = f"{len(info.classes)}: {', '.join(info.classes)}"
        table.add_row(
            key,
            _group(key),
            info.language,
            _count(info.expected_files),
            _count(info.expected_speakers),
            classes,
            _honest_protocol(info.expected_speakers),
            info.access,
            escape(info.url),
            located,
        )
    console.print(table)
    console.print(
        f"protocol: the honest default for the corpus. With at most {LOSO_MAX_SPEAKERS} speakers a holdout test part "
        "holds one or two speakers, so `probe run --protocol kfold` (leave-one-speaker-out) is the protocol to "
        "report; larger corpora have enough speakers for the 80/10/10 holdout (`--protocol holdout`, the default).",
        highlight=False, soft_wrap=True,
    )
    if problem:
        console.print(f"[yellow]could not locate corpora:[/] {escape(problem)}", highlight=False, soft_wrap=True)


def _honest_protocol(speakers: int | None) -> str:
    """``kfold (LOSO)`` for corpora of few speakers, ``holdout`` otherwise (``-`` when unknown)."""
    from probe.splits import LOSO_MAX_SPEAKERS as few, MIN_SPEAKERS

    if speakers is None:
        return "-"
    if speakers < MIN_SPEAKERS:
        return "none (too few speakers)"
    return "kfold (LOSO)" if speakers <= few else "holdout"


# ---------------------------------------------------------------------------------------------------------------
# probe corpora check


def _read_headers(
    items: Sequence[Item], console: Console, decode: bool = True, notes: list[tuple[Item, str]] | None = None
) -> list[tuple[Item, str]]:
    """Check every item's audio as extraction would (header only, or every sample with ``decode``); the items
    that fail, with reasons. Notes on usable but odd files (truncated) are appended to ``notes``."""
    from extract.audio import AudioError, inspect_audio

    failed: list[tuple[Item, str]] = []
    what = "decoding audio" if decode else "reading headers"
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=len(items) < PROGRESS_MIN_FILES) as progress:
        for item in progress.track(items, total=len(items)):
            try:
                found = inspect_audio(item.path, decode=decode)
            except AudioError as exc:
                failed.append((item, exc.reason))
                continue
            if notes is not None:
                notes.extend((item, note) for note in found)
    return failed


def _label_table(info: CorpusInfo, usable: Sequence[Item]) -> Table:
    """Usable files per label against the official counts."""
    found = Counter(item.label for item in usable)
    expected = info.expected_per_label
    table = Table(title="files per label")
    for column in ("label", "found", "expected", "diff"):
        table.add_column(column, justify="right" if column in ("found", "expected") else "left")
    for label in sorted(set(info.classes) | set(found)):
        want = expected.get(label)
        table.add_row(label, str(found[label]), _count(want), _diff(found[label], want))
    total = len(usable)
    table.add_row("[bold]total[/]", str(total), _count(info.expected_files), _diff(total, info.expected_files))
    return table


def _diff(found: int, expected: int | None) -> str:
    """``ok``, the signed difference, or nothing when no count is expected (rich markup)."""
    if expected is None:
        return ""
    return "[green]ok[/]" if found == expected else f"[yellow]{found - expected:+d}[/]"


def _speaker_report(usable: Sequence[Item], console: Console) -> None:
    """Files per speaker: a table for a few speakers, a one-line summary for many."""
    per_speaker = Counter(item.speaker for item in usable)
    labels: dict[str, set[str]] = {}
    gender: dict[str, str] = {}
    for item in usable:
        labels.setdefault(item.speaker, set()).add(item.label)
        gender.setdefault(item.speaker, item.gender)
    n_classes = len({item.label for item in usable})
    if len(per_speaker) <= SPEAKER_TABLE_MAX:
        table = Table(title="files per speaker")
        for column in ("speaker", "gender", "files", "classes"):
            table.add_column(column, justify="right" if column in ("files", "classes") else "left")
        for speaker in sorted(per_speaker):
            table.add_row(escape(speaker), gender[speaker] or "-", str(per_speaker[speaker]),
                          f"{len(labels[speaker])}/{n_classes}")
        console.print(table)
        return
    counts = pd.Series(per_speaker)
    fewest = ", ".join(f"{escape(str(s))} ({n})" for s, n in counts.sort_values(kind="stable").head(5).items())
    partial = sum(len(v) < n_classes for v in labels.values())
    console.print(
        f"files per speaker: {len(counts)} speakers, {counts.min()}-{counts.max()} files each "
        f"(median {counts.median():g}); fewest: {fewest}; {partial} speaker(s) lack some class",
        highlight=False,
        soft_wrap=True,
    )


def _grouped_skips(scan: Scan, root: Path, show: int, console: Console) -> None:
    """Skipped files grouped by reason, with a few examples each."""
    by_reason: dict[str, list[Path]] = {}
    for skipped in scan.skipped:
        by_reason.setdefault(skipped.reason, []).append(skipped.path)
    console.print(f"[bold]skipped files:[/] {len(scan.skipped)}", highlight=False)
    for reason, paths in sorted(by_reason.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        console.print(f"  {len(paths)} x {reason}", highlight=False, markup=False, soft_wrap=True)
        for path in paths[:show]:
            console.print(f"      {_relative(path, root)}", highlight=False, markup=False, soft_wrap=True)
        if len(paths) > show:
            console.print(f"      ... and {len(paths) - show} more", highlight=False)


@corpora_app.command("check")
def check(
    corpus: str = CorpusOption,
    root: Path | None = RootOption,
    read_audio: bool = typer.Option(
        True,
        "--read-audio/--no-read-audio",
        help="Open every usable file's audio (slower, catches broken files); --no-read-audio checks names only.",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Read only the audio headers (rate, length, truncation), not every sample; the "
        "default decodes each file to find silent, NaN and too-short clips before extraction.",
    ),
    show: int = typer.Option(10, "--show", min=0, help="List at most this many files per problem."),
) -> None:
    """Found vs expected files per label and speaker, skipped and unreadable files, and a verdict."""
    console = Console()
    key = _key(corpus)
    folder = _root(key, root)
    info = _info(key)
    console.print(
        f"[bold]{escape(info.name)}[/] ({key}, {info.language}) in {escape(str(folder))}",
        highlight=False,
        soft_wrap=True,
    )
    scan = _scan(key, folder)

    notes: list[tuple[Item, str]] = []
    unreadable = _read_headers(scan.items, console, decode=not quick, notes=notes) if read_audio else []
    bad_ids = {item.id for item, _ in unreadable}
    usable = [item for item in scan.items if item.id not in bad_ids]

    console.print(_label_table(info, usable))
    if usable:
        _speaker_report(usable, console)
    if scan.skipped:
        _grouped_skips(scan, folder, show, console)
    if unreadable:
        console.print(f"[bold]unreadable files:[/] {len(unreadable)}", highlight=False)
        for item, reason in unreadable[:show]:
            console.print(f"  {_relative(item.path, folder)}: {reason}", highlight=False, markup=False, soft_wrap=True)
        if len(unreadable) > show:
            console.print(f"  ... and {len(unreadable) - show} more", highlight=False)
    if notes:
        console.print(f"[bold]usable, but note:[/] {len(notes)}", highlight=False)
        for item, note in notes[:show]:
            console.print(f"  {_relative(item.path, folder)}: {note}", highlight=False, markup=False, soft_wrap=True)

    code, verdict = _verdict(info, usable, unreadable, read_audio)
    console.print(verdict, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _verdict(
    info: CorpusInfo, usable: Sequence[Item], unreadable: Sequence[tuple[Item, str]], read_audio: bool
) -> tuple[int, str]:
    """Exit code and verdict line: 1 when unusable, else 0 with "OK" or the warnings."""
    n_files = len(usable)
    speakers = {item.speaker for item in usable}
    classes = {item.label for item in usable}
    summary = f"{n_files} usable files, {len(classes)} classes, {len(speakers)} speakers"
    if n_files == 0:
        return 1, f"[bold red]UNUSABLE:[/] no usable audio of {info.key} found (see the skipped files above)"
    if len(classes) < 2 or len(speakers) < 2:
        return 1, f"[bold red]UNUSABLE:[/] {summary}; at least 2 classes and 2 speakers are needed"
    warnings: list[str] = []
    if info.expected_files is not None and n_files != info.expected_files:
        warnings.append(f"{n_files} files, {info.expected_files} expected")
    if info.expected_speakers is not None and len(speakers) != info.expected_speakers:
        warnings.append(f"{len(speakers)} speakers, {info.expected_speakers} expected")
    off = [lab for lab, want in info.expected_per_label.items() if sum(i.label == lab for i in usable) != want]
    if off and info.expected_files is not None and n_files == info.expected_files:
        warnings.append(f"per-label counts differ for {', '.join(sorted(off))}")
    if unreadable:
        warnings.append(f"{len(unreadable)} unreadable file(s) will be skipped")
    if len(speakers) < MIN_SPLIT_SPEAKERS:
        warnings.append(f"only {len(speakers)} speakers: no speaker-independent train/val/test split is possible")
    checked = "" if read_audio else " (audio headers not read: --no-read-audio)"
    if warnings:
        return 0, f"[bold yellow]USABLE WITH WARNINGS:[/] {summary}; " + "; ".join(warnings) + checked
    matches = " matching the official counts" if info.expected_files is not None else ""
    return 0, f"[bold green]OK:[/] {summary}{matches}{checked}"


# ---------------------------------------------------------------------------------------------------------------
# probe corpora manifest


@corpora_app.command("manifest")
def manifest(
    corpus: str = CorpusOption,
    root: Path | None = RootOption,
    out: Path = typer.Option(..., "--out", "-o", help="CSV file to write (id, path, label, speaker, gender)."),
    classes: str = typer.Option(
        "all", "--classes", help="Class set: all, 4 (anger/happiness/neutral/sadness) or a,b,c."
    ),
) -> None:
    """Write the parsed manifest (file names only; `probe corpora check` also reads the audio headers)."""
    console = Console()
    key = _key(corpus)
    try:
        chosen = parse_classes(classes)
    except ValueError as exc:
        _fail(str(exc))
    folder = _root(key, root)
    info = _info(key)
    scan = _scan(key, folder)
    full = scan.to_frame()
    if full.empty:
        _fail(f"no usable audio of corpus {key!r} found in {folder} ({len(scan.skipped)} files skipped; "
              f"run `probe corpora check --corpus {key} --root {folder}`)", code=1)
    frame = corpora.select_classes(full, chosen)
    if chosen is not None:
        absent = sorted(set(chosen) - set(full["label"]))
        if absent:
            console.print(f"[yellow]note:[/] {key} has no {', '.join(absent)}", highlight=False)
    if frame.empty:
        _fail(f"none of the classes {', '.join(chosen or ())} occur in {key} (it has {', '.join(info.classes)})",
              code=1)
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    frame[list(MANIFEST_COLUMNS)].to_csv(out, index=False)

    genders = frame.drop_duplicates("speaker")["gender"].replace("", "?").value_counts()
    gender_text = ", ".join(f"{n} {g}" for g, n in sorted(genders.items()))
    per_label = ", ".join(f"{lab} {n}" for lab, n in frame["label"].value_counts().sort_index().items())
    console.print(
        f"wrote {len(frame)} utterances of {key} to {out}: {frame['label'].nunique()} classes, "
        f"{frame['speaker'].nunique()} speakers ({gender_text})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    console.print(f"  per label: {per_label}", highlight=False, soft_wrap=True)
    dropped = len(full) - len(frame)
    if dropped:
        console.print(f"  left out {dropped} utterances of other classes", highlight=False)
    if scan.skipped:
        console.print(f"  skipped {len(scan.skipped)} files (see `probe corpora check`)", highlight=False)
