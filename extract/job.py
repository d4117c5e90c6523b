"""Every setting of one ``probe extract`` stage, held once: :class:`ExtractJob`.

The command line builds the job once from its options; the inline path and each cluster task
(:class:`probe.cluster.tasks.ExtractTask`) carry that same job: :meth:`ExtractJob.load` builds the backbone with
its model settings and :func:`extract.engine.run_extraction` (through :func:`extract.pipeline.extract_corpus`)
extracts with the others, so an option cannot hold on one executor and be dropped on another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract.backbones import Backbone

BACKBONE_FIELDS: tuple[str, ...] = ("weights", "device", "whisper_input", "precision")
"""The settings passed to :func:`extract.backbones.load_backbone`; the others go to the extraction."""


@dataclass(frozen=True)
class ExtractJob:
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

    def __post_init__(self) -> None:
        if self.classes is not None and not isinstance(self.classes, tuple):
            object.__setattr__(self, "classes", tuple(self.classes))  # a list given from Python: frozen as a tuple

    def backbone_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`extract.backbones.load_backbone`."""
        return {name: getattr(self, name) for name in BACKBONE_FIELDS}

    def load(self, model: str) -> Backbone:
        """Build ``model`` (a suite name or a hub id) with this job's model settings."""
        from extract.backbones import load_backbone

        return load_backbone(model, **self.backbone_options())
