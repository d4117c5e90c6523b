"""One writer at a time: an exclusive OS file lock per cache file being written and per results folder.

The lock is ``fcntl.flock`` on a small ``.lock`` file beside what it guards. The kernel drops it when its holder
exits, however it exits (kill -9 included), so there is never a stale lock to clean up; the file's text (the
holder's pid, host and start time) only serves the message a second process prints. The file itself is left in
place on purpose: deleting it would let a third process lock a fresh inode while the second waits on the old one.

Caveat: ``flock`` locks are local to one machine on some network file systems (older NFS clients, some FUSE
mounts), so two hosts writing the same cache over such a mount are not kept apart; run one extraction per cache.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["LockBusy", "exclusive_lock", "lock_path"]


class LockBusy(RuntimeError):
    """Another process holds the lock; the message names it and the remedy."""


def lock_path(target: str | Path, folder: bool = False) -> Path:
    """The lock file of ``target``: ``<target>/.lock`` for a folder, ``<file>.lock`` beside a file."""
    target = Path(target)
    return target / ".lock" if folder else target.with_name(target.name + ".lock")


def _holder(fd: int) -> str:
    """The text the current holder wrote into the lock file (its pid, host and start), or a placeholder."""
    try:
        text = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "another process (pid unknown)"


@contextmanager
def exclusive_lock(
    target: str | Path, *, what: str, folder: bool = False, wait: bool = False,
    log: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold an exclusive lock on ``target`` (a file to be written, or a ``folder``) for the ``with`` block.

    When another process holds it: raise :class:`LockBusy` naming the holder (``wait=False``), or wait until it is
    released (``wait=True``, saying so through ``log``). ``what`` names the guarded thing in messages. A lock
    file that cannot be created (a file in the folder's path, a read-only file system) raises
    :class:`extract.guards.FolderError` naming the folder and the reason.
    """
    path = lock_path(target, folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    except OSError as exc:  # a file in the way, a read-only file system, no permission: say so, not a traceback
        from extract.guards import folder_error

        raise folder_error(path.parent, exc, "output folder (--out / --results)", what) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = _holder(fd)
            if not wait:
                raise LockBusy(f"{what} is being written by {holder} (lock {path}); wait for it to finish, or rerun "
                               "with --wait-lock to wait for it") from None
            if log is not None:
                log(f"waiting for {what}: it is being written by {holder} (lock {path})")
            started = time.monotonic()
            fcntl.flock(fd, fcntl.LOCK_EX)
            if log is not None:
                log(f"lock on {what} acquired after {time.monotonic() - started:.0f} s")
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        try:  # the text only serves another process's message: a full disk must not stop the holder
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()} since {stamp}\n".encode(), 0)
        except OSError:
            pass
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
