"""Shared pieces of the benchmark scripts: the machine a measurement ran on, page-cache eviction, the demo corpus,
and a report that prints its lines and can also write them (with the command) to a results file."""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

SMOKE_CORPUS: dict[str, object] = {"languages": "en,de,it", "speakers_per_language": 2, "sentences_per_language": 1,
                                   "takes": 1}
"""The smoke tests' corpus: 24 clips, 6 speakers (options of :func:`extract.synth.render_corpus`)."""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (AttributeError, ValueError, OSError):
        return float("nan")


def describe_machine(device: torch.device | str = "cpu") -> str:
    """One line naming the machine: CPU model and cores, torch threads, RAM, load, and the GPU when used."""
    device = torch.device(device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (f"{platform.node()}: {_cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__} with "
            f"{torch.get_num_threads()} threads, {_memory_gib():.0f} GiB RAM, load average {load:.2f} at start")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        text += f"; GPU {props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    else:
        text += "; no GPU used"
    return text


def evict(path: Path) -> bool:
    """Drop ``path``'s pages from the OS page cache (``posix_fadvise DONTNEED``; only this file, after an fsync),
    so the next read comes from the disk; False where the OS offers no such call."""
    if not hasattr(os, "posix_fadvise"):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return True


def evict_tree(root: Path) -> bool:
    """:func:`evict` every file under ``root``."""
    done = True
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        done = evict(path) and done
    return done


def tree_bytes(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())


def demo_manifest(corpus_dir: Path | None, scratch: Path, clips: int, **render: object) -> pd.DataFrame:
    """The first ``clips`` rows of the demo corpus's manifest, rendered into ``scratch`` unless ``corpus_dir``
    already holds it (``render``: options of :func:`extract.synth.render_corpus`, e.g. a smaller corpus)."""
    from extract.corpora import load
    from extract.synth import render_corpus

    folder = corpus_dir or scratch / "synthetic"
    if not (folder / "manifest.csv").is_file():
        render_corpus(folder, **render)
    return load("synthetic", folder).iloc[:clips].reset_index(drop=True)


class Report:
    """Lines printed as they come; :meth:`save` writes them under a header naming the command and the date."""

    def __init__(self, title: str) -> None:
        self.lines: list[str] = []
        self.title = title
        self.started = datetime.now(timezone.utc)
        self.t0 = time.perf_counter()

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self, path: Path | None) -> None:
        """Write the report to ``path`` (nothing when None)."""
        if path is None:
            return
        command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
        header = [f"# {self.title}", f"# command: {command}",
                  f"# date: {self.started.isoformat(timespec='seconds')}, "
                  f"{time.perf_counter() - self.t0:.0f} s in all", ""]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(header + self.lines) + "\n", encoding="utf-8")
        print(f"written to {path}", flush=True)


def disk_of(path: Path) -> str:
    """The free space of ``path``'s file system, for the report."""
    usage = shutil.disk_usage(path)
    return f"{usage.free / 2**30:.0f} GiB free of {usage.total / 2**30:.0f} GiB"
