"""The training options shared by `probe run` and `probe transfer` (:mod:`probe.commands.train_options`): both
commands list every option with its help text, and the same options give both the same recorded configuration."""

from __future__ import annotations

import json
import typing
from dataclasses import fields
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from probe.cli import app
from probe.commands.train_options import TrainingRequest, training_options
from probe.results.records import read_record
from probe.train.presets import make_config
from tests.probe_caches import make_cache, one_thread  # noqa: F401 - fixture
from tests.transfer_caches import transfer_cache

runner = CliRunner()
OVERRIDES = ["--preset", "standardized", "--epochs", "2", "--batch-size", "16", "--dropout", "0.3",
             "--no-standardize", "--scheduler", "plateau", "--device", "cpu", "--threads", "1"]
EXPECTED_OVERRIDES = ["batch_size", "dropout", "epochs", "scheduler", "standardize"]


def _help_texts() -> dict[str, str]:
    """Each training option's help text as the module declares it (rich's escapes removed)."""
    hints = typing.get_type_hints(TrainingRequest, include_extras=True)
    return {f.name: hints[f.name].__metadata__[0].help.replace("\\[", "[") for f in fields(TrainingRequest)}


@pytest.mark.parametrize("command", ["run", "transfer"])
def test_help_lists_every_training_option_with_its_text(command: str) -> None:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    params = {p.name: p for p in click_command.params}
    texts = _help_texts()
    assert set(texts) == {f.name for f in fields(TrainingRequest)} and len(texts) == 13
    for name, text in texts.items():
        assert name in params, f"probe {command} lacks --{name.replace('_', '-')}"
        assert params[name].help.replace("\\[", "[") == text
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "250", "TERMINAL_WIDTH": "250"})
    assert shown.exit_code == 0, shown.output
    for flag in ("--preset", "--epochs", "--batch-size", "--lr", "--dropout", "--no-standardize",
                 "--no-class-weights", "--scheduler", "--device", "--memory-gb", "--threads", "Training settings"):
        assert flag in shown.output, (command, flag)
    # rich must not swallow the bracketed preset values as markup
    for text in ("Training epochs [preset: 30].", "Adam learning rate [preset: 5e-4].",
                 "[paper 0.1, standardized 0.2]", "[paper: plateau, standardized: none]"):
        assert text in shown.output, (command, text)


def test_request_gives_the_presets_config_with_overrides() -> None:
    request = TrainingRequest(preset="standardized", epochs=2, batch_size=16, dropout=0.3, standardize=False,
                              scheduler="plateau", device="cpu", memory_gb=0.5, threads=1)
    config = request.train_config()
    assert config == make_config("standardized", device="cpu", epochs=2, batch_size=16, dropout=0.3,
                                 standardize=False, scheduler="plateau")
    assert list(config.overrides) == EXPECTED_OVERRIDES
    assert request.memory_budget == 2**29 and TrainingRequest().memory_budget is None
    assert TrainingRequest().train_config() == make_config("paper")
    with pytest.raises(ValueError, match="unknown preset"):
        TrainingRequest(preset="fast").train_config()


def test_decorator_needs_a_training_parameter() -> None:
    def no_training(features: Path = Path("f")) -> None:
        """Nothing."""

    with pytest.raises(TypeError, match="no `training"):
        training_options(no_training)


def test_run_and_transfer_record_the_same_settings(tmp_path: Path, one_thread: None) -> None:
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    ran = runner.invoke(app, ["run", "--features", str(features), "--results", str(tmp_path / "r"), "--probes",
                              "linear", "--seeds", "1", *OVERRIDES])
    assert ran.exit_code == 0, ran.output
    assert "preset standardized" in ran.output and "on cpu" in ran.output
    run_record = read_record(next((tmp_path / "r" / "runs").rglob("seed0.json")))

    feats = tmp_path / "transfer-features"
    transfer_cache(feats / "alpha" / "whisper-tiny.h5", "alpha", seed=1)
    transfer_cache(feats / "beta" / "whisper-tiny.h5", "beta", seed=2)
    moved = runner.invoke(app, ["transfer", "--model", "whisper-tiny", "--features", str(feats), "--results",
                                str(tmp_path / "t"), "--probes", "linear", "--seeds", "1", "--train", "alpha",
                                "--test", "beta", *OVERRIDES])
    assert moved.exit_code == 0, moved.output
    transfer_record = json.loads(next((tmp_path / "t" / "transfer" / "runs").rglob("*.json")).read_text())
    for record in (run_record, transfer_record):
        assert record["preset"] == "standardized" and record["overrides"] == EXPECTED_OVERRIDES
        config = record["config"]
        assert (config["epochs"], config["batch_size"]) == (2, 16)  # dropout: in overrides (a linear head has none)
        assert config["standardize"] is False and config["scheduler"] == "plateau"


@pytest.mark.parametrize("command", [["run", "--all"], ["transfer", "--all"]])
def test_bad_settings_are_one_line_errors(command: list[str], tmp_path: Path) -> None:
    for bad, message in ((["--preset", "fast"], "unknown preset"), (["--scheduler", "cosine"], "scheduler")):
        result = runner.invoke(app, [*command, "--features", str(tmp_path), *bad])
        assert result.exit_code == 2 and message in result.output, result.output
