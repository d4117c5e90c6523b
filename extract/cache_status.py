"""Finding feature caches and telling usable ones from the rest (missing, interrupted, damaged, invalid)."""

from __future__ import annotations

from pathlib import Path

import h5py

from extract.cache_format import CacheError, CacheStatus, status_problem, unopened_status
from extract.cache_read import FeatureCache


def cache_status(path: Path) -> CacheStatus:
    """Inspect ``path`` without raising: a file that cannot be opened, or lacks ``complete``, is incomplete."""
    path = Path(path)
    if not path.exists():
        return CacheStatus(path, False, False, "no such file")
    if path.stat().st_size == 0:
        return CacheStatus(path, True, False, "empty file (0 bytes)")
    try:
        with h5py.File(path, "r") as h5:
            problem = status_problem(h5.attrs)
    except OSError as exc:
        return unopened_status(path, exc)
    return CacheStatus(path, True, not problem, problem)


def cache_path(out: Path, corpus: str, model: str) -> Path:
    """``<out>/<corpus>/<model>.h5``; hub ids such as ``microsoft/wavlm-base`` become ``microsoft--wavlm-base``."""
    return Path(out) / corpus / f"{model.replace('/', '--')}.h5"


def find_caches(root: str | Path = "features") -> list[Path]:
    """Every complete cache ``<root>/<corpus>/<model>.h5``, sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [p for p in sorted(root.glob("*/*.h5")) if cache_status(p).complete]


def scan_caches(root: str | Path = "features") -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every cache under ``<root>/<corpus>/``: the usable ones (complete and valid, :meth:`FeatureCache.validate`)
    and, for each file or interrupted extraction that is not usable, ``(path, reason)``."""
    root = Path(root)
    good: list[Path] = []
    issues: list[tuple[Path, str]] = []
    if not root.is_dir():
        return good, issues
    for path in sorted(root.glob("*/*.h5")):
        status = cache_status(path)
        if not status.complete:
            issues.append((path, f"not a usable cache: {status.reason}"))
            continue
        try:
            with FeatureCache(path) as cache:
                cache.validate()
        except (CacheError, OSError, KeyError, ValueError) as exc:
            issues.append((path, str(exc).removeprefix(f"{path}: ")))
            continue
        good.append(path)
    for partial in sorted(root.glob("*/*.h5.partial")):
        final = partial.with_name(partial.name.removesuffix(".partial"))
        if not final.exists():
            issues.append((final, f"incomplete: an interrupted extraction left {partial.name}/ (run the same "
                                  "`probe extract` again to finish it)"))
    return good, issues
