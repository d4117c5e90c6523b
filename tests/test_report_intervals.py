"""The report's intervals: CIs in the cells, bold only for significant winners, ties marked, REPORT.md verdicts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from probe.report.build import write_report
from probe.report.intervals import NOT_DISTINGUISHABLE, TIED, apply_intervals
from probe.report.load import load_runs, runs_frame, select_runs
from probe.report.render import Cell, to_latex, to_markdown
from probe.report.tables import corpus_by_backbone_table, probe_by_backbone_table
from tests.records_factory import make_record, write_record

SKILL = {  # aesdd: whisper-small clearly best; cafe: the two Whispers equally good
    ("aesdd", "whisper-small"): 0.95, ("aesdd", "whisper-medium"): 0.35, ("aesdd", "wav2vec2-base"): 0.3,
    ("cafe", "whisper-small"): 0.8, ("cafe", "whisper-medium"): 0.8, ("cafe", "wav2vec2-base"): 0.3,
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    for (corpus, model), skill in SKILL.items():
        for seed in range(3):  # each run tests all 12 speakers: the two-way clustered t has min(12, 3) - 1 = 2 df
            write_record(root, make_record(corpus, model, "linear", seed, skill=skill, n_test=120, n_speakers=12),
                         embeddings=False)
    return root


def test_cells_tests_and_verdicts(results: Path) -> None:
    runs = select_runs(load_runs(results).runs)
    frame = runs_frame(runs)
    probe_table, corpus_table = probe_by_backbone_table(frame), corpus_by_backbone_table(frame)
    found = apply_intervals(runs, probe_table, corpus_table, n_resamples=500)
    data = corpus_table.data.set_index(["corpus", "model"])
    assert bool(data.loc[("aesdd", "whisper-small"), "significant_best"])
    assert not data.loc[("cafe", ["whisper-small", "whisper-medium"]), "significant_best"].any()
    assert data.loc[("cafe", ["whisper-small", "whisper-medium"]), "tied"].all()
    assert not data.loc[("cafe", "wav2vec2-base"), "tied"]
    for row in corpus_table.data.itertuples():
        assert row.macro_f1_ci_low < row.macro_f1_mean < row.macro_f1_ci_high
        assert row.n_test_speakers == 12 and row.n_test_clips == 120
    assert found.table3.winner == {"aesdd": "whisper-small", "cafe": None}
    assert all(0 <= t["p_value"] <= t["p_holm"] <= 1 for t in found.table3.tests)

    text = to_markdown(corpus_table.grid)
    aesdd = next(line for line in text.splitlines() if line.startswith("| aesdd"))
    cafe = next(line for line in text.splitlines() if line.startswith("| cafe"))
    assert aesdd.count("**") == 2 and TIED not in aesdd and "[" in aesdd
    assert "**" not in cafe and cafe.count(TIED) == 2
    assert "Holm correction over this table's 4 comparisons" in corpus_table.grid.caption
    assert "Bold: best backbone of the corpus." not in corpus_table.grid.caption
    assert r"$^\dagger$" in to_latex(corpus_table.grid)
    assert set(probe_table.data.columns) >= {"macro_f1_ci_low", "macro_f1_ci_high", "p_vs_best_holm"}

    section = found.markdown()
    assert "| aesdd | 12 | 120 |" in section and "**whisper-small**" in section
    assert f"whisper-small, whisper-medium: {NOT_DISTINGUISHABLE}" in section or \
        f"whisper-medium, whisper-small: {NOT_DISTINGUISHABLE}" in section
    resolution = found.resolution().set_index("corpus")["resolvable"]
    assert 0 < resolution["aesdd"] < 30 and 0 < resolution["cafe"] < 30


def test_report_files_show_intervals(results: Path, tmp_path: Path) -> None:
    summary = write_report(results, tmp_path, formats="png", best_run_figures=False)
    report = summary.report.read_text()
    assert "## Which differences are real" in report
    assert "Best backbone per corpus, significantly better than the runner-up: aesdd: whisper-small" in report
    assert NOT_DISTINGUISHABLE in report
    csv = pd.read_csv(tmp_path / "tables" / "corpus_by_backbone.csv")
    assert {"macro_f1_ci_low", "macro_f1_ci_high", "n_test_speakers", "significant_best", "tied"} <= set(csv.columns)
    assert "[" in (tmp_path / "tables" / "corpus_by_backbone.tex").read_text()


def test_cell_falls_back_to_std_without_a_finite_interval() -> None:
    assert Cell(50.0, 2.0, ci=(float("nan"), float("nan"))).markdown() == "50.0 ± 2.0"
    assert Cell(50.0, 2.0, ci=(45.0, 55.5), tied=True).markdown() == "50.0 [45.0, 55.5]†"
    assert Cell(50.0, 2.0, ci=(45.0, 55.5), bold=True).latex() == r"\textbf{50.0 [45.0, 55.5]}"


def test_probe_choice_per_backbone(tmp_path: Path) -> None:
    for corpus in ("cafe", "aesdd"):
        for probe, skill in (("linear", 0.9), ("nonlinear", 0.3), ("multilayer", 0.9)):
            write_record(tmp_path, make_record(corpus, "whisper-small", probe, 0, skill=skill, n_test=96,
                                               n_speakers=12), embeddings=False)
    runs = select_runs(load_runs(tmp_path).runs)
    frame = runs_frame(runs)
    probe_table, corpus_table = probe_by_backbone_table(frame), corpus_by_backbone_table(frame)
    found = apply_intervals(runs, probe_table, corpus_table, n_resamples=400)
    choice = found.probes
    assert set(choice.tied["whisper-small"]) == {"linear", "multilayer"} and choice.winner["whisper-small"] is None
    nonlinear = next(t for t in choice.tests if t["other"] == "nonlinear")
    assert nonlinear["p_holm"] < 0.05 and nonlinear["difference"] > 30
    line = next(x for x in found.markdown().splitlines() if x.startswith("Best probe per backbone"))
    assert NOT_DISTINGUISHABLE in line and "Linear" in line and "Multi-Layer" in line and "Non-Linear" not in line


def test_sides_on_different_splits_are_not_compared_and_the_report_says_so(tmp_path: Path) -> None:
    for model, n_test in (("whisper-small", 120), ("wav2vec2-base", 117)):  # a cache that skipped three clips
        for seed in range(2):
            write_record(tmp_path, make_record("cafe", model, "linear", seed, skill=0.7, n_test=n_test,
                                               n_speakers=12), embeddings=False)
    runs = select_runs(load_runs(tmp_path).runs)
    frame = runs_frame(runs)
    tables = probe_by_backbone_table(frame), corpus_by_backbone_table(frame)
    found = apply_intervals(runs, *tables, n_resamples=200)
    assert not found.table3.tests and len(found.table3.refused) == 1
    assert "cafe: " in found.table3.refused[0] and "different splits (117 vs 120" in found.table3.refused[0]
    assert "Not compared (" in found.markdown() and "not tested on the same clips" in found.markdown()
