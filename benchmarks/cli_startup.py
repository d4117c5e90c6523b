"""Start-up time of the ``probe`` command line: the whole process of ``probe --help`` and ``probe models list``,
median of several runs, plus the modules that ``import probe.cli`` pulls in (torch should not be among them).

    python benchmarks/cli_startup.py --runs 7 --label after --out benchmarks/results/cli_startup_2core-vm.txt

Each run is a fresh interpreter (``python -m probe.cli ...`` from this virtualenv), timed from outside with a
monotonic clock, so the figure is what a user waits for before the command does anything.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import Report, describe_machine

COMMANDS: dict[str, list[str]] = {"probe --help": ["--help"], "probe models list": ["models", "list"]}
HEAVY = ("torch", "pandas", "scipy", "sklearn", "matplotlib", "h5py", "submitit")


def time_command(args: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` fresh ``python -m probe.cli ARGS`` processes (after one warm-up run)."""
    command = [sys.executable, "-m", "probe.cli", *args]
    subprocess.run(command, capture_output=True, check=True)  # warm-up: the page cache, .pyc files
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def heavy_imports() -> list[str]:
    """The heavy libraries among the modules that a fresh ``import probe.cli`` loads."""
    code = f"import sys, probe.cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median reported)")
    parser.add_argument("--label", default="", help="a name for this state of the code (before, after, ...)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    parser.add_argument("--smoke", action="store_true", help="CI size: one run of `probe --help` only")
    args = parser.parse_args()
    commands = {"probe --help": COMMANDS["probe --help"]} if args.smoke else COMMANDS
    runs = 1 if args.smoke else args.runs
    report = Report(f"cli_startup{': ' + args.label if args.label else ''}")
    report(f"machine   {describe_machine('cpu')}")
    report(f"imports   import probe.cli loads: {', '.join(heavy_imports()) or 'none of ' + ', '.join(HEAVY)}")
    for name, argv in commands.items():
        seconds = time_command(argv, runs)
        report(f"{name:<18} median {statistics.median(seconds):.2f} s  (min {min(seconds):.2f}, "
               f"max {max(seconds):.2f}, {len(seconds)} runs)")
    report.save(args.out)


if __name__ == "__main__":
    main()
