"""Every setting of one ``probe extract`` stage, held once: :class:`ExtractSettings`.

The command line builds it from its options; the inline path and each cluster task
(:class:`probe.cluster.tasks.ExtractTask`) load the backbone with :meth:`ExtractSettings.backbone_options` and
extract with :meth:`ExtractSettings.extraction_options`, so an option cannot hold on one executor and be dropped
on another.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

BACKBONE_FIELDS: tuple[str, ...] = ("weights", "device", "whisper_input", "precision")
"""The settings passed to :func:`extract.backbones.load_backbone`; the others go to the extraction."""


@dataclass(frozen=True)
class ExtractSettings:
    """How to load the model and extract a corpus (the defaults are ``probe extract``'s)."""

    weights: str = "pretrained"
    device: str = "auto"
    whisper_input: str = "pad30"
    precision: str = "fp32"
    classes: tuple[str, ...] | None = None
    batch_size: int | None = None
    shard_size: int = 32
    workers: int = 2
    force: bool = False
    max_seconds: float = 3600.0
    wait_lock: bool = False

    def backbone_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`extract.backbones.load_backbone`."""
        return {name: getattr(self, name) for name in BACKBONE_FIELDS}

    def extraction_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`probe.commands.extract.extract_roots` (every other setting)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in BACKBONE_FIELDS}
