"""`probe corpora check --corpus KEY [--root DIR]`: found vs expected files per label and speaker, skipped and
unreadable files, and a verdict (exit 1 when the corpus is unusable)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from extract.corpora.base import CorpusInfo, Item, Scan
from probe.commands.corpora_common import CorpusOption, RootOption, _count, _info, _key, _relative, _root, _scan

PROGRESS_MIN_FILES = 200  # show a progress bar when reading at least this many headers
SPEAKER_TABLE_MAX = 30  # above this many speakers, summarise them on one line
MIN_SPLIT_SPEAKERS = 3  # probe.run.splits needs one speaker each for train, val and test


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
    import pandas as pd

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
