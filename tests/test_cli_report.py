"""`probe report` through typer's CliRunner, and the `write_report` API."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from probe.cli import app
from probe.report import NoRecordsError, write_report
from probe.results.leaderboard import write_leaderboard
from tests.records_factory import make_record, write_record, write_results

runner = CliRunner()


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_results(root, corpora=("emodb", "cafe"), models=("wav2vec2-base", "whisper-medium"),
                  probes=("linear", "multilayer", "layerwise"), seeds=(0, 1))
    return root


def test_report_writes_tables_figures_and_report(results: Path) -> None:
    result = runner.invoke(app, ["report", "--results", str(results), "--compare", "paper", "--formats", "png"])
    assert result.exit_code == 0, result.output
    assert "REPORT.md" in result.output
    for name in ("probe_by_backbone", "corpus_by_backbone"):
        for ext in ("csv", "md", "tex"):
            assert (results / "tables" / f"{name}.{ext}").stat().st_size > 200
    figures = results / "figures"
    assert (figures / "layer_weights.png").stat().st_size > 5_000
    assert (figures / "layer_weights" / "emodb.png").is_file()
    assert (figures / "layerwise_curves.png").is_file() and (figures / "layerwise_depth.png").is_file()
    run_pngs = sorted((figures / "runs").rglob("*.png"))
    assert len(run_pngs) == 2 * 2 * 4  # best run of each (corpus, backbone): four figures each
    assert not list(figures.rglob("*.pdf"))
    report = (results / "REPORT.md").read_text()
    for link in ("tables/probe_by_backbone.md", "tables/corpus_by_backbone.tex", "figures/layer_weights.png",
                 "figures/layerwise_curves.png", "figures/runs/emodb/"):
        assert link in report
    assert "(81.75)" in report  # emodb × wav2vec2-base, published
    assert "Corpora of real recordings: cafe, emodb" in report
    assert "facebook/wav2vec2-base" in report  # the checkpoint, from the caches' identity


def test_api_returns_the_files_it_wrote(results: Path, tmp_path: Path) -> None:
    write_leaderboard(results)  # as `probe run` leaves it
    out = tmp_path / "elsewhere"
    summary = write_report(results, out, formats="pdf", best_run_figures=False)
    assert summary.report == out / "REPORT.md" and summary.report.is_file()
    assert all(p.is_file() and out in p.parents for p in summary.files)
    assert {p.suffix for p in summary.figures} == {".pdf"}
    assert len(summary.tables) == 7 and summary.n_runs == 2 * 2 * 3 * 2  # 2 tables × 3 formats, layerwise_intervals.csv
    assert not (results / "REPORT.md").exists()
    assert "[leaderboard](../results/leaderboard.csv)" in summary.report.read_text()


def test_synthetic_demo_with_compare_prints_a_note(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_results(root, corpora=("synthetic",), models=("whisper-tiny.en",), probes=("linear", "multilayer"),
                  seeds=(0,), weights="ct2")
    result = runner.invoke(app, ["report", "--results", str(root), "--compare", "paper", "--formats", "png",
                                 "--no-run-figures"])
    assert result.exit_code == 0, result.output
    assert "note:" in result.output and "synthetic" in result.output
    report = (root / "REPORT.md").read_text()
    assert "Synthetic speech" in report and "converted from CTranslate2" in report
    assert not (root / "figures" / "runs").exists()


def test_single_run_figures(results: Path, tmp_path: Path) -> None:
    record = next((results / "runs" / "cafe" / "whisper-medium" / "linear").rglob("seed1.json"))
    out = tmp_path / "one"
    result = runner.invoke(app, ["report", "--run", str(record), "--out", str(out), "--formats", "png,pdf"])
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (out / "figures" / "runs").rglob("*.*"))
    assert written == sorted(f"{s}.{e}" for s in ("confusion", "embedding", "per_class_f1", "roc")
                             for e in ("png", "pdf"))
    assert not (out / "REPORT.md").exists()


def test_no_records_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "results" / "runs").mkdir(parents=True)
    result = runner.invoke(app, ["report", "--results", str(tmp_path / "results")])
    assert result.exit_code == 1
    assert "no run records" in result.output and "probe run" in result.output
    with pytest.raises(NoRecordsError):
        write_report(tmp_path / "nothing")


def test_filters_and_bad_options(tmp_path: Path) -> None:
    root = tmp_path / "results"
    write_record(root, make_record("emodb", "whisper-small", "linear", 0, macro_f1=60.0))
    result = runner.invoke(app, ["report", "--results", str(root), "--protocol", "kfold"])
    assert result.exit_code == 1 and "available: holdout-all" in result.output
    result = runner.invoke(app, ["report", "--results", str(root), "--formats", "png,docx"])
    assert result.exit_code == 2 and "figure formats" in result.output
    result = runner.invoke(app, ["report", "--results", str(root), "--compare", "nature"])
    assert result.exit_code == 2 and "unknown reference" in result.output
    result = runner.invoke(app, ["report", "--results", str(root), "--best-probe", "seed"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["report", "--run", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "no run record" in result.output
