"""``probe report``: the paper's tables and figures, and REPORT.md, from run records (it never re-trains).

>>> from pathlib import Path
>>> from probe.report import write_report
>>> summary = write_report(Path("results"), compare="paper")
>>> summary.files          # tables/*.{csv,md,tex}, figures/**/*.{png,pdf}, REPORT.md
"""

from probe.report.build import ReportSummary, best_runs, write_report, write_run_report
from probe.report.load import NoRecordsError, ReportError, Run, load_runs, read_run
from probe.report.run_plots import run_figures

__all__ = [
    "NoRecordsError",
    "ReportError",
    "ReportSummary",
    "Run",
    "best_runs",
    "load_runs",
    "read_run",
    "run_figures",
    "write_report",
    "write_run_report",
]
