"""The demo's transfer step: the synthetic corpus's eight languages as domains, a language × language matrix of
Whisper tiny.en features (``probe transfer --group-by language`` on the demo cache)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from probe.commands.transfer import TransferProgress


def run_demo_transfer(features: Path, out: Path, model: str, seeds: str, probes: str, console: Console) -> int:
    """Train ``probes`` on each language of the demo cache of ``model`` and test on every language (pair
    protocol, 4 classes); returns the number of cells trained (0 when ``probes`` is ``none``)."""
    from probe.run.selection import RunSelection
    from probe.run.spec import RunJob, TransferSetup
    from probe.run.transfer_run import run_transfer

    if probes.strip().lower() == "none":
        return 0
    console.print(f"  {model}, probes: {probes}")
    listener = TransferProgress(Console(stderr=True))
    try:
        job = RunJob(features=features, results=out, seeds=seeds, classes="4",
                     transfer=TransferSetup(protocol="pair", group_by="language"))
        summary = run_transfer(job, RunSelection(corpora=["synthetic"], models=[model], probes=probes), listener)
    finally:
        listener.close()
    console.print(f"  transfer: {summary.count('trained')} cells trained, {summary.count('skipped')} already "
                  f"recorded in {summary.seconds:.0f} s")
    return summary.count("trained")
