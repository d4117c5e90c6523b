"""Checks every command makes before it starts work, and the one way they fail: a one-line ``error:`` on stderr
that names the thing, the reason and the next step, then exit code 2 (a bad option value) or 1 (a state of the
machine, such as a folder that cannot be written)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr (one logical line, wrapped only by the terminal) and exit with ``code``."""
    Console(stderr=True, emoji=False).print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                                            soft_wrap=True)
    raise typer.Exit(code)


def require_device(device: str, option: str = "--device") -> None:
    """Exit with an error when ``device`` is asked for and absent here (:func:`extract.devices.check_device`)."""
    from extract.devices import DeviceError, check_device

    try:
        check_device(device, option)
    except DeviceError as exc:
        fail(str(exc), 2)


def require_folder(folder: Path, option: str, what: str) -> Path:
    """Create ``folder`` and check it can be written, or exit with an error naming it, the reason and ``option``
    (:func:`extract.guards.ensure_folder`)."""
    from extract.guards import FolderError, ensure_folder

    try:
        return ensure_folder(folder, option, what)
    except FolderError as exc:
        fail(str(exc), 1)


def refuse_file_in_path(folder: Path, option: str) -> None:
    """Exit with an error when a file stands where ``folder`` or one of its parents should be (for commands that
    only look at a folder, so must not create it)."""
    from extract.guards import file_in_path

    blocker = file_in_path(Path(folder))
    if blocker is not None:
        fail(f"{option} {folder}: {blocker} is a file, not a folder; choose another {option}", 2)
