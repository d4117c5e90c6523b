"""`probe corpora`: what the suite knows about each corpus, what is on disk, and the parsed manifest.

* ``probe corpora list``: every corpus of the registry with its facts, and where it was found.
* ``probe corpora check --corpus KEY [--root DIR]``: found vs expected, skipped and unreadable files, a verdict
  (:mod:`probe.commands.corpora_check`).
* ``probe corpora manifest --corpus KEY [--root DIR] --out FILE.csv``: write the manifest table.

Without ``--root`` a corpus is located as :mod:`extract.corpora.locate` describes (``probe-data.toml``,
``$PROBE_DATA_ROOT``, ``./data/<key>``). User errors (unknown corpus, missing folder, bad class set) exit with
code 2 and a one-line message; an unusable corpus exits with code 1.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from extract import corpora
from extract.corpora.base import MANIFEST_COLUMNS, CorpusError
from extract.labels import parse_classes
from probe.commands.corpora_check import MIN_SPLIT_SPEAKERS, PROGRESS_MIN_FILES, SPEAKER_TABLE_MAX, check
from probe.commands.corpora_common import CorpusOption, RootOption, _count, _fail, _info, _key, _root, _scan

__all__ = ["MIN_SPLIT_SPEAKERS", "PROGRESS_MIN_FILES", "SPEAKER_TABLE_MAX", "corpora_app", "register"]

corpora_app = typer.Typer(
    help="Inspect corpora: the registry, a corpus folder on disk, and its parsed manifest.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the `probe corpora` group to the `probe` app."""
    app.add_typer(corpora_app, name="corpora")


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


corpora_app.command("check")(check)  # probe/commands/corpora_check.py; registered here to keep list, check, manifest


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
