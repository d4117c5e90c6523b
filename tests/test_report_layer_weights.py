"""The report on layer weights (issue 19): flagged rows marked in the heatmap and never a finding in REPORT.md, the
movement bound in one sentence, the --layer-lr heatmap beside the paper's, and the best-layer set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from probe.report import write_report
from probe.report.layer_weights import _depth_density, layer_weights
from probe.report.load import load_runs, select_runs
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.presets import make_config
from tests.probe_caches import make_cache, one_thread  # noqa: F401


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report-lw")
    make_cache(root / "features" / "synth" / "whisper-tiny.h5", n_states=5, dim=8, per_label=3, planted=(2,))
    paper = make_config("paper", device="cpu", epochs=8)
    summary = run_all(RunJob(root / "features", root / "results", seeds=2, config=paper),
                      RunSelection(probes="multilayer,layerwise"))
    assert summary.count("trained") == 4
    raised = make_config("paper", device="cpu", epochs=8, layer_lr=0.05)
    assert run_all(RunJob(root / "features", root / "results", seeds=2, config=raised),
                   RunSelection(probes="multilayer")).count(
        "trained") == 2
    write_report(root / "results", root / "results", formats=("png",), best_run_figures=False)
    return root / "results"


def test_flagged_weights_are_marked_and_not_a_finding(results: Path) -> None:
    report = (results / "REPORT.md").read_text()
    paper_section = report.split("### Multi-Layer layer weights", 2)[1]
    assert "whisper-tiny are uniform by construction, not a finding" in paper_section
    assert "no logit moved more than" in paper_section  # the movement bound, in one sentence
    assert "Peak weight" not in paper_section.split("### Multi-Layer layer weights with a layer learning rate")[0]
    assert "blank: a state not in the mix" in paper_section
    assert (results / "figures" / "layer_weights.png").is_file()
    runs = select_runs(load_runs(results).runs, "holdout", "all", "paper")
    data = layer_weights(runs)
    assert data is not None and data.is_flagged("whisper-tiny") and data.flagged["whisper-tiny"] == 2
    assert np.isnan(data.matrix.iloc[0, 0]) and data.matrix.columns.tolist() == [0, 1, 2, 3, 4]


def test_the_layer_lr_heatmap_stands_beside_it(results: Path) -> None:
    report = (results / "REPORT.md").read_text()
    section = report.split("### Multi-Layer layer weights with a layer learning rate (--layer-lr 0.05)")[1]
    assert "Peak weight: whisper-tiny at layer" in section and "uniform by construction" not in section
    assert "figures/layer_weights_layer_lr.png" in section
    assert "(single lr: " in section and "best layer of the layer-wise curve: " in section
    assert (results / "figures" / "layer_weights_layer_lr.png").is_file()


def test_the_report_names_the_best_layer_set(results: Path) -> None:
    report = (results / "REPORT.md").read_text()
    assert "Layers not significantly worse than the best one" in report
    assert "whisper-tiny on synth: best layer" in report


def test_depth_density_ignores_states_out_of_the_mix() -> None:
    """A uniform mix over states 1..4 of 5 is a flat row wherever the mixed states reach, NaN where only the
    left-out state 0 would."""
    row = _depth_density([np.nan, 0.25, 0.25, 0.25, 0.25], 5)
    assert np.isnan(row[0]) and np.allclose(row[1:], 0.25)
