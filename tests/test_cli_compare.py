"""`probe compare` through typer's CliRunner on hand-made records."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.commands.compare import NOT_DISTINGUISHABLE, SelectionError, parse_side, select_side
from tests.records_factory import make_record, write_record

runner = CliRunner()


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    for seed in range(3):
        for corpus in ("cafe", "aesdd"):
            write_record(tmp_path, make_record(corpus, "whisper-small", "linear", seed, skill=0.9, n_speakers=8))
            write_record(tmp_path, make_record(corpus, "wav2vec2-base", "multilayer", seed, skill=0.3, n_speakers=8))
            write_record(tmp_path, make_record(corpus, "wav2vec2-base", "linear", seed, skill=0.3, n_speakers=8))
    return tmp_path


def invoke(*args: object):
    return runner.invoke(app, ["compare", *map(str, args)])


def test_a_clear_winner_is_called_better(results: Path) -> None:
    out = invoke("--corpus", "cafe", "--a", "whisper-small:linear", "--b", "wav2vec2-base:multilayer",
                 "--results", results)
    assert out.exit_code == 0, out.output
    assert "whisper-small:linear is better than wav2vec2-base:multilayer" in out.output
    for metric in ("macro_f1", "uar", "accuracy"):
        assert metric in out.output
    assert "8 test speakers" in out.output


def test_same_model_twice_is_not_distinguishable_and_corpora_average(results: Path) -> None:
    out = invoke("--corpus", "cafe", "--corpus", "aesdd", "--a", "wav2vec2-base:linear", "--b",
                 "wav2vec2-base:multilayer", "--results", results)
    assert out.exit_code == 0, out.output
    assert NOT_DISTINGUISHABLE in out.output and "the mean over cafe," in out.output and "aesdd" in out.output


def test_errors(results: Path, tmp_path: Path) -> None:
    assert invoke("--corpus", "cafe", "--a", "whisper-small", "--b", "x:y", "--results", results).exit_code == 2
    missing = invoke("--corpus", "emodb", "--a", "whisper-small:linear", "--b", "wav2vec2-base:linear",
                     "--results", results)
    assert missing.exit_code == 1 and "no holdout-all records of whisper-small:linear on emodb" in missing.output
    assert invoke("--corpus", "cafe", "--a", "a:b", "--b", "c:d", "--results", tmp_path / "none").exit_code == 1
    assert parse_side("microsoft/wavlm-base:linear") == ("microsoft/wavlm-base", "linear")


def test_configurations_are_never_pooled() -> None:
    records = [make_record("cafe", "whisper-small", "linear", 0), make_record("cafe", "whisper-small", "linear", 1)]
    records[1]["config_id"] = "other"
    with pytest.raises(SelectionError, match="2 configurations"):
        select_side(records, "cafe", "whisper-small", "linear")
    assert len(select_side(records, "cafe", "whisper-small", "linear", config="other")) == 1
    assert not any(r["preset"] == "standardized" for r in select_side(records[:1], "cafe", "whisper-small", "linear"))


def test_sides_tested_on_different_splits_are_refused(tmp_path: Path) -> None:
    for seed in range(3):
        write_record(tmp_path, make_record("cafe", "whisper-small", "linear", seed, n_speakers=8))
        write_record(tmp_path, make_record("cafe", "wav2vec2-base", "linear", seed, n_speakers=8, n_test=57))
    out = invoke("--corpus", "cafe", "--a", "whisper-small:linear", "--b", "wav2vec2-base:linear", "--results",
                 tmp_path)
    assert out.exit_code == 1 and "tested on different splits (60 vs 57 test clips" in out.output


def test_few_test_speakers_say_why_nothing_is_significant(tmp_path: Path) -> None:
    for seed in range(3):
        write_record(tmp_path, make_record("cafe", "whisper-small", "linear", seed, skill=0.9, n_speakers=1))
        write_record(tmp_path, make_record("cafe", "wav2vec2-base", "linear", seed, skill=0.2, n_speakers=1))
    out = invoke("--corpus", "cafe", "--a", "whisper-small:linear", "--b", "wav2vec2-base:linear", "--results",
                 tmp_path)
    assert out.exit_code == 0, out.output
    assert NOT_DISTINGUISHABLE in out.output and "no difference can be significant" in out.output
    assert "smallest possible" in out.output
