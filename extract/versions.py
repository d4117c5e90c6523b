"""Library versions recorded in caches and run records, so a number can be traced to its software."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES: tuple[str, ...] = (
    "ser-probe", "torch", "transformers", "openai-whisper", "h5py", "numpy", "scikit-learn", "soxr", "soundfile",
)


def library_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """``{package: version}`` for the installed packages of interest, plus Python."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
