"""Shared figure style and saving: seaborn's paper context, colour-blind-safe palettes, Agg canvases.

Figures are built on :class:`matplotlib.figure.Figure` with an Agg canvas, never through pyplot's global state,
so reports can be written from any thread or notebook without changing the user's backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib as mpl
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FORMATS: tuple[str, ...] = ("png", "pdf")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p")
LINESTYLES: tuple[str | tuple[int, tuple[int, ...]], ...] = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
HEATMAP_CMAP = "viridis"
CONFUSION_CMAP = "cividis"


def _style() -> dict[str, object]:
    rc: dict[str, object] = {}
    rc.update(sns.axes_style("whitegrid"))
    rc.update(sns.plotting_context("paper", font_scale=1.3))
    rc.update({
        "savefig.dpi": 200,
        "savefig.bbox": "tight",
        "pdf.fonttype": 42,  # embed TrueType: text stays selectable and editable in the PDF
        "axes.titleweight": "bold",
        "legend.frameon": False,
    })
    return rc


@contextmanager
def report_style() -> Iterator[None]:
    """Temporarily apply the report's matplotlib settings."""
    with mpl.rc_context(_style()):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure with an Agg canvas and constrained layout (nothing clipped at the edges)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, stem: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``stem.<fmt>`` for each format; return the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        fig.savefig(path, format=fmt)
        paths.append(path)
    return paths


def palette(n: int) -> list[tuple[float, float, float]]:
    """``n`` colours from seaborn's colour-blind palette (cycled beyond ten)."""
    base = sns.color_palette("colorblind", 10)
    return [base[i % len(base)] for i in range(n)]


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"png,pdf"`` → ``("png", "pdf")``; ``ValueError`` for formats matplotlib cannot write."""
    items = [t.strip().lower().lstrip(".") for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    supported = FigureCanvasAgg.get_supported_filetypes()
    bad = [t for t in items if t not in supported]
    if bad or not items:
        raise ValueError(f"figure formats must be among {', '.join(sorted(supported))}; got {text!r}")
    return tuple(dict.fromkeys(items))
