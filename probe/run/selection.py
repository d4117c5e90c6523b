"""Which caches, probes and seeds a run covers: the selection of a run (:class:`RunSelection`), complete caches
under a features folder (with the unusable ones and why), and seed lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from extract.cache import scan_caches
from probe.results.records import safe_model_name
from probe.run.spec import CacheIssue


@dataclass(frozen=True)
class RunSelection:
    """Which caches and probes a run trains: the corpora and models (default every one with a complete cache
    under the job's features folder) and the probes (a comma list or names; default linear, nonlinear,
    multilayer; ``"all"`` for every head)."""

    corpora: Sequence[str] | None = None
    models: Sequence[str] | None = None
    probes: str | Sequence[str] | None = None

    def probe_names(self) -> tuple[str, ...]:
        """The probes, checked, in registry order (:func:`probe.train.heads.parse_probes`)."""
        from probe.train.heads import parse_probes  # torch: only when a run starts

        probes = self.probes
        return parse_probes(probes if probes is None or isinstance(probes, str) else ",".join(probes))


class NoCachesError(FileNotFoundError):
    """No complete cache matches the selection."""


def select_caches(
    features: str | Path, corpora: Sequence[str] | None = None, models: Sequence[str] | None = None
) -> list[Path]:
    """Complete caches ``<features>/<corpus>/<model>.h5`` of the given corpora and models (all when empty).

    Models match the suite name or the file name (``microsoft/wavlm-base`` or ``microsoft--wavlm-base``).
    Raises :class:`NoCachesError` with where it looked and how to make a cache.
    """
    return select_caches_checked(features, corpora, models)[0]


def select_caches_checked(
    features: str | Path, corpora: Sequence[str] | None = None, models: Sequence[str] | None = None
) -> tuple[list[Path], list[CacheIssue]]:
    """:func:`select_caches`, plus every selected cache that cannot be used and why (truncated, not HDF5,
    incomplete, other schema, missing dataset, inconsistent offsets, NaN/inf: :func:`extract.cache.scan_caches`).
    :class:`NoCachesError` names those too when nothing usable is left."""
    features = Path(features)
    found, bad = scan_caches(features)
    wanted_models = {safe_model_name(m) for m in models or ()}

    def wanted(p: Path) -> bool:
        return (not corpora or p.parent.name in corpora) and (not wanted_models or p.stem in wanted_models)

    chosen = [p for p in found if wanted(p)]
    issues = [CacheIssue(p, reason) for p, reason in bad if wanted(p)]
    if not chosen:
        what = "no usable feature cache" if not found else "no usable cache matching the selection"
        unusable = "; ".join(f"{i.path.relative_to(features)}: {i.reason}" for i in issues)
        raise NoCachesError(
            f"{what} under {features.resolve()} (expected <corpus>/<model>.h5"
            + (f"; found {', '.join(str(p.relative_to(features)) for p in found)}" if found else "")
            + (f"; not usable: {unusable}" if unusable else "")
            + "). Make one with `probe extract --corpus <name> --model <model>`, or `probe demo` for a synthetic one."
        )
    return chosen, issues


def parse_seeds(spec: str | int | Sequence[int]) -> tuple[int, ...]:
    """``3`` → (0, 1, 2); ``"0,1,2"`` or a sequence → those seeds."""
    if isinstance(spec, int):
        if spec < 1:
            raise ValueError(f"a number of seeds must be at least 1, got {spec} (for seed 0 alone write '0,')")
        return tuple(range(spec))
    if isinstance(spec, str):
        text = spec.strip()
        try:
            if "," not in text:
                return parse_seeds(int(text))
            seeds = tuple(int(s) for s in text.split(",") if s.strip())
        except ValueError as exc:
            if "seed" in str(exc):
                raise
            raise ValueError(f"seeds must be a count (3) or a comma-separated list (0,1,2), got {spec!r}") from None
    else:
        seeds = tuple(int(s) for s in spec)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, got {spec!r}")
    return seeds
