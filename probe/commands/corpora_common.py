"""What the `probe corpora` commands share: the corpus and root options, and the checks that turn a corpus key
and folder into a loader's facts and scan (user errors exit 2, an unusable corpus 1, each with one line)."""

from __future__ import annotations

from pathlib import Path

import typer

from extract import corpora
from extract.corpora.base import CorpusError, CorpusInfo, Scan
from probe.commands.errors import fail

CorpusOption = typer.Option(..., "--corpus", "-c", help="Corpus key, e.g. emodb (see `probe corpora list`).")
RootOption = typer.Option(
    None,
    "--root",
    "-r",
    help="The corpus folder as distributed. Default: located via probe-data.toml, $PROBE_DATA_ROOT or ./data/<key>.",
)




def _key(corpus: str) -> str:
    """The registry key for ``corpus`` (case-insensitive), or exit 2."""
    key = corpus.strip().lower()
    if key not in corpora.KEYS:
        fail(f"unknown corpus {corpus!r}; known corpora: {', '.join(corpora.KEYS)}")
    return key


def _root(key: str, root: Path | None) -> Path:
    """The corpus folder: ``--root`` if given (must be a folder), else located; exit 2 otherwise."""
    from extract.corpora.locate import corpus_root

    if root is None:
        try:
            return corpus_root(key).absolute()
        except CorpusError as exc:
            fail(str(exc))
    root = root.expanduser()
    if not root.exists():
        fail(f"corpus folder {root} does not exist; give --root the folder holding {key}'s audio (or leave it "
              f"out to look in probe-data.toml, $PROBE_DATA_ROOT and ./data/{key})")
    if not root.is_dir():
        fail(f"corpus folder {root} is not a directory (a file); give --root the folder holding {key}'s audio")
    return root.absolute()


def _info(key: str) -> CorpusInfo:
    """The corpus's INFO, or exit 1 when its loader module cannot be loaded."""
    try:
        return corpora.info(key)
    except Exception as exc:  # noqa: BLE001 - a broken loader is reported, not a traceback
        fail(f"the loader of corpus {key!r} cannot be loaded: {type(exc).__name__}: {exc}", code=1)


def _scan(key: str, root: Path) -> Scan:
    """The loader's scan, or exit 1 with the loader's own reason."""
    try:
        return corpora.scan(key, root)
    except CorpusError as exc:
        fail(f"{key}: {exc}", code=1)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` where possible, for display."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
