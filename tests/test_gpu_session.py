"""The prepared GPU session (``benchmarks/gpu_session.sh``) runs only where a GPU is lent, in minutes that cannot be
spent twice: every test it names exists, every option it passes is one its script or command accepts, and each
call's step limits fit a device command's 600 s."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from probe.cli import app

ROOT = Path(__file__).resolve().parents[1]
SESSION = ROOT / "benchmarks" / "gpu_session.sh"
CALL_LIMIT_S = 600


def _commands() -> list[str]:
    """The script's lines with backslash continuations joined, comments left out."""
    text = SESSION.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _options(command: str, after: str) -> set[str]:
    """The ``--options`` of ``command`` after the token ``after``."""
    tail = command.split(after, 1)[1]
    return set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", tail))


def test_every_test_it_runs_exists() -> None:
    named = re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", " ".join(_commands()))
    assert named, "the session runs no named test"
    for path, function in named:
        source = ROOT / path
        assert source.is_file(), path
        if function:
            assert re.search(rf"^def {function}\(", source.read_text(), re.M), f"{path}::{function}"


def test_every_benchmark_option_is_accepted() -> None:
    calls = [c for c in _commands() if re.search(r"python3 benchmarks/\w+\.py", c)]
    assert {re.search(r"benchmarks/(\w+)\.py", c).group(1) for c in calls} >= {"gpu_extract", "gpu_train"}
    for command in calls:
        script = re.search(r"(benchmarks/\w+\.py)", command).group(1)
        shown = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True,
                               timeout=120, check=False)
        assert shown.returncode == 0, shown.stderr
        missing = {o for o in _options(command, script) if o not in shown.stdout}
        assert not missing, f"{script} does not accept {sorted(missing)}"


def test_every_probe_option_is_accepted() -> None:
    calls = [c for c in _commands() if re.search(r"(?:^|\s)probe (\w+)", c) and "python3" not in c.split("probe")[0]]
    assert calls, "the session runs no probe command"
    for command in calls:
        sub = re.search(r"(?:^|\s)probe (\w+)", command).group(1)
        shown = CliRunner().invoke(app, [sub, "--help"], terminal_width=200)
        assert shown.exit_code == 0, shown.output
        missing = {o for o in _options(command, f"probe {sub}") if o not in shown.output}
        assert not missing, f"probe {sub} does not accept {sorted(missing)}"


def test_each_call_fits_a_device_command() -> None:
    text = SESSION.read_text()
    tests_part, measure_part = text.split('if [ "$WHAT" = tests ]; then', 1)[1].split("\nelse\n", 1)
    for part in (tests_part, measure_part):
        limits = [int(n) for n in re.findall(r"\bstep \w+ (\d+) ", part)]
        assert limits and sum(limits) <= CALL_LIMIT_S, limits
