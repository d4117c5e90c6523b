"""No traceback reaches the user from any command: every `probe` command (as `probe --help` lists them, groups
included) meets at least three kinds of wrong argument (an unknown option, a value of the wrong type or range,
and a value that is well-formed but wrong: a path through a file, a name that does not exist) and answers with a
message and a non-zero exit; an unexpected exception prints one line and the path of a full log (issue 23).

The argument cases run in this process (typer's runner; an exception escaping a command is caught there and
fails the test); the crash log is checked in a real process, through the console script's entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from probe.cli import app, report_crash

ARGUMENT_KINDS = ("unknown option", "bad type or range", "wrong value")


def _cases(tmp: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """Command path → (kind, arguments); ``tmp/file`` is a plain file, ``tmp/none`` does not exist."""
    f, none = str(tmp / "file"), str(tmp / "none")
    data = str(tmp / "data")
    return {
        "synth": [("unknown option", ["--nope"]), ("bad type or range", ["--sentences", "-3"]),
                  ("wrong value", ["--out", f + "/corpus"]), ("wrong value", ["--languages", "xx"])],
        "extract": [("unknown option", ["--model", "whisper-tiny.en", "--nope"]),
                    ("bad type or range", ["--model", "whisper-tiny.en", "--batch-size", "0"]),
                    ("wrong value", ["--model", "whisper-tiny.en", "--corpus", "zzz"]),
                    ("wrong value", ["--model", "no-such-model", "--corpus", "emodb", "--data-root", data]),
                    ("wrong value", ["--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", data,
                                     "--out", f + "/feat"]),
                    ("wrong value", ["--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", data,
                                     "--device", "tpu"])],
        "plan": [("unknown option", ["--model", "whisper-tiny.en", "--nope"]),
                 ("bad type or range", ["--model", "whisper-tiny.en", "--time-clips", "-1"]),
                 ("wrong value", ["--model", "no-such-model"]),
                 ("wrong value", ["--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", data,
                                  "--device", "tpu"])],
        "run": [("unknown option", ["--nope"]), ("bad type or range", ["--jobs", "0"]),
                ("bad type or range", ["--memory-gb", "-1"]), ("wrong value", ["--features", f]),
                ("wrong value", ["--seeds", "x"]), ("wrong value", ["--results", f + "/res"])],
        "leaderboard": [("unknown option", ["--nope"]), ("bad type or range", ["--wide", "--csv=maybe"]),
                        ("wrong value", ["--results", none]), ("wrong value", ["--results", f])],
        "transfer": [("unknown option", ["--all", "--nope"]), ("bad type or range", ["--all", "--epochs", "0"]),
                     ("wrong value", ["--all", "--model", "x"]), ("wrong value", ["--model", "x", "--features", f]),
                     ("wrong value", ["--all", "--results", f + "/res"])],
        "compare": [("unknown option", ["--nope"]), ("bad type or range", ["--corpus", "c", "--a", "m:linear",
                                                                           "--b", "n:linear", "--level", "2"]),
                    ("wrong value", ["--corpus", "c", "--a", "m:linear", "--b", "n:linear", "--results", none]),
                    ("wrong value", ["--corpus", "c", "--a", "nocolon", "--b", "n:linear", "--results", f])],
        "report": [("unknown option", ["--nope"]), ("bad type or range", ["--run-figures=maybe"]),
                   ("wrong value", ["--results", none]), ("wrong value", ["--run", f]),
                   ("wrong value", ["--best-probe", "zz"])],
        "demo": [("unknown option", ["--nope"]), ("bad type or range", ["--sentences", "x"]),
                 ("wrong value", ["--seeds", "x"]), ("wrong value", ["--device", "tpu"]),
                 ("wrong value", ["--out", f + "/out"])],
        "status": [("unknown option", ["--nope"]), ("bad type or range", ["--lines", "-1"]),
                   ("wrong value", ["--jobs-dir", none]), ("wrong value", ["--jobs-dir", f])],
        "corpora list": [("unknown option", ["--nope"]), ("bad type or range", ["--wide=maybe"]),
                         ("wrong value", ["--config", none]), ("wrong value", ["--config", f]),
                         ("wrong value", ["--data-root", f])],
        "corpora check": [("unknown option", ["--nope"]), ("bad type or range", ["--corpus"]),
                          ("wrong value", ["--corpus", "zz"]), ("wrong value", ["--corpus", "emodb", "--root", f])],
        "corpora manifest": [("unknown option", ["--nope"]), ("bad type or range", ["--corpus"]),
                             ("wrong value", ["--corpus", "zz"]),
                             ("wrong value", ["--corpus", "emodb", "--root", data + "/emodb", "--out", f + "/m.csv"])],
        "models list": [("unknown option", ["--nope"]), ("bad type or range", ["--json=maybe"]),
                        ("wrong value", ["--family", "zz"])],
    }


def _command_paths(group: Any, prefix: str = "") -> list[str]:
    """Every runnable command under ``group`` (a click group, as typer builds it): ``run``, ``corpora list``..."""
    paths = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        paths += _command_paths(command, path + " ") if hasattr(command, "commands") else [path]
    return paths


def test_every_command_answers_wrong_arguments_without_a_traceback(tmp_path: Path) -> None:
    from tests.conftest import write_tone

    (tmp_path / "file").write_text("a plain file")
    for i, name in enumerate(("03a01Fa", "03a01Nc", "08a02Wa")):
        write_tone(tmp_path / "data" / "emodb" / "wav" / f"{name}.wav", seconds=0.4, seed=i)
    cases = _cases(tmp_path)
    listed = _command_paths(typer.main.get_command(app))
    assert sorted(listed) == sorted(cases), "a command without wrong-argument cases here (or one gone)"
    runner = CliRunner(env={"COLUMNS": "200", "PROBE_JOBS_DIR": str(tmp_path / "jobs")})
    for path, arguments in cases.items():
        assert {kind for kind, _ in arguments} == set(ARGUMENT_KINDS), path
        for kind, args in arguments:
            result = runner.invoke(app, [*path.split(), *args])
            where = f"probe {path} {' '.join(args)} ({kind})"
            assert result.exception is None or isinstance(result.exception, SystemExit), \
                (where, repr(result.exception))
            assert "Traceback" not in result.output, (where, result.output)
            text = result.output.lower()
            if path == "corpora list" and kind == "wrong value":  # by design: the registry, then the problem
                assert result.exit_code == 0 and "could not locate corpora" in text, (where, result.output)
                continue
            assert result.exit_code != 0, (where, result.output)
            assert "error" in text or "usage" in text, (where, result.output)


def test_an_unexpected_exception_prints_one_line_and_the_log(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        import probe.results.leaderboard
        def broken(*args, **kwargs):
            raise ZeroDivisionError("planted for the test")
        probe.results.leaderboard.load_leaderboard = broken  # leaderboard_command imports it when it runs
        sys.argv = ["probe", "leaderboard", "--results", sys.argv[1]]
        from probe.cli import main
        main()
    """)
    env = {**os.environ, "PROBE_LOG_DIR": str(tmp_path / "logs")}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "unexpected ZeroDivisionError: planted for the test" in lines[0]
    logs = list((tmp_path / "logs").glob("probe-crash-*.log"))
    assert len(logs) == 1 and f"full log: {logs[0]}" in lines[0]
    text = logs[0].read_text()
    assert text.startswith("probe leaderboard --results") and "Traceback" in text and "planted for the test" in text


def test_crash_log_falls_back_to_the_temporary_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("PROBE_LOG_DIR", str(tmp_path / "file" / "logs"))  # cannot be created
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    with pytest.raises(SystemExit) as stop:
        report_crash(KeyError("x"), ["run"])
    assert stop.value.code == 1
    line = capsys.readouterr().err
    assert "unexpected KeyError" in line and str(tmp_path / "tmp") in line
    assert len(list((tmp_path / "tmp").glob("probe-crash-*.log"))) == 1
