"""``probe demo``: its options and its corpus step (the full demo runs in minutes; `make demo` is its test)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from probe.cli import app
from probe.commands.demo import DEMO_SENTENCES, STEPS, DemoRun, synthesise


def _run(root: Path, sentences: int) -> DemoRun:
    return DemoRun(root, root / "features", root / "out", "1", "linear", "cpu", "wav2vec2-base", "random", "none",
                   False, sentences)


def test_help_names_the_cut_corpus_and_every_step_runs_in_order() -> None:
    result = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--sentences" in result.output and "192 clips" in result.output
    assert "--layer-lr" in result.output
    assert DEMO_SENTENCES == 2
    assert [step.__name__ for _, step in STEPS] == ["synthesise", "extract_features", "train_probes", "transfer",
                                                    "report"]


def test_synthesise_renders_the_demo_corpus_and_refuses_a_folder_of_another_size(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path, 1)
    synthesise(run)
    wavs = sorted((tmp_path / "synthetic").rglob("*.wav"))
    assert len(wavs) == 8 * 3 * 1 * 4  # languages x speakers x sentences x emotions
    assert run.roots == {"synthetic": tmp_path / "synthetic"}
    synthesise(_run(tmp_path, 1))  # same size: reused
    with pytest.raises(typer.Exit) as exit_info:
        synthesise(_run(tmp_path, 2))
    assert exit_info.value.exit_code == 1
    assert len(sorted((tmp_path / "synthetic").rglob("*.wav"))) == len(wavs)  # nothing lost
    message = " ".join(capsys.readouterr().err.split())
    assert "other parameters (differs in: sentences_per_language)" in message and "--sentences" in message


def test_train_step_adds_the_layer_lr_multilayer_run(tmp_path: Path) -> None:
    """Issue 19: beside the paper's Multi-Layer run, the first model's Multi-Layer probe with --layer-lr, both in
    the leaderboard (two rows, told apart by their overrides)."""
    import pandas as pd

    from probe.commands.demo import DEMO_LAYER_LR, train_probes
    from tests.probe_caches import make_cache

    make_cache(tmp_path / "features" / "synthetic" / "whisper-tiny.en.h5", corpus="synthetic",
               model="whisper-tiny.en", n_states=3, dim=8, per_label=2)
    run = DemoRun(tmp_path, tmp_path / "features", tmp_path / "out", "1", "multilayer", "cpu", "wav2vec2-base",
                  "random", "none", False, 1)
    run.models = ["whisper-tiny.en"]
    train_probes(run)
    assert [s.count("trained") for s in run.summaries] == [1, 1]
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv", keep_default_na=False, dtype=str)
    assert sorted(board["overrides"]) == ["", "layer_lr"] and set(board["probe"]) == {"multilayer"}
    assert DEMO_LAYER_LR == 0.05
