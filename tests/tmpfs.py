"""A small real file system (tmpfs) for full-disk tests, where this process may mount one (root)."""

from __future__ import annotations

import errno
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def can_mount(where: Path) -> bool:
    """Whether a tmpfs can be mounted at ``where`` (tried and unmounted)."""
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or shutil.which("umount") is None:
        return False
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True)
    if ok.returncode == 0:
        subprocess.run(["umount", str(where)], check=True)
        return True
    return False


@contextmanager
def tmpfs(where: Path, size_kb: int) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``where`` for the ``with`` block."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def grow(where: Path, size_kb: int) -> None:
    """Resize the tmpfs at ``where``, keeping its files: the user frees space."""
    subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(where)], check=True)


def mountable(tmp_path: Path) -> None:
    """Skip the calling test, with the reason, where no tmpfs can be mounted."""
    if not can_mount(tmp_path / "probe-mount"):
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN); the injected-ENOSPC tests cover this")


def fill(path: Path) -> None:
    """Write ``path`` until its file system is full to the last byte (ENOSPC)."""
    with open(path, "wb", buffering=0) as handle:
        for block in (4096, 1):
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
