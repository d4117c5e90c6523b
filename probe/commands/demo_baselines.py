"""The demo's baselines (``probe demo --baselines``): log-mel frames with a small AST trained from scratch, and
eGeMAPS functionals with the Linear probe and a logistic regression when the optional opensmile extra is installed.

On a CPU a full-size AST from scratch is hours; the demo trains ``ast-small`` (4 blocks × 192), named as such in
every record, table and figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

DEMO_BASELINES: tuple[tuple[str, str], ...] = (("logmel-128", "ast-small"), ("egemaps", "linear,logreg"))
"""(feature cache, probes) of the demo's baselines."""

DEMO_AST_EPOCHS = 10
"""Epochs of the demo's AST (its own setting is 30), recorded as an overridden setting in every record like any user
override. Measured on the demo corpus (384 clips, target 548 frames): 431 CPU-seconds for 3 seeds."""


def opensmile_available() -> bool:
    """Whether the optional ``opensmile`` package can be imported."""
    try:
        import opensmile  # noqa: F401
    except ImportError:
        return False
    return True


def extract_baselines(roots: dict[str, Path], features: Path, console: Console) -> list[tuple[str, str]]:
    """Extract the demo's low-level feature caches; returns the (model, probes) pairs to train."""
    from extract.backbones import load_backbone
    from extract.backbones.egemaps import INSTALL_HINT
    from extract.engine import Selection, run_extraction
    from extract.job import ExtractJob
    from probe.commands.extract_report import ConsoleListener

    chosen = []
    for model, probes in DEMO_BASELINES:
        if model == "egemaps" and not opensmile_available():
            console.print(f"[yellow]eGeMAPS baseline left out: {INSTALL_HINT}[/]")
            continue
        if not run_extraction(ExtractJob(), Selection(load_backbone(model), roots, features), ConsoleListener()):
            raise typer.Exit(1)
        chosen.append((model, probes))
    return chosen


def run_baselines(pairs: Sequence[tuple[str, str]], features: Path, out: Path, seeds: str,
                  listener: Any) -> list[Any]:
    """Train each baseline on the synthetic corpus through the ordinary runner; returns the run summaries."""
    from probe.run.runner import run_all
    from probe.run.selection import RunSelection
    from probe.run.spec import RunJob
    from probe.train.presets import make_config

    plain = RunJob(features=features, results=out, seeds=seeds)
    return [run_all(replace(plain, config=make_config("paper", epochs=DEMO_AST_EPOCHS)) if "ast" in probes else plain,
                    RunSelection(corpora=["synthetic"], models=[model], probes=probes), listener)
            for model, probes in pairs]
