"""`probe --help` starts quickly: importing the command line loads no engine (torch, pandas, ...); each command
imports what it needs when it runs. Deterministic (a module list), not timed; the times are in
benchmarks/cli_startup.py."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "pandas", "numpy", "scipy", "sklearn", "matplotlib", "h5py", "soundfile",
         "submitit")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return done.stdout.split()


def test_importing_the_cli_loads_no_engine() -> None:
    assert _loaded_after("import probe.cli") == []


def test_help_runs_without_torch() -> None:
    code = ("from typer.testing import CliRunner; from probe.cli import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0 and 'Usage: probe' in r.output, r.output")
    assert "torch" not in _loaded_after(code)
