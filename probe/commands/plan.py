"""``probe plan``: before a long extraction, how much disk and time the grid of models × corpora will take, and with
``--probes`` (or ``--paper``) how long training its probes takes, from rates measured on this machine
(:mod:`probe.run.train_plan`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

if TYPE_CHECKING:
    from extract.backbones.base import ModelSpec
    from extract.plan import CachePlan
    from probe.train.config import TrainConfig

console = Console(stderr=True, soft_wrap=True, emoji=False)  # paths and device names such as cuda:x stay text
TRAIN_PANEL = "Training estimate"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_command(
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Model(s) to plan, repeat or comma-separate (suite names or hub ids); needed unless --paper.")] = None,
    corpus: Annotated[Optional[list[str]], typer.Option("--corpus", "-c", help="Corpus key(s), repeat or comma-separate; default: every corpus found under the data root.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Folder holding one sub-folder per corpus. Default: $PROBE_DATA_ROOT, else ./data.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with per-corpus paths. Default: $PROBE_DATA_CONFIG, else ./probe-data.toml if present.")] = None,
    out: Annotated[Path, typer.Option(help="Where the caches would go (<out>/<corpus>/<model>.h5): its free disk is checked.")] = Path("features"),
    classes: Annotated[str, typer.Option(help="Class set to extract: all, 4 or a comma list (as probe extract).")] = "all",
    time_clips: Annotated[int, typer.Option("--time-clips", min=0, help="Clips to time each model on, spread over the first corpus (0: no time estimate).")] = 4,
    weights: Annotated[str, typer.Option(help="Weights for the timing: random (default; same architecture, same cost, no download), pretrained or ct2.")] = "random",
    device: Annotated[str, typer.Option(help="Device to time extraction and training on: auto (CUDA when present), cpu, cuda, ...")] = "auto",
    whisper_input: Annotated[str, typer.Option(help="Whisper only: pad30 or trim (changes the time, not the size).")] = "pad30",
    precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (CUDA) for the timing.")] = "fp32",
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per forward pass in the timing.")] = 8,
    max_duration: Annotated[float, typer.Option("--max-duration", min=1.0, help="Longest clip accepted, in seconds (as probe extract).")] = 3600.0,
    probes: Annotated[Optional[str], typer.Option("--probes", help="Also estimate training: comma-separated probes or 'all' (linear, nonlinear, multilayer, attention, layerwise), each timed here by the real training code. Default: no training estimate.", rich_help_panel=TRAIN_PANEL)] = None,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Runs per cache and probe, as probe run: a count (3 → 0,1,2) or a list (0,1,2). Default 3.", rich_help_panel=TRAIN_PANEL)] = None,
    preset: Annotated[str, typer.Option("--preset", help="Training preset whose epochs, batch size and head settings are timed: paper or standardized.", rich_help_panel=TRAIN_PANEL)] = "paper",
    train_batches: Annotated[int, typer.Option("--train-batches", min=1, help="Training batches timed per probe and cache shape (after 2 warm-up steps, and at least 0.25 s); as many evaluation batches.", rich_help_panel=TRAIN_PANEL)] = 5,
    paper: Annotated[bool, typer.Option("--paper", help="The paper's grid: Table 3's six backbones × the nine benchmark corpora found under the data root × linear, nonlinear, multilayer × 3 seeds, paper preset (instead of --model, --corpus and --probes).", rich_help_panel=TRAIN_PANEL)] = False,
) -> None:
    """Expected cache size per file and in total (from each clip's duration, the model's frame rate, states and
    dims), the free disk where the caches go, and a time estimate from timing each model on a few clips here.

    With --probes or --paper, also each cache × probe × seed's training time and the grid's device-hours.

    Training rates are measured here by the real training code on random features of the caches' shapes.

    Exits with status 1 when the planned caches do not fit on the disk (probe extract refuses them unless --force).
    """
    from extract import corpora as registry
    from extract.backbones import get_spec, load_backbone
    from extract.labels import parse_classes
    from extract.plan import corpus_durations, free_bytes, human, plan_cache, sample_paths, space_needed, time_model
    from probe.commands.errors import refuse_file_in_path, require_device
    from probe.commands.extract import _resolve_roots, _split_list

    refuse_file_in_path(out, "--out")
    if paper and (model or corpus or probes):
        raise typer.BadParameter("--paper sets the models, corpora and probes; leave out --model, --corpus and "
                                 "--probes, or plan a grid of your own without --paper", param_hint="--paper")
    if not paper and not model:
        raise typer.BadParameter("name the model(s) to plan, or --paper for the paper's grid", param_hint="--model")
    if seeds is not None and not (probes or paper):
        raise typer.BadParameter("seeds only matter to the training estimate: add --probes", param_hint="--seeds")
    if time_clips or probes or paper:
        require_device(device)
    training = _training_request(probes, seeds, preset, device, paper)
    try:
        chosen = parse_classes(classes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--classes") from None
    names = _paper_models() if paper else _split_list(model)
    try:
        specs = {name: get_spec(name) for name in names}
    except (KeyError, OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from None
    roots, missing = _paper_roots(data_root, config) if paper else (_resolve_roots(_split_list(corpus), data_root, config), [])
    manifests, durations = {}, {}
    for key, root in roots.items():
        try:
            scan = registry.scan(key, root)
        except registry.CorpusError as exc:
            console.print(f"[red]{key}:[/] {escape(str(exc))}")
            continue
        manifests[key] = registry.select_classes(scan.to_frame(), chosen)
    total_clips = sum(len(m) for m in manifests.values())
    with Progress(TextColumn("reading headers {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        for key, manifest in manifests.items():
            task = bar.add_task(key, total=len(manifest))
            durations[key] = corpus_durations(key, manifest, max_duration, lambda n, t=task: bar.advance(t, n))
    if not total_clips:
        console.print("[red]no clip found to plan for[/]")
        raise typer.Exit(1)

    timings = {}
    first = next(k for k, m in manifests.items() if len(m))
    for name, spec in specs.items():
        if time_clips == 0:
            break
        with console.status(f"timing {name} on {time_clips} clips of {first} ({device})"):
            try:
                backbone = load_backbone(name, weights=weights, device=device, whisper_input=whisper_input,
                                         precision=precision)
                timings[name] = time_model(backbone, sample_paths(manifests[first], time_clips), batch_size)
            except (RuntimeError, ValueError, KeyError, OSError) as exc:
                console.print(f"[yellow]{name}: not timed ({escape(str(exc))})[/]")
            finally:
                backbone = None

    plans = []
    table = Table(title=f"Extraction plan → {out}")
    for column in ("corpus", "model", "clips", "audio", "frames", "cache", "peak need", "state", "time"):
        table.add_column(column, justify="left" if column in ("corpus", "model", "state") else "right")
    seconds = 0.0
    for name, spec in specs.items():
        for key, found in durations.items():
            plan = plan_cache(spec, spec.name, found, out)  # the cache of the real weights; timing weights aside
            plans.append(plan)
            state = "complete" if plan.complete else ("resume" if plan.partial_bytes else "to do")
            estimate = timings[name].estimate(plan) if name in timings else None
            seconds += estimate or 0.0
            table.add_row(key, plan.model, str(plan.clips), f"{plan.audio_seconds / 3600:.2f} h", f"{plan.frames:,}",
                          human(plan.bytes), human(plan.need_bytes), state,
                          _duration(estimate) if estimate is not None else "-")
    Console(width=max(console.width, 120), soft_wrap=True).print(table)
    need, free = space_needed(plans), free_bytes(out)
    total = sum(p.bytes for p in plans)
    console.print(f"caches in all: {human(total)}; still to write needs about {human(need)} free (shards and the "
                  f"merged file of the largest cache coexist); free at {out}: {human(free)}")
    for name, timing in timings.items():
        console.print(f"  {name} on {timing.device}: {timing.seconds_per_unit:.3f} s per {timing.unit} "
                      f"(timed on {timing.clips} clips, {weights} weights, {precision}, batch {batch_size})")
    if timings:
        console.print(f"time estimate for what is still to do: {_duration(seconds)} on this machine")
    unreadable = sum(len(d.unreadable) for d in durations.values())
    if unreadable:
        console.print(f"[yellow]{unreadable} files could not be read and are left out of the sizes "
                      "(probe corpora check lists them)[/]")
    fits = need <= free
    if fits:
        console.print("[green]fits[/] on the disk")
    else:
        console.print(f"[red]does not fit:[/] about {human(need - free)} more free space is needed at {out}")
    if paper:
        _paper_notes(missing, data_root, config)
    if training:
        _training_section(training, specs, plans, seconds if timings else None,
                          sorted({t.device for t in timings.values()}), train_batches)
    if not fits:
        raise typer.Exit(1)


def _training_request(probes: str | None, seeds: str | None, preset: str, device: str,
                      paper: bool) -> tuple[tuple[str, ...], tuple[int, ...], TrainConfig] | None:
    """The probes, seeds and training configuration to estimate (parsed as ``probe run`` parses them), or
    ``None`` when no training estimate is asked for."""
    from probe.commands.train_options import TrainingRequest
    from probe.run.selection import parse_seeds
    from probe.run.train_plan import PAPER_PROBES, PAPER_SEEDS
    from probe.train.baselines import is_baseline
    from probe.train.heads import parse_probes

    if not (probes or paper):
        return None
    try:
        names = parse_probes(PAPER_PROBES if paper else probes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--probes") from None
    baselines = [n for n in names if is_baseline(n)]
    if baselines:
        raise typer.BadParameter(f"{', '.join(baselines)}: baselines are not timed by probe plan (their own "
                                 "models and settings); name probes of frozen features", param_hint="--probes")
    try:
        chosen = parse_seeds(seeds if seeds is not None else PAPER_SEEDS)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--seeds") from None
    try:
        config = TrainingRequest(preset=preset, device=device).train_config()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--preset") from None
    return names, chosen, config


def _paper_models() -> list[str]:
    """The backbones of the paper's Table 3 (``probe/reference/dasaro2024_table3.csv``; its AST column aside)."""
    from probe.report.reference import load_reference

    return list(load_reference("paper").by_corpus.columns)


def _paper_roots(data_root: Path | None, config: Path | None) -> tuple[dict[str, Path], list[str]]:
    """The nine benchmark corpora found (key → folder) and those not found."""
    from extract.corpora import BENCHMARK, CorpusError
    from extract.corpora.locate import corpus_roots

    try:
        found = corpus_roots(data_root, config, keys=list(BENCHMARK))
    except CorpusError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config / --data-root") from None
    missing = [key for key in BENCHMARK if key not in found]
    if not found:
        from extract.corpora.locate import resolve_data_root

        raise typer.BadParameter(f"none of the nine benchmark corpora ({', '.join(BENCHMARK)}) is under "
                                 f"{resolve_data_root(data_root)} (or in probe-data.toml); see `probe corpora list`",
                                 param_hint="--data-root")
    return found, missing


def _paper_notes(missing: list[str], data_root: Path | None, config: Path | None) -> None:
    """What the paper grid leaves out: corpora not found, and the AST baseline."""
    from extract.corpora.locate import resolve_data_root

    if missing:
        console.print(f"[yellow]left out of the paper grid[/], not found under {resolve_data_root(data_root)}"
                      f"{' or in ' + str(config) if config else ''}: {', '.join(missing)} ({len(missing)} of 9 "
                      "corpora; their hours are unknown without their files)", highlight=False)
    console.print("[yellow]left out:[/] Table 3's AST baseline (trained from scratch on log-mel): nothing to "
                  "extract, and probe plan does not time its training (its own 12 × 768 model and settings); "
                  "benchmarks/ast_gpu_estimate.py estimates it", highlight=False)


def _training_section(training: tuple[tuple[str, ...], tuple[int, ...], TrainConfig], specs: dict[str, ModelSpec],
                      plans: list[CachePlan], extract_seconds: float | None, extract_devices: list[str],
                      batches: int) -> None:
    """Time each probe on each cache shape here, print the training table, the rates and the device-hours (with
    the extraction's ``extract_seconds`` on ``extract_devices``, ``None`` when it was not timed)."""
    from probe.run.train_plan import SHARES, applies, device_label, estimate, measure_rate, shape_of, total_hours

    probes, seeds, config = training
    shape_key = {spec.name: (spec.n_states, spec.dim) for spec in specs.values()}
    groups: dict[tuple[int, int], list[CachePlan]] = {}
    for plan in plans:
        groups.setdefault(shape_key[plan.model], []).append(plan)
    label = device_label(config.device, config.cpu_threads)
    rates = {}
    for (n_states, dim), members in groups.items():
        shape = shape_of(n_states, dim, members)
        for probe in (p for p in probes if applies(p, shape)):
            with console.status(f"timing {probe} training on {n_states} × {dim}, {shape.frames_per_clip} frames "
                                f"per clip ({label})"):
                try:
                    rates[probe, n_states, dim] = measure_rate(probe, shape, config, batches)
                except (RuntimeError, ValueError) as exc:
                    console.print(f"[yellow]{probe} on {n_states} × {dim}: not timed ({escape(str(exc))})[/]")
    estimates, skipped = [], []
    for plan in plans:
        for probe in probes:
            rate = rates.get((probe, *shape_key[plan.model]))
            if rate is None:
                why = "not timed" if applies(probe, shape_of(*shape_key[plan.model], [plan])) else "one state"
                skipped.append(f"{plan.corpus}/{plan.model}/{probe} ({why})")
            else:
                estimates.append(estimate(plan, probe, rate, len(seeds), config.epochs))
    table = Table(title=f"Training plan: {config.preset} preset, {config.epochs} epochs, batch "
                        f"{config.batch_size}, seeds {','.join(map(str, seeds))}")
    for column in ("corpus", "model", "probe", "runs", "frames", "rate", "time"):
        table.add_column(column, justify="left" if column in ("corpus", "model", "probe") else "right")
    for e in estimates:
        table.add_row(e.corpus, e.model, e.probe, str(e.runs), f"{e.units:,} {e.rate.unit}s",
                      f"{e.rate.train_per_s:,.0f} {e.rate.unit}s/s", _duration(e.seconds))
    Console(width=max(console.width, 120), soft_wrap=True).print(table)
    for rate in rates.values():
        shape = rate.shape
        per_clip = f", {shape.frames_per_clip} frames per clip" if rate.unit == "frame" else ""
        console.print(f"  {rate.probe} on {shape.n_states} × {shape.dim}{per_clip}: "
                      f"train {rate.train_per_s:,.0f} {rate.unit}s/s, evaluate {rate.eval_per_s:,.0f} "
                      f"{rate.unit}s/s ({rate.train_batches} training and {rate.eval_batches} evaluation batches "
                      f"of {config.batch_size} timed)", highlight=False)
    if skipped:
        console.print(f"[yellow]not estimated:[/] {', '.join(skipped)}", highlight=False)
    train, val, test = (f"{share * 100:.0f}" for share in SHARES)
    console.print(f"a run = epochs × ({train}% train + {val}% validation) + validation and test ({test}%) with the "
                  f"best state (holdout {train}/{val}/{test} by speakers); reading the caches from disk is not "
                  "counted", highlight=False)
    train_h = total_hours(estimates)
    devices = ", ".join(device_label(d) for d in extract_devices)
    console.print(f"device-hours, measured on this machine (training on {label}, at least {batches} training "
                  f"batches per probe timed after 2 warm-up steps):", highlight=False)
    console.print(f"  extraction still to do: "
                  + (f"{_duration(extract_seconds)} on {devices}" if extract_seconds is not None
                     else "not timed (--time-clips 0)"), highlight=False)
    console.print(f"  training: {_duration(train_h * 3600)} ({sum(e.runs for e in estimates)} runs)",
                  highlight=False)
    total = train_h * 3600 + (extract_seconds or 0.0)
    console.print(f"  grid total: {_duration(total)}"
                  + ("" if extract_seconds is not None else " (training only: extraction not timed)"), highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``probe plan`` to the app."""
    app.command("plan")(plan_command)
