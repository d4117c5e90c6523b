"""The fixed cost of a small ``probe extract``: what a fresh process spends outside the extraction itself.

Measured in fresh processes over one corpus folder of N clips (a copy of the first N clips of the demo corpus):

- ``probe extract`` itself (``python -m probe.cli extract ...``), timed from outside: what a user waits for;
- this module run as a child (``python benchmarks/fixed_cost.py --child ...``), which makes the library calls the
  command makes, in the same order, and times each phase: ``import probe.cli``, the imports of the extraction
  path, the model build, the corpus scan and the disk plan, the extraction (``extract_corpus``), the exit;
- ``python -c pass``: the interpreter's own start.

:func:`measure` runs them against the code of a given tree (``PYTHONPATH``), so two states of the code can be
compared side by side (:func:`report_side_by_side`, printed by ``benchmarks/extract_overhead.py --fixed-cost``).
The child uses only calls that both the old and the new code have (``load_backbone``, ``extract_corpus``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

PHASES: tuple[tuple[str, str], ...] = (
    ("start", "interpreter start"),
    ("cli", "import probe.cli"),
    ("imports", "imports of the extraction path"),
    ("model", "model build"),
    ("plan", "corpus scan and disk plan"),
    ("extract", "extraction (extract_corpus)"),
    ("exit", "exit"),
)
OUTSIDE = ("start", "cli", "imports", "model", "plan", "exit")


def corpus_folder(manifest: pd.DataFrame, source: Path, data_root: Path) -> Path:
    """``<data_root>/synthetic`` holding a copy of ``manifest``'s clips in the synthetic corpus's layout."""
    folder = data_root / "synthetic"
    for clip_id in manifest["id"]:
        target = folder / f"{clip_id}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / f"{clip_id}.wav", target)
    return folder


def _options(args: argparse.Namespace) -> list[str]:
    return ["--model", args.model, "--weights", args.weights, "--device", args.device,
            "--whisper-input", args.whisper_input]


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout


def measure(tree: Path, data_root: Path, scratch: Path, args: argparse.Namespace) -> dict[str, float]:
    """Seconds of each phase (:data:`PHASES`) and of the whole ``probe extract`` process (``whole``), for the
    code of ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start, _ = _timed([sys.executable, "-c", "pass"], env)
    whole, _ = _timed([sys.executable, "-m", "probe.cli", "extract", *_options(args), "--corpus", "synthetic",
                       "--data-root", str(data_root), "--out", str(scratch / "cli")], env)
    child_wall, out = _timed([sys.executable, str(Path(__file__).resolve()), "--child", *_options(args),
                              "--root", str(data_root / "synthetic"), "--out", str(scratch / "child")], env)
    marks = json.loads(out.strip().splitlines()[-1])
    return {"start": start, **marks, "exit": max(child_wall - start - sum(marks.values()), 0.0), "whole": whole}


def median_phases(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over ``runs`` (runs of one tree, taken in turn with the others' on a shared machine)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report_side_by_side(columns: dict[str, dict[str, float]], clips: int, say: Callable[[str], None]) -> None:
    """One row per phase, one column per tree."""
    width = max(12, *(len(name) for name in columns))
    say(f"fixed cost of a {clips}-clip probe extract (fresh processes; seconds)")
    say(f"  {'':<34}" + "".join(f"{name:>{width + 2}}" for name in columns))
    say(f"  {'probe extract, whole process':<34}" + "".join(f"{c['whole']:>{width}.2f} s" for c in columns.values()))
    say(f"  {'the same calls, phase by phase':<34}" + "".join(
        f"{sum(c[k] for k, _ in PHASES):>{width}.2f} s" for c in columns.values()))
    for key, label in PHASES:
        say(f"    {label:<32}" + "".join(f"{c[key]:>{width}.2f} s" for c in columns.values()))
    say(f"  {'outside the extraction':<34}" + "".join(
        f"{sum(c[k] for k in OUTSIDE):>{width}.2f} s" for c in columns.values()))


def child(argv: list[str]) -> None:
    """The phases of ``probe extract`` in this process; prints their seconds as one JSON line."""
    parser = argparse.ArgumentParser()
    for name in ("--model", "--weights", "--device", "--whisper-input", "--root", "--out"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    marks, t0 = {}, time.perf_counter()

    def mark(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        marks[name], t0 = now - t0, now

    importlib.import_module("probe.cli")  # what `probe` imports before it parses the command line
    mark("cli")
    from extract import corpora
    from extract.backbones import load_backbone
    from extract.pipeline import extract_corpus
    from extract.plan import extraction_refusal
    mark("imports")
    backbone = load_backbone(args.model, weights=args.weights, device=args.device, whisper_input=args.whisper_input)
    mark("model")
    manifest = corpora.scan("synthetic", Path(args.root)).to_frame()
    refusal = extraction_refusal(backbone, "synthetic", manifest, Path(args.out), 3600.0)
    assert refusal is None, refusal
    mark("plan")
    extract_corpus(manifest, backbone, Path(args.out), corpus="synthetic", language=corpora.info("synthetic").language,
                   log=lambda m: None)
    mark("extract")
    print(json.dumps(marks), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        sys.exit("run through benchmarks/extract_overhead.py --fixed-cost (this module's --child is its helper)")
