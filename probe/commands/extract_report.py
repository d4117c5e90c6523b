"""What ``probe extract`` shows while it runs: :class:`ConsoleListener`, the engine's listener
(:class:`extract.engine.ExtractListener`) that draws a progress bar per corpus and prints each corpus's summary on
stderr (a cluster task logs with :class:`extract.engine.LogListener`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
    """A progress bar per corpus (clips, audio hours, elapsed time and time left) and summaries, on stderr, as
    ``probe extract`` prints them; log lines print above the bar."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: Any = None
        self._hours = 0.0

    def model_ready(self, backbone: Backbone) -> None:
        console.print(f"[bold]{backbone.name}[/] ({backbone.checkpoint}) on {backbone.device}: "
                      f"{backbone.n_states} states × {backbone.dim}")

    def corpus_failed(self, corpus: str, problem: str, reason: str, files: Rows) -> None:
        console.print(f"[red]{corpus}:{_HEADINGS[problem]}[/] {escape(reason)}")
        if problem in ("empty", "error"):
            print_files("skipped", files)

    def corpus_started(self, corpus: str, model: str, clips: int) -> None:
        self._hours = 0.0
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[audio]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=console)
        self._task = self._bar.add_task(escape(f"{corpus} × {model}"), total=clips, audio="0.00 h audio")
        self._bar.start()

    def progress(self, clips: int, seconds: float) -> None:
        self._hours += seconds / 3600
        if self._bar is not None:
            self._bar.update(self._task, advance=clips, audio=f"{self._hours:.2f} h audio")

    def log(self, message: str) -> None:
        console.print(message, markup=False, highlight=False)

    def corpus_stopped(self, corpus: str) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def corpus_done(self, corpus: str, summary: ExtractSummary, left_out: int) -> None:
        from extract.engine import done_lines

        first, *rest = done_lines(corpus, summary, left_out)
        written = summary.status != "exists"
        console.print(f"[green]{escape(corpus)}[/]{escape(first[len(corpus):])}" if written else escape(first))
        for line in rest:
            console.print(line, markup=False, highlight=False)
