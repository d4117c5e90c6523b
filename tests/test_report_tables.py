"""Report tables: averages over corpora, best-probe selection, standard deviations, comparison with the paper."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.report.build import write_report

from probe.report.load import NoRecordsError, ReportError, load_runs, runs_frame, select_runs
from probe.report.reference import load_reference
from probe.report.render import latex_escape, to_latex, to_markdown
from probe.report.tables import (
    comparison,
    corpus_by_backbone,
    corpus_by_backbone_table,
    corpus_means,
    probe_by_backbone,
    probe_by_backbone_table,
)
from tests.records_factory import make_record, write_record

# (corpus, model, probe) -> test macro-F1 of seeds 0, 1, …
KNOWN: dict[tuple[str, str, str], list[float]] = {
    ("emodb", "wav2vec2-base", "linear"): [50.0, 60.0, 70.0],
    ("cafe", "wav2vec2-base", "linear"): [40.0, 40.0],
    ("emodb", "wav2vec2-base", "multilayer"): [65.0, 75.0],
    ("cafe", "wav2vec2-base", "multilayer"): [32.0],
    ("emodb", "whisper-small", "linear"): [80.0],
    ("cafe", "whisper-small", "linear"): [20.0],
}


def _write(root: Path, known: dict[tuple[str, str, str], list[float]], **kwargs) -> None:
    for (corpus, model, probe), scores in known.items():
        for seed, f1 in enumerate(scores):
            write_record(root, make_record(corpus, model, probe, seed, macro_f1=f1, **kwargs))


@pytest.fixture
def frame(tmp_path: Path):
    _write(tmp_path, KNOWN)
    return runs_frame(select_runs(load_runs(tmp_path).runs))


def _row(table, **keys):
    mask = np.ones(len(table), dtype=bool)
    for key, value in keys.items():
        mask &= (table[key] == value).to_numpy()
    assert mask.sum() == 1, keys
    return table[mask].iloc[0]


def test_corpus_means_average_seeds_first(frame) -> None:
    means = corpus_means(frame)
    row = _row(means, corpus="emodb", model="wav2vec2-base", probe="linear")
    assert row["macro_f1_mean"] == pytest.approx(60.0)
    assert row["macro_f1_std"] == pytest.approx(10.0)  # ddof=1 over 50, 60, 70
    assert row["n_runs"] == 3
    single = _row(means, corpus="cafe", model="wav2vec2-base", probe="multilayer")
    assert single["macro_f1_std"] == 0.0 and single["n_runs"] == 1


def test_probe_by_backbone_averages_corpora_and_reports_both_stds(frame) -> None:
    table = probe_by_backbone(frame)
    linear = _row(table, model="wav2vec2-base", probe="linear")
    assert linear["macro_f1_mean"] == pytest.approx(50.0)  # (60 + 40) / 2, not the mean of the 5 runs (52)
    assert linear["macro_f1_std"] == pytest.approx(math.sqrt(200.0))  # std of [60, 40] across corpora
    assert linear["seed_std"] == pytest.approx(5.0)  # mean of the seed stds 10 and 0
    assert linear["n_corpora"] == 2 and linear["n_runs"] == 5
    multi = _row(table, model="wav2vec2-base", probe="multilayer")
    assert multi["macro_f1_mean"] == pytest.approx(51.0)  # (70 + 32) / 2
    assert list(table["model"].unique()) == ["wav2vec2-base", "whisper-small"]  # English-only first


def test_best_probe_per_cell_and_best_backbone(frame) -> None:
    table = corpus_by_backbone(frame, best_probe="corpus")
    emodb = _row(table, corpus="emodb", model="wav2vec2-base")
    assert emodb["probe"] == "multilayer" and emodb["macro_f1_mean"] == pytest.approx(70.0)
    assert emodb["macro_f1_std"] == pytest.approx(np.std([65.0, 75.0], ddof=1))
    cafe = _row(table, corpus="cafe", model="wav2vec2-base")
    assert cafe["probe"] == "linear" and cafe["macro_f1_mean"] == pytest.approx(40.0)
    assert bool(_row(table, corpus="emodb", model="whisper-small")["best"])  # 80 > 70
    assert not bool(emodb["best"])
    assert bool(cafe["best"])  # 40 > 20


def test_best_probe_per_backbone_as_in_the_paper(frame) -> None:
    table = corpus_by_backbone(frame, best_probe="backbone")
    rows = table[table["model"] == "wav2vec2-base"]
    assert set(rows["probe"]) == {"multilayer"}  # 51 on average beats 50
    assert _row(table, corpus="cafe", model="wav2vec2-base")["macro_f1_mean"] == pytest.approx(32.0)
    with pytest.raises(ValueError, match="best_probe"):
        corpus_by_backbone(frame, best_probe="seed")


def test_ties_go_to_the_simpler_probe(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-small", "multilayer"): [55.0], ("emodb", "whisper-small", "linear"): [55.0]})
    frame = runs_frame(load_runs(tmp_path).runs)
    assert corpus_by_backbone(frame, best_probe="corpus").iloc[0]["probe"] == "linear"


def test_table3_defaults_to_one_probe_per_backbone(frame) -> None:
    """As in the paper: the default picks the probe with the best Table 2 average for each backbone."""
    default = corpus_by_backbone(frame)
    assert default.groupby("model")["probe"].nunique().max() == 1
    pd.testing.assert_frame_equal(default, corpus_by_backbone(frame, best_probe="backbone"))
    assert "best Table 2 average" in corpus_by_backbone_table(frame).grid.caption
    assert "selected on test" in corpus_by_backbone_table(frame, best_probe="corpus").grid.caption
    assert "training preset paper" in corpus_by_backbone_table(frame).grid.caption


def test_markdown_and_latex_render_marks_and_groups(frame) -> None:
    table = corpus_by_backbone_table(frame, best_probe="corpus")
    md = to_markdown(table.grid)
    assert "**80.0 ± 0.0**<sup>L</sup>" in md  # best backbone of emodb, its winning probe marked
    assert "70.0 ± 7.1<sup>ML</sup>" in md
    assert "*English-only*" in md and "*Multilingual*" in md
    tex = to_latex(table.grid)
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\multicolumn{1}{c}{English-only}" in tex and r"\cmidrule(lr){3-3}" in tex
    assert r"\textbf{80.0 $\pm$ 0.0}\textsuperscript{L}" in tex
    assert "wav2vec2-base" in tex and "seed_std" not in to_latex(probe_by_backbone_table(frame).grid)
    assert r"seed\_std" in to_latex(probe_by_backbone_table(frame).grid)


def test_latex_escape() -> None:
    assert latex_escape("a_b & 50% #1 {x} ~ ^ \\ ±") == (
        r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{} $\pm$"
    )


def test_partial_coverage_is_marked(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [60.0], ("cafe", "whisper-small", "linear"): [40.0],
                      ("emodb", "whisper-small", "nonlinear"): [50.0]})
    table = probe_by_backbone_table(runs_frame(load_runs(tmp_path).runs))
    assert "<sup>1/2</sup>" in to_markdown(table.grid)
    assert "averaged over only k of the n corpora" in table.grid.caption


def test_compare_paper_puts_published_values_beside_ours(frame, tmp_path: Path) -> None:
    comp = comparison(load_reference("paper"), sorted(frame["corpus"].unique()), sorted(frame["model"].unique()))
    assert comp.notes == []
    t2 = probe_by_backbone_table(frame, comp)
    assert _row(t2.data, model="wav2vec2-base", probe="linear")["paper_macro_f1"] == pytest.approx(47.87)
    assert _row(t2.data, model="whisper-small", probe="linear")["paper_macro_f1"] == pytest.approx(60.87)
    assert "**50.0 ± 14.1** (47.87)" in to_markdown(t2.grid)  # tied with whisper-small: both bold
    t3 = corpus_by_backbone_table(frame, comp)
    assert _row(t3.data, corpus="emodb", model="wav2vec2-base")["paper_macro_f1"] == pytest.approx(81.75)
    assert _row(t3.data, corpus="cafe", model="whisper-small")["paper_macro_f1"] == pytest.approx(66.71)
    md = to_markdown(t3.grid)
    assert "(81.75)" in md and "AST (paper)" in md and "46.11" in md  # emodb's AST baseline
    paths = t3.write(tmp_path / "tables")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"] and all(p.stat().st_size > 200 for p in paths)
    assert "paper_macro_f1" in paths[0].read_text().splitlines()[0]


def test_compare_paper_only_for_matching_names(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-tiny.en", "linear"): [40.0], ("emodb", "whisper-small", "attention"): [50.0]})
    frame = runs_frame(load_runs(tmp_path).runs)
    comp = comparison(load_reference("paper"), ["emodb"], sorted(frame["model"].unique()))
    t2 = probe_by_backbone_table(frame, comp)
    assert t2.data["paper_macro_f1"].isna().all()  # no tiny.en in the paper; no attention probe in the paper
    t3 = corpus_by_backbone_table(frame, comp)
    assert math.isnan(_row(t3.data, model="whisper-tiny.en")["paper_macro_f1"])
    assert _row(t3.data, model="whisper-small")["paper_macro_f1"] == pytest.approx(87.21)


def test_compare_on_synthetic_corpus_explains_why_nothing_matches(tmp_path: Path) -> None:
    _write(tmp_path, {("synthetic", "whisper-small", "linear"): [70.0]})
    frame = runs_frame(load_runs(tmp_path).runs)
    comp = comparison(load_reference("paper"), ["synthetic"], ["whisper-small"])
    assert comp.notes and "none of the corpora" in comp.notes[0] and "synthetic" in comp.notes[0]
    t2 = probe_by_backbone_table(frame, comp)
    t3 = corpus_by_backbone_table(frame, comp)
    assert t2.data["paper_macro_f1"].isna().all() and t3.data["paper_macro_f1"].isna().all()
    assert "(60.87)" not in to_markdown(t2.grid) and "AST" not in to_markdown(t3.grid)
    with pytest.raises(ValueError, match="unknown reference"):
        load_reference("nature2030")


def test_no_records_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NoRecordsError, match="no results folder"):
        load_runs(tmp_path / "missing")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "notes.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(NoRecordsError, match="no run records.*1 JSON files are not run records"):
        load_runs(tmp_path)


def test_filters_and_skipped_files(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [60.0]})
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [30.0]}, class_set="4")
    (tmp_path / "runs" / "broken.json").write_text("{not json")
    found = load_runs(tmp_path)
    assert len(found.runs) == 2 and len(found.skipped) == 1
    chosen = select_runs(found.runs, "holdout", "4")
    assert [r.macro_f1 for r in chosen] == [30.0] and chosen[0].class_set == "4"
    with pytest.raises(ReportError, match=r"available: holdout-4 \(paper\), holdout-all \(paper\)"):
        select_runs(found.runs, "kfold", "all")


def test_presets_and_configurations_are_never_averaged(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [60.0, 62.0]})
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [90.0, 92.0]}, preset="standardized")
    other = make_record("emodb", "whisper-small", "linear", 0, macro_f1=10.0)
    other["config"]["epochs"] = 5
    other["overrides"] = other["config"]["overrides"] = ["epochs"]
    other["config_id"] = "0ther1d0"
    write_record(tmp_path, other)
    runs = load_runs(tmp_path).runs
    notes: list[str] = []
    paper = select_runs(runs, preset="paper", notes=notes)
    assert sorted(r.macro_f1 for r in paper) == [60.0, 62.0]  # the 2-run configuration; the 1-run one left out
    assert len(notes) == 1 and "0ther1d0" in notes[0] and "never averaging" in notes[0]
    assert sorted(r.macro_f1 for r in select_runs(runs, preset="standardized")) == [90.0, 92.0]
    summary = write_report(tmp_path, tmp_path / "std", "paper", preset="standardized", formats="png",
                           best_run_figures=False)
    assert any("only beside runs of the paper preset" in n for n in summary.notes)
    text = (tmp_path / "std" / "REPORT.md").read_text()
    assert "training preset **standardized**" in text and "(Table 2)" not in text


def test_single_corpus_shows_the_run_to_run_spread(tmp_path: Path) -> None:
    _write(tmp_path, {("emodb", "whisper-small", "linear"): [50.0, 60.0, 70.0]})
    table = probe_by_backbone_table(runs_frame(load_runs(tmp_path).runs))
    assert "60.0 ± 10.0" in to_markdown(table.grid) and "on one corpus" in table.grid.caption


def test_kfold_runs_average_folds_and_seeds(tmp_path: Path) -> None:
    for seed in (0, 1):
        for fold, f1 in enumerate((40.0, 60.0)):
            record = make_record("emodb", "whisper-small", "linear", seed, macro_f1=f1 + seed, protocol="kfold",
                                 fold=fold, n_folds=2)
            path = write_record(tmp_path, record)
            assert path.name == f"seed{seed}-fold{fold}.json"
    runs = select_runs(load_runs(tmp_path).runs, "kfold", "all")
    row = corpus_by_backbone(runs_frame(runs)).iloc[0]
    assert row["n_runs"] == 4 and row["macro_f1_mean"] == pytest.approx(50.5)
    assert row["macro_f1_std"] == pytest.approx(np.std([40, 60, 41, 61], ddof=1))
