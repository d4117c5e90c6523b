"""`probe synth`: render the synthetic emotional-speech corpus (eSpeak NG) used by the tests and the demo."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from extract import synth_profiles as profiles
from extract.espeak import SynthError
from extract.synth import render_corpus
from extract.synth_clips import parse_languages
from probe.commands.errors import fail, require_folder

if TYPE_CHECKING:
    import pandas as pd


def render_with_bar(out: Path, console: Console, *, quiet: bool = False, **options: Any) -> pd.DataFrame:
    """:func:`extract.synth.render_corpus` (``options`` are its own) with a progress bar on ``console``: clips done,
    elapsed time and time left; no bar when ``quiet``."""
    if quiet:
        return render_corpus(out, **options)
    with Progress(TextColumn("synth {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(str(out), total=None)
        return render_corpus(out, on_start=lambda n: bar.update(task, total=n),
                             on_clip=lambda clip, rendered: bar.advance(task), **options)


def _languages(value: str) -> tuple[str, ...]:
    try:
        return parse_languages(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `probe` app."""

    @app.command(
        "synth",
        help=(
            "Render a synthetic emotional-speech corpus with eSpeak NG (bundled by espeakng-loader).\n\n"
            "Four emotions (anger, happiness, neutral, sadness) are prosody profiles (pitch, pitch range, rate, "
            "loudness, word gaps) with per-clip variation, per-speaker offsets and background noise at a random SNR. "
            "Speakers are eSpeak voice variants (e.g. it-m3, it-f2). Writes 16 kHz mono WAV files as "
            "<lang>/<speaker>/<emotion>_<sentence>_<take>.wav plus manifest.csv and corpus.json. "
            f"The default corpus has {profiles.DEFAULT_CLIPS} clips (8 languages x {profiles.DEFAULT_SPEAKERS} "
            f"speakers x {profiles.DEFAULT_SENTENCES} sentences x 4 emotions). Deterministic for a given seed; "
            "re-running with the same settings resumes (keeps finished clips). Load it with corpus key `synthetic`."
        ),
    )
    def synth(
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if missing).", file_okay=False),
        languages: str = typer.Option(
            ",".join(profiles.LANGUAGES),
            "--languages",
            "-l",
            help="Comma-separated languages (subset of the default).",
        ),
        speakers: int = typer.Option(
            profiles.DEFAULT_SPEAKERS,
            "--speakers",
            min=1,
            max=len(profiles.VOICE_POOL),
            help="Speakers (eSpeak voice variants) per language, genders alternating.",
        ),
        sentences: int = typer.Option(
            profiles.DEFAULT_SENTENCES,
            "--sentences",
            min=1,
            max=min(len(v) for v in profiles.SENTENCES.values()),
            help="Sentences per language; every speaker says each one in every emotion.",
        ),
        takes: int = typer.Option(
            profiles.DEFAULT_TAKES, "--takes", min=1, help="Renditions per sentence, speaker and emotion."
        ),
        seed: int = typer.Option(0, "--seed", help="Random seed of all variation (prosody, gain, noise)."),
        force: bool = typer.Option(
            False, "--force", help="Re-render everything, even over a corpus made with other settings."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        console = Console()
        langs = _languages(languages)
        require_folder(out, "--out", "the synthetic corpus")
        started = time.perf_counter()
        try:
            frame = render_with_bar(
                out,
                console,
                languages=langs,
                speakers_per_language=speakers,
                sentences_per_language=sentences,
                takes=takes,
                seed=seed,
                force=force,
                quiet=quiet,
            )
        except (SynthError, ValueError) as exc:
            fail(str(exc), 1)
        elapsed = time.perf_counter() - started

        seconds = float(frame["seconds"].sum())
        table = Table(title=f"Synthetic corpus in {out}", show_edge=False)
        table.add_column("label")
        table.add_column("clips", justify="right")
        table.add_column("minutes", justify="right")
        for label, group in frame.groupby("label", sort=True):
            table.add_row(str(label), str(len(group)), f"{group['seconds'].sum() / 60:.1f}")
        console.print(table)
        console.print(
            f"{len(frame)} clips, {seconds / 3600:.2f} h of audio ({seconds / max(len(frame), 1):.1f} s per clip), "
            f"{frame['speaker'].nunique()} speakers, {frame['language'].nunique()} languages, "
            f"done in {elapsed:.1f} s."
        )
        console.print(f"manifest: {out / 'manifest.csv'}   settings: {out / 'corpus.json'}")
