"""What ``probe extract`` shows while it runs: :class:`ConsoleListener`, the engine's listener
(:class:`extract.engine.ExtractListener`) that draws a progress bar per corpus and prints each corpus's summary on
stderr (a cluster task logs with :class:`extract.engine.LogListener`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from extract.backbones import Backbone
    from extract.corpus_pass import ExtractSummary, Rows

console = Console(stderr=True, soft_wrap=True, emoji=False)  # paths and device names such as cuda:x stay text

_HEADINGS = {"unreadable": "", "empty": "", "refused": " not started:", "error": " error:"}
"""How each ``problem`` of :meth:`ConsoleListener.corpus_failed` is introduced after the corpus key."""


def print_files(word: str, rows: Rows) -> None:
    """``  skipped <path>: <reason>`` for each row (no markup: paths may hold brackets)."""
    from extract.engine import file_lines  # the engine (torch) only when an extraction runs

    for line in file_lines(word, rows):
        console.print(line, markup=False, highlight=False)


class ConsoleListener:
    """Progress bars (tqdm) and summaries (rich) on stderr, as ``probe extract`` prints them."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._hours = 0.0

    def model_ready(self, backbone: Backbone) -> None:
        console.print(f"[bold]{backbone.name}[/] ({backbone.checkpoint}) on {backbone.device}: "
                      f"{backbone.n_states} states × {backbone.dim}")

    def corpus_failed(self, corpus: str, problem: str, reason: str, files: Rows) -> None:
        console.print(f"[red]{corpus}:{_HEADINGS[problem]}[/] {escape(reason)}")
        if problem in ("empty", "error"):
            print_files("skipped", files)

    def corpus_started(self, corpus: str, model: str, clips: int) -> None:
        from tqdm import tqdm

        self._hours = 0.0
        self._bar = tqdm(total=clips, unit="clip", desc=f"{corpus} × {model}", dynamic_ncols=True)

    def progress(self, clips: int, seconds: float) -> None:
        self._hours += seconds / 3600
        self._bar.set_postfix_str(f"{self._hours:.2f} h audio", refresh=False)
        self._bar.update(clips)

    def log(self, message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    def corpus_stopped(self, corpus: str) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def corpus_done(self, corpus: str, summary: ExtractSummary, left_out: int) -> None:
        from extract.engine import done_lines

        first, *rest = done_lines(corpus, summary, left_out)
        written = summary.status != "exists"
        console.print(f"[green]{escape(corpus)}[/]{escape(first[len(corpus):])}" if written else escape(first))
        for line in rest:
            console.print(line, markup=False, highlight=False)
