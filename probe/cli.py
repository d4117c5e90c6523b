"""The ``probe`` command line: one command per step of the benchmark."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

import typer

from probe.commands import compare, corpora, demo, extract, models, plan, report, run, status, synth, transfer

app = typer.Typer(
    name="probe",
    help=(
        "Frozen-feature probing benchmark for cross-lingual speech emotion recognition.\n\n"
        "Steps: `probe extract` caches every layer of a speech model in HDF5; `probe run` trains probes on the "
        "caches; `probe report` writes tables and figures. `probe demo` does all three on synthetic speech. "
        "Also: `probe transfer` (cross-corpus and cross-lingual), `probe compare` (paired tests), `probe plan` "
        "(disk and time before extracting), `probe models list`, `probe status` (cluster jobs)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keep `probe` a command group whatever the number of sub-commands."""


for _module in (synth, extract, corpora, models, plan, run, transfer, compare, report, demo, status):
    _module.register(app)


def log_folder() -> Path:
    """Where crash logs go: ``$PROBE_LOG_DIR``, else ``$XDG_STATE_HOME/ser-probe`` (``~/.local/state/ser-probe``),
    else the system's temporary folder when that cannot be created."""
    chosen = os.environ.get("PROBE_LOG_DIR")
    if chosen:
        return Path(chosen)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ser-probe"


def write_crash_log(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the command line and the full traceback of ``exc`` to a new log file; its path, or ``None`` when no
    folder could take it."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = (f"probe {' '.join(argv)}\n{datetime.now(timezone.utc).isoformat(timespec='seconds')} pid {os.getpid()}"
            f"\n\n{''.join(traceback.format_exception(exc))}")
    for folder in (log_folder(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"probe-crash-{stamp}-{os.getpid()}.log"
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def report_crash(exc: BaseException, argv: list[str]) -> NoReturn:
    """One line on stderr for an unexpected exception (what failed, where the full log is), then exit 1."""
    log = write_crash_log(exc, argv)
    reason = str(exc).splitlines()[0] if str(exc).strip() else "(no message)"
    where = f"full log: {log}" if log is not None else "no log could be written (no writable folder)"
    print(f"error: probe {argv[0] if argv else ''} stopped on an unexpected {type(exc).__name__}: {reason}. "
          f"This is a bug or an input no check foresaw; {where} (please attach it to a bug report).",
          file=sys.stderr)
    raise SystemExit(1)


def main() -> None:
    """Entry point of the ``probe`` console script: no traceback reaches the user (see :func:`report_crash`)."""
    argv = sys.argv[1:]
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C); rerun the same command to resume where it stopped", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - the last line of defence: log it whole, print one line
        report_crash(exc, argv)


if __name__ == "__main__":
    main()
