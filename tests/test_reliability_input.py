"""Bad input and hostile machine states give one clear error (the thing, the reason, the next step), never a
traceback: output paths through a file, read-only and full file systems, absent devices, impossible values, a
Multi-Layer probe on a one-state cache, and damage in layers no chosen probe reads (issue 23).

The command-line cases run ``probe`` as a real process; read-only and full file systems are real tmpfs mounts
(skipped, with the reason, where this process may not mount one)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from extract.guards import FolderError, ensure_folder
from extract.locks import exclusive_lock
from probe.cli import app
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.presets import make_config
from tests.conftest import write_tone
from tests.probe_caches import make_cache, one_thread  # noqa: F401  (one_thread: a fixture)
from tests.tmpfs import fill, mountable, tmpfs

SMALL = {"n_states": 3, "dim": 8, "per_label": 2, "labels": ("anger", "sadness"), "n_speakers": 6}
NAMES = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta"]
ENV = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def probe(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``probe ARGS`` as a real process (the console script's entry point, ``probe.cli.main``)."""
    return subprocess.run([sys.executable, "-m", "probe.cli", *map(str, args)], capture_output=True, text=True,
                          env=env or ENV, timeout=300)


def assert_clean_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """The process failed with one ``error:`` message holding ``words``, and no traceback; the message."""
    text = " ".join(result.stderr.split())
    assert result.returncode in (1, 2), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert "error:" in text, text
    for word in words:
        assert word in text, (word, text)
    return text


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A tiny EmoDB-shaped corpus folder (four short tones) under ``tmp_path/data``."""
    for i, name in enumerate(NAMES):
        write_tone(tmp_path / "data" / "emodb" / "wav" / f"{name}.wav", seconds=0.5, seed=i, freq=150 + 30 * i)
    return tmp_path / "data"


def test_extract_out_through_a_file(tmp_path: Path, data: Path) -> None:
    (tmp_path / "x").write_text("a file")
    result = probe("extract", "--model", "whisper-tiny.en", "--weights", "random", "--corpus", "emodb",
                   "--data-root", data, "--out", tmp_path / "x" / "feat", "--device", "cpu")
    assert_clean_error(result, f"{tmp_path / 'x'} is a file, not a folder", "choose another --out")
    with pytest.raises(FolderError, match="is a file, not a folder"):  # the pipeline's own check, same words
        ensure_folder(tmp_path / "x" / "feat" / "emodb", "--out", "cache m.h5")


def test_run_results_through_a_file(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)
    (tmp_path / "x").write_text("a file")
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["run", "--features", str(tmp_path / "features"),
                                                            "--results", str(tmp_path / "x" / "res")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "cannot write run records" in result.output and "is a file, not a folder; choose another --results" \
        in result.output
    with pytest.raises(FolderError, match="is a file, not a folder"):  # the results-folder lock, directly
        with exclusive_lock(tmp_path / "x" / "res", what="results folder", folder=True):
            pass


def test_run_results_on_a_read_only_file_system(tmp_path: Path) -> None:
    mountable(tmp_path)
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)
    with tmpfs(tmp_path / "ro", 256) as ro:
        (ro / "results").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        result = probe("run", "--features", tmp_path / "features", "--results", ro / "results")
        assert_clean_error(result, f"cannot write run records in {ro / 'results'}", "read-only file system",
                           "writable disk")
        with pytest.raises(FolderError, match="read-only file system"):  # the lock itself (as root, too)
            with exclusive_lock(ro / "results", what="results folder", folder=True):
                pass


def test_run_on_a_full_disk_names_the_folder_and_the_space(tmp_path: Path) -> None:
    mountable(tmp_path)
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)
    with tmpfs(tmp_path / "full", 256) as full:
        results = full / "results"
        results.mkdir()
        fill(results / "filler")  # the disk full to the last byte
        result = probe("run", "--features", tmp_path / "features", "--results", results, "--probes", "nonlinear",
                       "--seeds", "0,", "--epochs", "1")
    text = " ".join(result.stdout.split())
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "Errno 28" not in text
    assert f"no space left on the device of {results / 'runs'}" in text, text
    assert "needed," in text and "free)" in text and "rerun the same command" in text


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here: --device cuda is not absent")


@NO_CUDA
def test_absent_cuda_is_an_error_not_a_crash(tmp_path: Path, data: Path) -> None:
    result = probe("extract", "--model", "whisper-tiny", "--weights", "random", "--corpus", "emodb", "--data-root",
                   data, "--out", tmp_path / "feat", "--device", "cuda")
    assert_clean_error(result, "--device cuda: CUDA is not available here", "use --device cpu")
    assert not (tmp_path / "feat" / "emodb").exists()


@NO_CUDA
def test_absent_cuda_is_not_replaced_by_the_cpu(tmp_path: Path, data: Path) -> None:
    result = CliRunner().invoke(app, ["extract", "--model", "logmel-128", "--corpus", "emodb", "--data-root",
                                      str(data), "--out", str(tmp_path / "feat"), "--device", "cuda:1"])
    assert result.exit_code == 2 and "--device cuda:1: CUDA is not available here" in result.output
    assert not (tmp_path / "feat" / "emodb").exists()  # the feature transform did not run on the CPU instead


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_impossible_memory_budget_is_refused(tmp_path: Path, value: str) -> None:
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)
    result = CliRunner().invoke(app, ["run", "--features", str(tmp_path / "features"), "--results",
                                      str(tmp_path / "results"), "--memory-gb", value])
    assert result.exit_code == 2, result.output
    assert f"--memory-gb {value}: the memory for frames must be more than 0 GiB" in " ".join(result.output.split())
    assert not (tmp_path / "results" / "runs").exists()


def test_unknown_or_absent_device_is_refused_by_run() -> None:
    result = CliRunner().invoke(app, ["run", "--device", "tpu"])
    assert result.exit_code == 2 and "--device tpu: not a device this suite runs on" in result.output


def test_multilayer_on_a_one_state_cache_is_refused_by_name(tmp_path: Path, one_thread: None) -> None:
    make_cache(tmp_path / "features" / "synth" / "logmel-128.h5", model="logmel-128", planted=(0,),
               attrs={"family": "spectrogram"}, **{**SMALL, "n_states": 1})
    summary = run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,",
                             config=make_config("paper", epochs=1, device="cpu")),
                      RunSelection(probes="linear,multilayer"))
    assert [(o.spec.probe, o.status) for o in summary.outcomes] == [("linear", "trained")]
    assert any(n.startswith("multilayer not run on synth/logmel-128: multilayer learns weights over a model's "
                            "states") and "use linear, nonlinear or attention" in n for n in summary.notes)
    alone = CliRunner(env={"COLUMNS": "300"}).invoke(app, [
        "run", "--features", str(tmp_path / "features"), "--results", str(tmp_path / "r2"), "--probes",
        "multilayer", "--seeds", "0,", "--epochs", "1"])
    assert alone.exit_code == 1 and "RuntimeError" not in alone.output
    assert "caches 1 state" in alone.output and "nothing could be trained" in alone.output


def test_nan_in_a_layer_no_probe_reads_is_named_and_runs_stay_valid(tmp_path: Path, one_thread: None) -> None:
    path = make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **{**SMALL, "n_states": 4})
    with h5py.File(path, "r+") as h5:
        h5["layers/01"][5] = np.nan  # frames only: the pooled means (checked at selection) stay finite
    summary = run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,",
                             config=make_config("paper", epochs=1, device="cpu")),
                      RunSelection(probes="linear,nonlinear"))
    assert [o.status for o in summary.outcomes] == ["trained", "trained"]
    damage = [n for n in summary.notes if "NaN or inf" in n]
    assert len(damage) == 1 and "the frames of layer 1 hold NaN or inf" in damage[0], summary.notes
    assert "No chosen probe reads them, so these runs are valid" in damage[0]
    clean = run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,",
                           config=make_config("paper", epochs=1, device="cpu")),
                    RunSelection(probes="layerwise"))  # pooled only: the same note
    assert any("layer 1 hold NaN" in n for n in clean.notes)
    failing = run_all(RunJob(tmp_path / "features", tmp_path / "r2", seeds="0,",
                             config=make_config("paper", epochs=1, device="cpu")),
                      RunSelection(probes="multilayer"))  # reads layer 1: fails, named
    assert [o.status for o in failing.outcomes] == ["failed"] and "layer 1 holds NaN or inf" in \
        failing.outcomes[0].message
    assert not any("NaN" in n for n in failing.notes)  # read layers are the run's own failure, not a note


def test_folder_error_reasons() -> None:
    """Each errno a folder meets reads as its reason with a next step."""
    from extract.guards import folder_error

    here = Path("/nonexistent-probe-dir/sub")
    assert "no space is left" in str(folder_error(here, OSError(errno.ENOSPC, "x"), "--out", "caches"))
    assert "permission denied" in str(folder_error(here, OSError(errno.EACCES, "x"), "--out", "caches"))
    assert "make it writable" in str(folder_error(here, OSError(errno.EACCES, "x"), "--out", "caches"))


def test_report_plan_and_leaderboard_name_unwritable_folders(tmp_path: Path, data: Path) -> None:
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)
    run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,",
                   config=make_config("paper", epochs=1, device="cpu")), RunSelection(probes="linear"))
    (tmp_path / "x").write_text("a file")
    runner = CliRunner(env={"COLUMNS": "300"})
    report = runner.invoke(app, ["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "x" / "r")])
    assert report.exit_code == 1 and "cannot write the report" in report.output and "is a file" in report.output
    plan = runner.invoke(app, ["plan", "--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", str(data),
                               "--out", str(tmp_path / "x" / "feat"), "--time-clips", "0"])
    assert plan.exit_code == 2 and f"{tmp_path / 'x'} is a file, not a folder" in " ".join(plan.output.split())
    mountable(tmp_path)
    with tmpfs(tmp_path / "ro", 1024) as ro:
        subprocess.run(["cp", "-r", str(tmp_path / "results"), str(ro)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        board = runner.invoke(app, ["leaderboard", "--results", str(ro / "results")])
        assert board.exit_code == 2 and isinstance(board.exception, SystemExit), board.output
        assert "Read-only file system" in board.output and "make the folder writable" in board.output
        report = runner.invoke(app, ["report", "--results", str(ro / "results")])
        assert report.exit_code == 1 and "read-only file system; choose a --out folder" in report.output


def test_transfer_leaves_multilayer_out_of_one_state_caches_by_name(tmp_path: Path, one_thread: None) -> None:
    from probe.run.transfer_run import run_transfer
    from tests.transfer_caches import transfer_cache

    for corpus, seed, language in (("a", 1, "en"), ("b", 2, "de")):
        transfer_cache(tmp_path / "f" / corpus / "logmel-128.h5", corpus, seed=seed, language=language, n_states=1,
                       model="logmel-128")
    summary = run_transfer(RunJob(tmp_path / "f", tmp_path / "r", classes="4", seeds="0,",
                                  config=make_config("paper", epochs=1, device="cpu")),
                           RunSelection(models=["logmel-128"], probes="linear,multilayer"))
    assert [o.status for o in summary.outcomes] == ["trained"] * 4  # linear's four cells; no failed multilayer
    assert any("multilayer not run: multilayer learns weights over a model's states" in n for n in summary.notes)


def test_transfer_on_a_full_disk_names_the_folder_and_the_space(tmp_path: Path, one_thread: None) -> None:
    from probe.run.transfer_run import run_transfer
    from tests.transfer_caches import transfer_cache

    mountable(tmp_path)
    for corpus, seed, language in (("a", 1, "en"), ("b", 2, "de")):
        transfer_cache(tmp_path / "f" / corpus / "whisper-tiny.h5", corpus, seed=seed, language=language)
    with tmpfs(tmp_path / "full", 128) as full:
        (full / "filler").write_bytes(b"\0" * 120_000)  # 8 KB left: a transfer record needs about 20
        summary = run_transfer(RunJob(tmp_path / "f", full / "r", classes="4", seeds="0,",
                                      config=make_config("paper", epochs=1, device="cpu")),
                               RunSelection(models=["whisper-tiny"], probes="linear"))
    assert [o.status for o in summary.outcomes] == ["failed"] * 4
    assert all("no space left on the device of" in o.message and "needed," in o.message and "Errno" not in
               o.message for o in summary.outcomes)
