"""The newcomer's path (issue 23): `probe report` from whatever records exist, tables that fit an 80-column
terminal, and identical content re-extracted with --force staying one leaderboard row."""

from __future__ import annotations

import re
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest
from typer.testing import CliRunner

from extract import corpora
from probe.cli import app
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.run.transfer_run import run_transfer
from probe.train.presets import make_config
from tests.conftest import write_tone
from tests.probe_caches import make_cache, one_thread  # noqa: F401  (one_thread: a fixture)
from tests.transfer_caches import transfer_cache

pytestmark = pytest.mark.usefixtures("one_thread")
QUICK = make_config("paper", epochs=1, device="cpu")
REPORT = ["--formats", "png", "--no-run-figures"]


def _text(output: str) -> str:
    return " ".join(output.split())


def test_report_after_transfer_alone_writes_the_transfer_matrices(tmp_path: Path) -> None:
    for corpus, seed, language in (("a", 1, "en"), ("b", 2, "de")):
        transfer_cache(tmp_path / "features" / corpus / "whisper-tiny.h5", corpus, seed=seed, language=language)
    run_transfer(RunJob(tmp_path / "features", tmp_path / "results", classes="4", seeds="0,", config=QUICK),
                 RunSelection(models=["whisper-tiny"], probes="linear"))
    assert not (tmp_path / "results" / "runs").exists()
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["report", "--results", str(tmp_path / "results"),
                                                            *REPORT])
    assert result.exit_code == 0, result.output
    assert "the report holds the transfer records only" in _text(result.output)
    report = (tmp_path / "results" / "REPORT.md").read_text()
    assert "## Cross-lingual transfer" in report and "transfer records only" in report


def test_report_chooses_the_class_set_the_records_have_and_says_so(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", n_states=3, dim=8, per_label=2, n_speakers=6)
    run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,", classes="4", config=QUICK),
            RunSelection(probes="linear"))
    runner = CliRunner(env={"COLUMNS": "300"})
    result = runner.invoke(app, ["report", "--results", str(tmp_path / "results"), *REPORT])
    assert result.exit_code == 0, result.output
    assert ("no run record has protocol=holdout, classes=all and preset=paper; reporting the 1 records of "
            "protocol=holdout, classes=4, preset=paper instead (as if given --classes 4)") in _text(result.output)
    assert (tmp_path / "results" / "REPORT.md").is_file()
    explicit = runner.invoke(app, ["report", "--results", str(tmp_path / "results"), "--classes", "all", *REPORT])
    assert explicit.exit_code == 1 and "available: holdout-4 (paper)" in _text(explicit.output)  # as asked


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_corpora_list_fits_80_columns_and_keeps_every_fact() -> None:
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["corpora", "list"])
    assert narrow.exit_code == 0, narrow.output
    table = [line for line in _lines(narrow.output) if not line.startswith("protocol:")]  # prose wraps itself
    assert max(map(len, table)) <= 80, max(table, key=len)
    assert "…" not in narrow.output  # nothing cut
    for key in corpora.KEYS:
        info = corpora.info(key)
        assert re.search(rf"^ ?{re.escape(key)} ", narrow.output, re.M), key
        assert info.classes[0] in narrow.output and info.url.split("//")[-1][:20] in narrow.output.replace("\n", "")
    wide = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["corpora", "list", "--wide"])
    assert "where to get it" in wide.output
    csv = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["corpora", "list", "--csv"])
    assert csv.output.splitlines()[0].startswith("key,set,language,files,speakers,classes,protocol,access")
    assert len(csv.output.splitlines()) == len(corpora.KEYS) + 1


def test_leaderboard_leaves_out_and_names_columns_to_fit(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", n_states=3, dim=8, per_label=2, n_speakers=6)
    run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,", config=QUICK),
            RunSelection(probes="linear,nonlinear"))
    results = str(tmp_path / "results")
    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["leaderboard", "--results", results])
    assert narrow.exit_code == 0, narrow.output
    table = [line for line in _lines(narrow.output) if line[:1] in "┏┃┡│└"]
    assert table and max(map(len, table)) <= 80 and "…" not in "".join(table)
    assert "macro-F1" in narrow.output and "nonlinear" in narrow.output
    assert "left out to fit 80 characters: config," in _text(narrow.output) and "--wide" in narrow.output
    wide = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["leaderboard", "--results", results, "--wide"])
    assert "config" in wide.output and "train/val/test" in wide.output and "left out" not in wide.output
    csv = CliRunner().invoke(app, ["leaderboard", "--results", results, "--csv"])
    frame = pd.read_csv(pd.io.common.StringIO(csv.output))
    assert len(frame) == 2 and "config_id" in frame.columns


def _emodb(root: Path) -> Path:
    """An EmoDB-named corpus of 8 speakers × 4 emotions (short tones): enough for a speaker-independent split."""
    for s, speaker in enumerate(("03", "08", "09", "10", "11", "12", "13", "14")):
        for e, code in enumerate("WFNT"):
            write_tone(root / "emodb" / "wav" / f"{speaker}a0{e + 1}{code}a.wav", seconds=0.3, seed=8 * e + s,
                       freq=120 + 40 * e + 5 * s)
    return root


def test_reextracting_identical_content_keeps_one_leaderboard_row(tmp_path: Path) -> None:
    """End to end over issue 20's cache content fingerprint: the re-extracted cache is a new file (another
    creation time) with the same content, so its runs are the same configuration."""
    data, features, results = _emodb(tmp_path / "data"), tmp_path / "features", tmp_path / "results"
    runner = CliRunner(env={"COLUMNS": "300"})
    extract = ["extract", "--model", "logmel-128", "--corpus", "emodb", "--data-root", str(data), "--out",
               str(features), "--device", "cpu"]
    run = ["run", "--features", str(features), "--results", str(results), "--probes", "linear", "--seeds", "0,",
           "--epochs", "1", "--device", "cpu"]
    created = []
    for step in (extract, run, [*extract, "--force"], run):
        result = runner.invoke(app, step)
        assert result.exit_code == 0, (step[0], result.output)
        if step[0] == "extract":
            with h5py.File(features / "emodb" / "logmel-128.h5", "r") as h5:
                created.append(str(h5.attrs["created"]))
            time.sleep(1.0)  # the creation time has whole seconds: make the re-extraction's differ
    assert created[0] != created[1]  # a new file indeed, not the old one left in place
    assert "trained 0, already recorded 1" in _text(result.output)
    board = pd.read_csv(results / "leaderboard.csv")
    configs = sorted(p.name for p in (results / "runs").rglob("holdout-*") if p.is_dir())
    assert len(configs) == 1, configs  # the second run found its record: same content, same configuration
    assert len(board) == 1, board[["model", "probe", "config_id"]]
