"""Damage in layers a run does not read: named in the run summary, never silently passed over.

Pooled means of every layer are checked when a cache is selected, and the frames a probe reads are checked as they
are loaded; NaN or inf in the frames of a layer no chosen probe reads would otherwise go unnoticed. The runs stay
valid (they never touch those frames), so this is a note, not a failure. The scan reads each unread layer's frames
once, and only for caches whose unread frames fit in :data:`SCAN_BUDGET` bytes (a larger cache's unread layers are
left unchecked: reading them all would cost as much as training).
"""

from __future__ import annotations

from collections.abc import Iterable

from extract.cache import CacheError, FeatureCache
from probe.train.heads import PROBES

SCAN_BUDGET = 4 * 2**30
"""Bytes of unread frames scanned per cache (float16 frames: about 2 s per GiB on a laptop disk)."""


def frame_layers_read(cache: FeatureCache, probes: Iterable[str]) -> set[int]:
    """The layers whose frames the given probes load (and so check) on ``cache``."""
    read: set[int] = set()
    for name in probes:
        head = PROBES[name]
        if head.frames:
            read |= set(range(cache.n_states)) if head.all_states else {cache.n_states - 1}
    return read


def damaged_unread_layers(cache: FeatureCache, probes: Iterable[str], budget: int = SCAN_BUDGET) -> list[int]:
    """The layers no probe of ``probes`` reads frames of whose frames hold NaN or inf (empty when the unread
    frames exceed ``budget`` bytes: not scanned)."""
    unread = sorted(set(range(cache.n_states)) - frame_layers_read(cache, probes))
    size = len(unread) * cache.total_frames * cache.dim * 2
    if not unread or size > budget:
        return []
    damaged = []
    for layer in unread:
        try:
            cache.check_frames([layer])
        except CacheError:
            damaged.append(layer)
    return damaged


def unread_damage_note(cache: FeatureCache, probes: Iterable[str], budget: int = SCAN_BUDGET) -> str | None:
    """The run-summary line naming the damaged unread layers of ``cache``, or ``None`` when there are none."""
    damaged = damaged_unread_layers(cache, list(probes), budget)
    if not damaged:
        return None
    which = f"layer{'s' if len(damaged) > 1 else ''} {', '.join(map(str, damaged))}"
    return (f"{cache.path}: the frames of {which} hold NaN or inf. No chosen probe reads them, so these runs are "
            f"valid; probes that do (multilayer, or any probe on that layer) would fail. Re-extract the cache "
            f"(`probe extract --force --corpus {cache.corpus} --model {cache.model}`) to repair it")
