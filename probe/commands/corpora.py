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
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from extract import corpora
from extract.corpora.base import MANIFEST_COLUMNS, CorpusError
from extract.labels import parse_classes
from probe.commands.corpora_check import MIN_SPLIT_SPEAKERS, PROGRESS_MIN_FILES, SPEAKER_TABLE_MAX, check
from probe.commands.corpora_common import CorpusOption, RootOption, _count, _info, _key, _root, _scan
from probe.commands.errors import fail, require_folder
from probe.commands.terminal_tables import print_fitted

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


COLUMNS: tuple[str, ...] = ("key", "set", "language", "files", "speakers", "classes", "protocol", "access",
                            "where to get it", "found at")
WIDE = 160
"""Terminal columns from which the full table is printed; below it, a narrow table and one line per corpus."""


def _corpus_rows(found: dict[str, Path]) -> list[dict[str, str]]:
    """One row of plain text per registered corpus (a loader that fails gives its error as the classes)."""
    rows = []
    for key in corpora.KEYS:
        row = dict.fromkeys(COLUMNS, "")
        row.update(key=key, set=_group(key), **{"found at": str(found[key]) if key in found else "-"})
        try:
            info = corpora.info(key)
        except Exception as exc:  # noqa: BLE001 - one broken loader must not hide the others
            row["classes"] = f"loader error: {type(exc).__name__}: {exc}"
            rows.append(row)
            continue
        row.update(language=info.language, files=_count(info.expected_files),
                   speakers=_count(info.expected_speakers), classes=f"{len(info.classes)}: {', '.join(info.classes)}",
                   protocol=_honest_protocol(info.expected_speakers), access=info.access,
                   **{"where to get it": info.url})
        rows.append(row)
    return rows


def _print_narrow(console: Console, rows: list[dict[str, str]]) -> None:
    """Fits 80 columns: the short facts as a table, then each corpus's classes and source on lines of their own."""
    table = Table(title="Corpora", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
    for column in ("key", "set", "lang", "files", "spk", "classes", "protocol", "access", "found"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(row["key"], row["set"], row["language"], row["files"], row["speakers"],
                      row["classes"].split(":")[0], row["protocol"].replace(" (LOSO)", "").replace(
                          " (too few speakers)", ""), row["access"], "yes" if row["found at"] != "-" else "-")
    console.print(table)
    details = Table.grid(padding=(0, 1))
    details.add_column(no_wrap=True, style="bold")
    details.add_column(overflow="fold")
    for row in rows:
        parts = [row["classes"].partition(": ")[2] or row["classes"], row["where to get it"]]
        parts += [f"found at {row['found at']}"] if row["found at"] != "-" else []
        details.add_row(row["key"], escape(" · ".join(p for p in parts if p)))
    console.print(details)
    console.print("(--wide: one table with every column; --csv: the same as CSV)", highlight=False)


@corpora_app.command("list")
def list_corpora(
    data_root: Path | None = typer.Option(None, "--data-root", help="Folder holding <key>/ corpus folders."),
    config: Path | None = typer.Option(None, "--config", help="A probe-data.toml with a [corpora] table."),
    wide: bool = typer.Option(False, "--wide", help=f"One table with every column, however narrow the terminal "
                              f"(the default from {WIDE} columns)."),
    csv: bool = typer.Option(False, "--csv", help="Print every column as CSV (for scripts and spreadsheets)."),
) -> None:
    """Every corpus the suite knows: language, expected files, speakers and classes, access, source, location."""
    from extract.corpora.locate import corpus_roots
    from probe.run.splits import LOSO_MAX_SPEAKERS

    console = Console()
    problem = ""
    try:
        found = corpus_roots(data_root=data_root, config=config)
    except CorpusError as exc:
        found, problem = {}, str(exc)
    if data_root is not None and not data_root.expanduser().is_dir():
        problem = problem or (f"--data-root {data_root} is not a folder, so no corpus was looked for there; give the "
                              "folder that holds one <key>/ folder per corpus")
    rows = _corpus_rows(found)
    if csv:
        import pandas as pd

        typer.echo(pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(index=False), nl=False)
        return
    if wide or console.width >= WIDE:
        table = Table(title="Corpora", show_lines=False)
        for column in COLUMNS:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(escape(row[c]) for c in COLUMNS))
        print_fitted(console, table, (), "", wide=wide)  # --wide: the console widens to the table
    else:
        _print_narrow(console, rows)
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
    from probe.run.splits import LOSO_MAX_SPEAKERS as few, MIN_SPEAKERS

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
        fail(str(exc))
    folder = _root(key, root)
    info = _info(key)
    scan = _scan(key, folder)
    full = scan.to_frame()
    if full.empty:
        fail(f"no usable audio of corpus {key!r} found in {folder} ({len(scan.skipped)} files skipped; "
              f"run `probe corpora check --corpus {key} --root {folder}`)", code=1)
    frame = corpora.select_classes(full, chosen)
    if chosen is not None:
        absent = sorted(set(chosen) - set(full["label"]))
        if absent:
            console.print(f"[yellow]note:[/] {key} has no {', '.join(absent)}", highlight=False)
    if frame.empty:
        fail(f"none of the classes {', '.join(chosen or ())} occur in {key} (it has {', '.join(info.classes)})",
              code=1)
    out = out.expanduser()
    if out.is_dir():
        fail(f"--out {out} is a folder; give a file name such as {out / (key + '.csv')}", code=2)
    require_folder(out.parent, "--out", "the manifest")
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
