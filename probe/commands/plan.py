"""``probe plan``: before a long extraction, how much disk and time the grid of models × corpora will take."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True, soft_wrap=True, emoji=False)  # paths and device names such as cuda:x stay text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_command(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model(s) to plan, repeat or comma-separate (suite names or hub ids).")],
    corpus: Annotated[Optional[list[str]], typer.Option("--corpus", "-c", help="Corpus key(s), repeat or comma-separate; default: every corpus found under the data root.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Folder holding one sub-folder per corpus. Default: $PROBE_DATA_ROOT, else ./data.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with per-corpus paths. Default: $PROBE_DATA_CONFIG, else ./probe-data.toml if present.")] = None,
    out: Annotated[Path, typer.Option(help="Where the caches would go (<out>/<corpus>/<model>.h5): its free disk is checked.")] = Path("features"),
    classes: Annotated[str, typer.Option(help="Class set to extract: all, 4 or a comma list (as probe extract).")] = "all",
    time_clips: Annotated[int, typer.Option("--time-clips", min=0, help="Clips to time each model on, spread over the first corpus (0: no time estimate).")] = 4,
    weights: Annotated[str, typer.Option(help="Weights for the timing: random (default; same architecture, same cost, no download), pretrained or ct2.")] = "random",
    device: Annotated[str, typer.Option(help="Device to time on: auto (CUDA when present), cpu, cuda, ...")] = "auto",
    whisper_input: Annotated[str, typer.Option(help="Whisper only: pad30 or trim (changes the time, not the size).")] = "pad30",
    precision: Annotated[str, typer.Option(help="fp32, fp16 or bf16 (CUDA) for the timing.")] = "fp32",
    batch_size: Annotated[int, typer.Option(min=1, help="Clips per forward pass in the timing.")] = 8,
    max_duration: Annotated[float, typer.Option("--max-duration", min=1.0, help="Longest clip accepted, in seconds (as probe extract).")] = 3600.0,
) -> None:
    """Expected cache size per file and in total (from each clip's duration, the model's frame rate, states and
    dims), the free disk where the caches go, and a time estimate from timing each model on a few clips here.

    Exits with status 1 when the planned caches do not fit on the disk (probe extract refuses such a cache unless
    --force is given).
    """
    from extract import corpora as registry
    from extract.backbones import get_spec, load_backbone
    from extract.labels import parse_classes
    from extract.plan import corpus_durations, free_bytes, human, plan_cache, sample_paths, space_needed, time_model
    from probe.commands.errors import refuse_file_in_path, require_device
    from probe.commands.extract import _resolve_roots, _split_list

    refuse_file_in_path(out, "--out")
    if time_clips:
        require_device(device)
    try:
        chosen = parse_classes(classes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--classes") from None
    try:
        specs = {name: get_spec(name) for name in _split_list(model)}
    except (KeyError, OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from None
    roots = _resolve_roots(_split_list(corpus), data_root, config)
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
    if need > free:
        console.print(f"[red]does not fit:[/] about {human(need - free)} more free space is needed at {out}")
        raise typer.Exit(1)
    console.print("[green]fits[/] on the disk")


def register(app: typer.Typer) -> None:
    """Add ``probe plan`` to the app."""
    app.command("plan")(plan_command)
