"""Report figures: layer-weight heatmap data, relative-depth mapping, layer-wise curves, per-run figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.report.figures import layerwise_figures, layerwise_frame, plot_layer_panels
from probe.report.layer_weights import layer_weight_figures, layer_weights, relative_depth, to_relative_depth
from probe.report.load import ReportError, load_runs, read_run
from probe.report.run_plots import embedding_2d, roc_data, run_figures, run_folder
from tests.records_factory import make_record, peak_weights, write_record

MIN_BYTES = 5_000  # a figure with axes, labels and data is well above this in PNG and PDF


def one_hot(n: int, k: int) -> list[float]:
    w = [0.0] * n
    w[k] = 1.0
    return w


def test_relative_depth_of_13_and_25_states() -> None:
    assert relative_depth(13)[6] == pytest.approx(0.5) and relative_depth(25)[12] == pytest.approx(0.5)
    assert relative_depth(13)[0] == 0.0 and relative_depth(25)[-1] == 1.0
    assert relative_depth(25)[6] == pytest.approx(0.25)


def test_to_relative_depth_maps_states_onto_the_grid() -> None:
    middle_13, middle_25 = to_relative_depth(one_hot(13, 6)), to_relative_depth(one_hot(25, 12))
    assert len(middle_13) == 11
    np.testing.assert_allclose(middle_13, one_hot(11, 5))  # depth 0.5 is grid point 5
    np.testing.assert_allclose(middle_25, one_hot(11, 5))
    np.testing.assert_allclose(to_relative_depth(one_hot(13, 0)), one_hot(11, 0))
    np.testing.assert_allclose(to_relative_depth(one_hot(25, 24)), one_hot(11, 10))
    # state 1 of 13 sits at depth 1/12: 5/6 of the way from grid point 0 (depth 0) to grid point 1 (depth 0.1)
    np.testing.assert_allclose(to_relative_depth(one_hot(13, 1))[:2], [1 / 6, 5 / 6])
    # state 11 of 25 (depth 0.458) is between grid points 0.4 and 0.5 and keeps all of its weight
    assert to_relative_depth(one_hot(25, 11)).sum() == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    for n in (5, 13, 25, 33):
        w = rng.dirichlet(np.ones(n))
        assert to_relative_depth(w).sum() == pytest.approx(1.0)


def _multilayer(root: Path, corpus: str, model: str, seed: int, weights: list[float]) -> None:
    write_record(root, make_record(corpus, model, "multilayer", seed, layer_weights=weights))


def test_heatmap_rows_average_seeds_then_corpora(tmp_path: Path) -> None:
    # whisper-small (13 states): emodb seeds put all weight on 12 and on 0 (mean 0.5/0.5); cafe on 6
    _multilayer(tmp_path, "emodb", "whisper-small", 0, one_hot(13, 12))
    _multilayer(tmp_path, "emodb", "whisper-small", 1, one_hot(13, 0))
    _multilayer(tmp_path, "emodb", "whisper-small", 2, one_hot(13, 0))  # three seeds: 1/3 on 12, 2/3 on 0
    _multilayer(tmp_path, "cafe", "whisper-small", 0, one_hot(13, 6))
    _multilayer(tmp_path, "cafe", "wav2vec2-base", 0, peak_weights(13, 0.4))
    data = layer_weights(load_runs(tmp_path).runs)
    assert data is not None and data.axis == "layer"
    assert list(data.matrix.columns) == list(range(13))
    assert list(data.matrix.index) == ["wav2vec2-base", "whisper-small"]
    np.testing.assert_allclose(data.matrix.sum(axis=1), 1.0)
    row = data.matrix.loc["whisper-small"]
    assert row[0] == pytest.approx(1 / 3) and row[12] == pytest.approx(1 / 6) and row[6] == pytest.approx(0.5)
    assert data.n_corpora == {"wav2vec2-base": 1, "whisper-small": 2}
    assert data.n_runs["whisper-small"] == 4
    only_cafe = layer_weights(load_runs(tmp_path).runs, corpus="cafe")
    assert only_cafe.matrix.loc["whisper-small", 6] == pytest.approx(1.0)


def test_heatmap_uses_relative_depth_when_layer_counts_differ(tmp_path: Path) -> None:
    _multilayer(tmp_path, "emodb", "whisper-small", 0, one_hot(13, 6))
    _multilayer(tmp_path, "emodb", "whisper-medium", 0, one_hot(25, 12))
    _multilayer(tmp_path, "cafe", "whisper-medium", 0, peak_weights(25, 0.8, noise=0.5))
    data = layer_weights(load_runs(tmp_path).runs)
    assert data.axis == "depth"
    np.testing.assert_allclose(list(data.matrix.columns), np.linspace(0, 1, 11))
    np.testing.assert_allclose(data.matrix.sum(axis=1), 1.0)
    assert data.matrix.loc["whisper-small", 0.5] == pytest.approx(1.0)
    assert data.matrix.loc["whisper-medium", 0.5] >= 0.5  # emodb's one-hot at depth 0.5, averaged with cafe
    assert data.peaks()["whisper-small"] == pytest.approx(0.5)


def test_heatmap_rejects_inconsistent_weight_counts(tmp_path: Path) -> None:
    _multilayer(tmp_path, "emodb", "whisper-small", 0, one_hot(13, 6))
    _multilayer(tmp_path, "emodb", "whisper-small", 1, one_hot(12, 6))
    with pytest.raises(ReportError, match="disagree on the number of layer weights"):
        layer_weights(load_runs(tmp_path).runs)


def test_layerwise_frame(tmp_path: Path) -> None:
    curve = [30.0, 50.0, 45.0, 40.0, 35.0]
    write_record(tmp_path, make_record("emodb", "whisper-tiny.en", "layerwise", 0, layerwise_f1=curve))
    frame = layerwise_frame(load_runs(tmp_path).runs)
    assert list(frame["macro_f1"]) == curve
    np.testing.assert_allclose(frame["depth"], [0, 0.25, 0.5, 0.75, 1.0])
    assert set(frame["best_layer"]) == {1}


def _sizes_ok(paths: list[Path], formats: tuple[str, ...]) -> None:
    assert paths and {p.suffix[1:] for p in paths} == set(formats)
    for path in paths:
        assert path.is_file() and path.stat().st_size > MIN_BYTES, path


def test_aggregate_figures_are_written(tmp_path: Path) -> None:
    for corpus in ("emodb", "cafe"):
        for seed in (0, 1):
            for model, n, peak in (("whisper-small", 13, 0.8), ("wav2vec2-large", 25, 0.4)):
                _multilayer(tmp_path, corpus, model, seed, peak_weights(n, peak, noise=0.3, seed=seed))
                curve = list(60 - 20 * (np.linspace(0, 1, n) - peak) ** 2 + seed)
                write_record(tmp_path, make_record(corpus, model, "layerwise", seed, layerwise_f1=curve))
    runs = load_runs(tmp_path).runs
    figures = tmp_path / "figures"
    weights = layer_weight_figures(runs, figures, ("png", "pdf"))
    _sizes_ok(weights, ("png", "pdf"))
    assert {p.relative_to(figures).as_posix() for p in weights} == {
        "layer_weights.png", "layer_weights.pdf", "layer_weights/emodb.png", "layer_weights/emodb.pdf",
        "layer_weights/cafe.png", "layer_weights/cafe.pdf",
    }
    curves = layerwise_figures(runs, figures, ("png", "pdf"))
    _sizes_ok(curves, ("png", "pdf"))
    assert {p.name for p in curves} == {"layerwise_curves.png", "layerwise_curves.pdf", "layerwise_depth.png",
                                        "layerwise_depth.pdf"}
    assert layer_weight_figures([r for r in runs if r.probe != "multilayer"], figures) == []


def test_run_figures_are_written(tmp_path: Path) -> None:
    path = write_record(tmp_path, make_record("cafe", "whisper-small", "linear", 3, skill=0.7))
    run = read_run(path)
    paths = run_figures(run, tmp_path / "figures", ("png", "pdf"))
    _sizes_ok(paths, ("png", "pdf"))
    folder = run_folder(run, tmp_path / "figures")
    assert folder == tmp_path / "figures" / "runs" / "cafe" / "whisper-small" / "linear-holdout-all-seed3"
    assert {p.stem for p in paths} == {"confusion", "per_class_f1", "roc", "embedding"}


def test_run_figures_without_sidecar_skip_the_embedding_map(tmp_path: Path) -> None:
    path = write_record(tmp_path, make_record("emodb", "whisper-small", "linear", 0), embeddings=False)
    paths = run_figures(read_run(path), tmp_path / "figures", ("png",))
    assert {p.stem for p in paths} == {"confusion", "per_class_f1", "roc"}


def test_roc_of_perfect_scores_has_auc_one(tmp_path: Path) -> None:
    record = make_record("eyase", "whisper-small", "linear", 0, skill=1.0)
    classes = record["classes"]
    record["predictions"]["proba"] = [[1.0 if c == t else 0.0 for c in classes] for t in record["predictions"]["true"]]
    curves = roc_data(read_run(write_record(tmp_path, record)))
    assert set(curves) == set(classes)
    assert all(area == pytest.approx(1.0) for _, _, area in curves.values())


def test_embedding_2d_uses_pca_for_few_points_and_tsne_for_many() -> None:
    rng = np.random.default_rng(0)
    coords, method = embedding_2d(rng.normal(size=(40, 16)))
    assert method == "PCA" and coords.shape == (40, 2)
    coords, method = embedding_2d(rng.normal(size=(120, 16)))
    assert method == "t-SNE" and coords.shape == (120, 2)
    with pytest.raises(ValueError, match="method"):
        embedding_2d(rng.normal(size=(10, 4)), method="umap")


def test_run_figures_tolerate_absent_classes_and_empty_embeddings(tmp_path: Path) -> None:
    record = make_record("emodb", "whisper-small", "linear", 0)
    record["metrics"]["test"]["per_class_f1"]["boredom"] = None  # neither in the test set nor predicted
    path = write_record(tmp_path, record)
    np.savez(path.with_suffix(".npz"), ids=np.array(record["predictions"]["id"]),
             embeddings=np.zeros((len(record["predictions"]["id"]), 0), dtype=np.float32))
    paths = run_figures(read_run(path), tmp_path / "figures", ("png",))
    assert {p.stem for p in paths} == {"confusion", "per_class_f1", "roc"}


def test_depth_grid_is_no_finer_than_the_shallowest_model(tmp_path: Path) -> None:
    _multilayer(tmp_path, "emodb", "whisper-tiny.en", 0, [0.2] * 5)
    _multilayer(tmp_path, "emodb", "wav2vec2-base", 0, [1 / 13] * 13)
    data = layer_weights(load_runs(tmp_path).runs)
    assert data.axis == "depth" and list(data.matrix.columns) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert (data.matrix.to_numpy() > 0).all()  # uniform weights leave no empty bin for either model
    np.testing.assert_allclose(data.matrix.sum(axis=1), 1.0)


def test_uniform_layer_weights_draw_a_flat_depth_row(tmp_path: Path) -> None:
    _multilayer(tmp_path, "emodb", "wav2vec2-base", 0, [1 / 13] * 13)
    _multilayer(tmp_path, "emodb", "wav2vec2-large", 0, [1 / 25] * 25)
    peaked = [0.0] * 25
    peaked[12] = 1.0
    _multilayer(tmp_path, "cafe", "xls-r-300m", 0, peaked)
    data = layer_weights(load_runs(tmp_path).runs)
    np.testing.assert_allclose(data.matrix.loc["wav2vec2-base"], 1 / 11, atol=1e-9)
    np.testing.assert_allclose(data.matrix.loc["wav2vec2-large"], 1 / 11, atol=1e-9)
    assert data.matrix.loc["xls-r-300m"].idxmax() == 0.5 and data.matrix.loc["xls-r-300m"].max() == pytest.approx(1.0)


def test_layer_panels_draw_each_models_corpora_and_one_legend_for_all(tmp_path: Path) -> None:
    """The panel grid shared by the layer-wise curves and their bootstrap bands: a corpus present only in a later
    panel still gets its legend entry and its own colour."""
    rows = [{"model": m, "languages": "en", "corpus": c, "layer": layer, "mean": 50.0 + layer}
            for m, corpora in (("whisper-tiny", ["a"]), ("wav2vec2-base", ["a", "b"])) for c in corpora
            for layer in range(3)]
    frame = pd.DataFrame(rows)
    calls: list[tuple[str, str, int]] = []
    figures = []

    def draw(ax, part, colour, i) -> None:  # noqa: ANN001
        calls.append((part["model"].iloc[0], part["corpus"].iloc[0], i))
        ax.plot(part["layer"], part["mean"], color=colour, label=part["corpus"].iloc[0])
        figures.append(ax.figure)

    paths = plot_layer_panels(frame, tmp_path / "panels", ("png",), draw, "title here")
    assert sorted(calls) == [("wav2vec2-base", "a", 0), ("wav2vec2-base", "b", 1), ("whisper-tiny", "a", 0)]
    assert paths == [tmp_path / "panels.png"] and paths[0].stat().st_size > MIN_BYTES
    fig = figures[0]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    assert sorted(ax.get_title(loc="left") for ax in fig.axes if ax.get_visible()) == [
        "wav2vec2-base (English-only)", "whisper-tiny (English-only)"]
    assert all(ax.get_xlim() == (-0.3, 2.3) for ax in fig.axes if ax.get_visible())
