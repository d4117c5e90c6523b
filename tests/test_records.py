"""Run records: schema round trip, atomic writes, skipping on the same config hash, ``force``, the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import probe.results.records as records_module
from probe.results.leaderboard import (
    LEADERBOARD_COLUMNS, build_leaderboard, filter_leaderboard, sort_leaderboard, write_leaderboard,
)
from probe.results.records import (
    CURVE_KEYS, LAYERWISE_KEYS, METRIC_KEYS, PREDICTION_KEYS, RECORD_KEYS, RECORD_SCHEMA, SPLIT_KEYS, config_hash,
    config_id, iter_records, read_record, record_path, sidecar_path, write_record,
)
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.config import TrainConfig
from tests.probe_caches import make_cache, one_thread  # noqa: F401

FAST = TrainConfig(epochs=2, batch_size=16)


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture
def features(tmp_path: Path) -> Path:
    make_cache(tmp_path / "features" / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    return tmp_path / "features"


def test_record_paths() -> None:
    assert record_path("results", "emodb", "whisper-small", "linear", "holdout", "all", 2) == Path(
        "results/runs/emodb/whisper-small/linear/holdout-all/seed2.json")
    assert record_path("r", "cafe", "microsoft/wavlm-base", "multilayer", "kfold", "4", 0, 3) == Path(
        "r/runs/cafe/microsoft--wavlm-base/multilayer/kfold-4/seed0-fold3.json")
    assert sidecar_path("r/x/seed0.json") == Path("r/x/seed0.npz")


def test_every_schema_key_round_trips(features: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    summary = run_all(RunJob(features, results, seeds=1, config=FAST), RunSelection(probes="all"))
    assert summary.count("trained") == 5
    for outcome in summary.outcomes:
        path = Path(outcome.spec.path)
        record = read_record(path)
        assert list(record)[: len(RECORD_KEYS)] == list(RECORD_KEYS)
        assert record == json.loads(path.read_text())
        assert record["schema"] == RECORD_SCHEMA and record["probe"] == outcome.spec.probe
        assert (record["protocol"], record["fold"], record["n_folds"], record["seed"]) == ("holdout", 0, 1, 0)
        assert record["classes"] == ["anger", "happiness", "neutral", "sadness"]
        assert set(SPLIT_KEYS) <= set(record["split"])
        assert record["split"]["n_train"] + record["split"]["n_val"] + record["split"]["n_test"] == 64
        for part in ("test", "val"):
            assert set(METRIC_KEYS) <= set(record["metrics"][part])
            assert 0.0 <= record["metrics"][part]["macro_f1"] <= 100.0
            assert set(record["metrics"][part]["per_class_f1"]) == set(record["classes"])
            assert np.asarray(record["metrics"][part]["confusion"]).shape == (4, 4)
        assert 1 <= record["metrics"]["best_epoch"] <= 2
        assert set(CURVE_KEYS) <= set(record["curves"]) and record["curves"]["epoch"] == [1, 2]
        assert set(PREDICTION_KEYS) <= set(record["predictions"])
        n_test = record["split"]["n_test"]
        assert len(record["predictions"]["id"]) == n_test
        assert np.allclose(np.asarray(record["predictions"]["proba"]).sum(1), 1.0, atol=1e-4)
        for key in ("optimizer", "lr", "weight_decay", "betas", "eps", "epochs", "batch_size", "hidden", "dropout",
                    "layer", "selection", "device", "standardize"):
            assert key in record["config"]
        assert record["cache"]["model"] == "whisper-tiny" and record["cache"]["file"].endswith("whisper-tiny.h5")
        assert record["config_hash"] == config_hash(record["config"], record["split"]["hash"], record["cache"])
        assert record["layer_weights"] is None or len(record["layer_weights"]) == 2  # states 1, 2 (issue 19: eq. 4)
        assert (record["layer_weights"] is not None) == (record["probe"] == "multilayer")
        assert (record["layerwise"] is not None) == (record["probe"] == "layerwise")
        if record["layerwise"]:
            assert set(LAYERWISE_KEYS) <= set(record["layerwise"])
        with np.load(sidecar_path(path)) as side:
            assert side["ids"].tolist() == record["predictions"]["id"]
            width = 128 if record["probe"] == "attention" else 256
            assert side["embeddings"].shape == (n_test, width) and side["embeddings"].dtype == np.float32


def test_same_config_hash_is_skipped_and_force_redoes(features: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = run_all(RunJob(features, results, seeds=2, config=FAST), RunSelection(probes="linear"))
    assert first.count("trained") == 2
    stamps = {o.spec.path: Path(o.spec.path).stat().st_mtime_ns for o in first.outcomes}
    again = run_all(RunJob(features, results, seeds=2, config=FAST), RunSelection(probes="linear"))
    assert again.count("skipped") == 2 and again.count("trained") == 0
    assert all(Path(p).stat().st_mtime_ns == t for p, t in stamps.items())
    forced = run_all(RunJob(features, results, seeds=2, config=FAST, force=True), RunSelection(probes="linear"))
    assert forced.count("trained") == 2
    changed = run_all(RunJob(features, results, seeds=2, config=TrainConfig(epochs=3, batch_size=16)),
                      RunSelection(probes="linear"))
    assert changed.count("trained") == 2
    # another configuration goes to its own folder: the first records are kept, never overwritten or mixed
    old = read_record(first.outcomes[0].spec.path)
    assert old["config"]["epochs"] == 2
    new = read_record(changed.outcomes[0].spec.path)
    assert new["config"]["epochs"] == 3 and new["overrides"] == ["batch_size", "epochs"]
    assert new["config_id"] != old["config_id"] and new["preset"] == old["preset"] == "paper"
    assert any("1 other configuration" in n for n in changed.notes)
    board = build_leaderboard(r for _, r in iter_records(results))
    linear = board[board["probe"] == "linear"]
    assert len(linear) == 2 and sorted(linear["n_runs"]) == [2, 2]
    assert set(linear["config_id"]) == {new["config_id"], old["config_id"]}


def test_a_record_of_another_split_is_kept_not_overwritten(features: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = run_all(RunJob(features, results, seeds=1, config=FAST), RunSelection(probes="linear"))
    path = first.outcomes[0].spec.path
    record = read_record(path)
    record["config_hash"] = "0" * 16  # as if made on another split of the same configuration
    path.write_text(json.dumps(record))
    again = run_all(RunJob(features, results, seeds=1, config=FAST), RunSelection(probes="linear"))
    assert again.count("conflict") == 1 and again.count("trained") == 0
    assert "--force" in again.outcomes[0].message
    assert read_record(path)["config_hash"] == "0" * 16
    assert run_all(RunJob(features, results, seeds=1, config=FAST, force=True),
                   RunSelection(probes="linear")).count("trained") == 1


def test_config_hash_ignores_device_index_file_and_creation_but_not_settings() -> None:
    config = {"lr": 5e-4, "device": "cuda:0", "data": "memory"}
    cache = {"file": "a/x.h5", "checkpoint": "small", "content_hash": "c1", "created": "2026-01-01"}
    base = config_hash(config, "s1", cache)
    moved = {**cache, "file": "b/x.h5", "created": "2026-02-02"}  # identical content, re-extracted elsewhere
    assert base == config_hash({**config, "device": "cuda:1", "data": "stream"}, "s1", moved)
    assert config_id(config, cache) == config_id(config, moved)
    # issue 20: CPU and GPU kernels give different numbers, so the device kind is part of the hash and the id
    assert base != config_hash({**config, "device": "cpu"}, "s1", cache)
    assert config_id(config, cache) != config_id({**config, "device": "cpu"}, cache)
    assert config_id(config, cache) != config_id(config, {**cache, "content_hash": "c2"})
    assert base != config_hash({**config, "lr": 1e-3}, "s1", cache)
    assert base != config_hash(config, "s2", cache)
    assert base != config_hash(config, "s1", {**cache, "checkpoint": "medium"})


def test_interrupted_run_leaves_no_record(features: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("probe.run.execute.fit_probe", interrupted)  # execute_run moved there from probe.run.runner
    with pytest.raises(KeyboardInterrupt):
        run_all(RunJob(features, results, seeds=1, config=FAST), RunSelection(probes="linear"))
    assert not list(results.rglob("*.json")) and not list(results.rglob("*.npz"))


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs" / "c" / "m" / "linear" / "holdout-all" / "seed0.json"
    record = hand_record("c", "m", "linear", 0, 50.0)
    write_record(path, record, ["a", "b"], np.zeros((2, 4)))
    before = path.read_text()

    original_write = records_module._atomic_write

    def fail_midway(target: Path, write: Any) -> None:
        if target.suffix == ".json":
            def partial(handle: Any) -> None:
                handle.write(b'{"schema": "ser-probe-run/2", "trunc')
                raise KeyboardInterrupt
            original_write(target, partial)
        else:
            original_write(target, write)

    monkeypatch.setattr(records_module, "_atomic_write", fail_midway)
    with pytest.raises(KeyboardInterrupt):
        write_record(path, hand_record("c", "m", "linear", 0, 70.0), ["a", "b"], np.zeros((2, 4)))
    assert path.read_text() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["seed0.json", "seed0.npz"]
    with pytest.raises(ValueError, match="lacks key"):
        write_record(path, {"schema": RECORD_SCHEMA}, [], np.zeros((0, 4)))


# -- leaderboard -------------------------------------------------------------------------------------------------


def hand_record(corpus: str, model: str, probe: str, seed: int, f1: float, protocol: str = "holdout",
                fold: int = 0, n_test: int = 10) -> dict[str, Any]:
    """A minimal record with every schema key; test metrics are ``f1`` (UAR f1 + 1, accuracy f1 + 2)."""
    metrics = {"macro_f1": f1, "uar": f1 + 1, "accuracy": f1 + 2, "weighted_f1": f1 + 3,
               "per_class_f1": {"anger": f1, "sadness": f1}, "confusion": [[1, 0], [0, 1]]}
    return {
        "schema": RECORD_SCHEMA, "corpus": corpus, "language": "de", "model": model, "family": "whisper",
        "pretraining": "weakly supervised", "languages": "multi", "probe": probe, "protocol": protocol,
        "fold": fold, "n_folds": 1 if protocol == "holdout" else 3, "seed": seed, "classes": ["anger", "sadness"],
        "preset": "paper", "overrides": [], "config_id": "c0ffee00",
        "config": {"class_set": "all", "epochs": 30}, "config_hash": f"h{seed}{fold}",
        "split": {"hash": f"split{seed}", "n_train": 80 + fold, "n_val": 10, "n_test": n_test,
                  "speakers_train": 8, "speakers_val": 1, "speakers_test": 1},
        "cache": {"file": f"features/{corpus}/{model}.h5", "checkpoint": "small", "weights": "sha:1",
                  "whisper_input": "pad30"},
        "metrics": {"test": metrics, "val": metrics, "best_epoch": 3},
        "curves": {"epoch": [1], "train_loss": [1.0], "val_loss": [1.0], "val_macro_f1": [f1]},
        "predictions": {"id": [], "speaker": [], "true": [], "pred": [], "proba": []},
        "layer_weights": None, "layerwise": None, "versions": {}, "determinism": {}, "throughput": None,
        "created": "2024-01-01T00:00:00+00:00",
        "duration_s": 1.0,
    }


def test_leaderboard_means_and_sample_std_over_seeds() -> None:
    board = build_leaderboard([
        hand_record("emodb", "whisper-small", "linear", 0, 50.0),
        hand_record("emodb", "whisper-small", "linear", 1, 60.0),
        hand_record("emodb", "whisper-small", "linear", 2, 70.0),
        hand_record("emodb", "whisper-small", "multilayer", 0, 40.0),
    ])
    assert list(board.columns) == list(LEADERBOARD_COLUMNS)
    assert len(board) == 2
    linear = board[board["probe"] == "linear"].iloc[0]
    assert linear["n_runs"] == 3
    assert linear["macro_f1_mean"] == pytest.approx(60.0) and linear["macro_f1_std"] == pytest.approx(10.0)
    assert linear["uar_mean"] == pytest.approx(61.0) and linear["accuracy_mean"] == pytest.approx(62.0)
    assert linear["weighted_f1_mean"] == pytest.approx(63.0)
    assert (linear["n_train"], linear["n_val"], linear["n_test"]) == (80, 10, 10)
    assert linear["split_hash"] == "split0;split1;split2" and linear["checkpoint"] == "small"
    assert linear["n_splits"] == 3 and linear["seeds"] == 3 and linear["preset"] == "paper"
    assert linear["cache_file"] == "features/emodb/whisper-small.h5" and linear["whisper_input"] == "pad30"
    single = board[board["probe"] == "multilayer"].iloc[0]
    assert single["n_runs"] == 1 and single["macro_f1_std"] == 0.0
    assert board["probe"].tolist() == ["linear", "multilayer"]


def test_leaderboard_kfold_sizes_are_fold_means() -> None:
    board = build_leaderboard([hand_record("cafe", "m", "linear", 0, 50.0, "kfold", f, n_test=10 + 2 * f)
                               for f in range(3)])
    row = board.iloc[0]
    assert row["protocol"] == "kfold" and row["n_runs"] == 3
    assert (row["n_train"], row["n_test"]) == (81, 12)


def test_leaderboard_file_rebuilt_from_records(tmp_path: Path) -> None:
    for seed, f1 in enumerate((30.0, 40.0)):
        record = hand_record("emodb", "org/model", "linear", seed, f1)
        write_record(record_path(tmp_path, "emodb", "org/model", "linear", "holdout", "all", seed), record,
                     [], np.zeros((0, 4)))
    (tmp_path / "runs" / "emodb" / "broken.json").write_text("{not json")
    assert len(list(iter_records(tmp_path))) == 2
    path, board = write_leaderboard(tmp_path)
    assert path == tmp_path / "leaderboard.csv"
    table = pd.read_csv(path)
    assert list(table.columns) == list(LEADERBOARD_COLUMNS)
    assert table.loc[0, "macro_f1_mean"] == pytest.approx(35.0)
    assert table.loc[0, "model"] == "org/model"
    assert filter_leaderboard(board, corpus=["cafe"]).empty
    assert len(filter_leaderboard(board, probe=["linear"], model=["org/model"])) == 1


def test_leaderboard_sorting() -> None:
    board = build_leaderboard([hand_record("a", "m", "linear", 0, 20.0), hand_record("b", "m", "linear", 0, 80.0)])
    assert sort_leaderboard(board, "macro_f1_mean")["corpus"].tolist() == ["b", "a"]
    assert sort_leaderboard(board, "corpus")["corpus"].tolist() == ["a", "b"]


def test_a_record_of_another_schema_is_refused_with_its_path_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "seed0.json"
    path.write_text('{"schema": "ser-probe-run/1", "corpus": "c"}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"seed0\.json: not a ser-probe-run/2 record \(schema ser-probe-run/1\)"):
        read_record(path)
