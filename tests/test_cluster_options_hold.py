"""Every option holds on every executor: one test per option family (extraction, training, transfer) runs the
command inline and with `--executor local` (submitit's local executor, tasks in their own processes) and finds
the option's effect in both, plus a check that each `probe extract` option has a place in the settings the
tasks carry."""

from __future__ import annotations

import inspect
import json
from dataclasses import fields
from pathlib import Path

import h5py
import pytest

from extract.job import ExtractJob
from probe.commands.extract import extract_command
from tests.cluster_support import assert_same_cache, assert_same_records, make_corpora, probe_cli, records
from tests.probe_caches import make_cache, one_thread  # noqa: F401 - fixture
from tests.transfer_caches import transfer_cache

# options of `probe extract` that choose what to extract, not how: they are the task's own fields
_SELECTION = {"model", "corpus", "data_root", "config", "out", "cluster"}
_RENAMED = {"max_duration": "max_seconds"}  # the option's name on the command line, the setting's in the library


def test_every_extract_option_has_a_place_in_the_settings_tasks_carry() -> None:
    options = set(inspect.signature(extract_command).parameters) - _SELECTION
    assert {_RENAMED.get(name, name) for name in options} == {f.name for f in fields(ExtractJob)}


def _cache_ids(path: Path) -> list[str]:
    with h5py.File(path, "r") as h5:
        return sorted(i.decode() if isinstance(i, bytes) else str(i) for i in h5["utterances"]["id"][()])


@pytest.mark.slow
def test_extraction_options_hold_on_the_local_executor(tmp_path: Path) -> None:
    data = make_corpora(tmp_path / "data")  # emodb: 8 clips of 0.6 .. 1.3 s
    common = ("--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", str(data), "--weights", "random",
              "--device", "cpu", "--whisper-input", "trim", "--max-duration", "1", "--batch-size", "1",
              "--shard-size", "2", "--workers", "1", "--wait-lock")
    inline = probe_cli("extract", *common, "--out", str(tmp_path / "inline"))
    assert inline.returncode == 0, inline.stderr
    local = probe_cli("extract", *common, "--out", str(tmp_path / "local"), "--executor", "local",
                      "--jobs-dir", str(tmp_path / "jobs"))
    assert local.returncode == 0, local.stderr
    assert "1 of 1 task(s) done, 0 failed" in local.stderr
    name = "emodb/whisper-tiny.en-random.h5"
    kept = _cache_ids(tmp_path / "local" / name)
    assert 0 < len(kept) < 8, kept  # the clips longer than 1 s are left out, not all 8 kept
    assert kept == _cache_ids(tmp_path / "inline" / name)
    assert_same_cache(tmp_path / "inline" / name, tmp_path / "local" / name)


@pytest.mark.slow
def test_training_options_hold_on_the_local_executor(tmp_path: Path, one_thread) -> None:
    make_cache(tmp_path / "features" / "alpha" / "whisper-tiny.h5", corpus="alpha", n_speakers=6, per_label=3,
               dim=8, n_states=3)
    common = ("--features", str(tmp_path / "features"), "--probes", "linear", "--seeds", "0,", "--epochs", "2",
              "--lr", "0.002", "--batch-size", "8", "--threads", "2", "--split-seed", "5", "--device", "cpu")
    inline = probe_cli("run", *common, "--results", str(tmp_path / "inline"))
    assert inline.returncode == 0, inline.stderr
    local = probe_cli("run", *common, "--results", str(tmp_path / "local"), "--executor", "local", "--wait-lock",
                      "--jobs-dir", str(tmp_path / "jobs"))
    assert local.returncode == 0, local.stderr
    got = records(tmp_path / "local")
    assert len(got) == 1
    config = next(iter(got.values()))["config"]
    assert (config["epochs"], config["lr"], config["batch_size"], config["cpu_threads"]) == (2, 0.002, 8, 2)
    assert_same_records(records(tmp_path / "inline"), got)


def test_jobs_with_an_executor_is_refused_with_the_option_to_use(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "alpha" / "whisper-tiny.h5", corpus="alpha", n_speakers=6, per_label=2)
    done = probe_cli("run", "--features", str(tmp_path / "features"), "--jobs", "2", "--executor", "local")
    assert done.returncode == 2 and "--array-parallelism" in done.stderr


@pytest.mark.slow
def test_transfer_options_hold_on_the_local_executor(tmp_path: Path, one_thread) -> None:
    features = tmp_path / "features"
    for name, language, seed in (("cafe", "fr-CA", 1), ("oreau", "fr", 2), ("alpha", "de", 3)):
        transfer_cache(features / name / "whisper-tiny.h5", name, seed=seed, language=language)
    common = ("--all", "--features", str(features), "--protocol", "leave-one-language-out", "--test", "cafe",
              "--regional", "--probes", "linear", "--seeds", "0,", "--epochs", "2", "--device", "cpu")
    inline = probe_cli("transfer", *common, "--results", str(tmp_path / "inline"))
    assert inline.returncode == 0, inline.stderr
    local = probe_cli("transfer", *common, "--results", str(tmp_path / "local"), "--executor", "local",
                      "--jobs-dir", str(tmp_path / "jobs"))
    assert local.returncode == 0, local.stderr
    got = {p.relative_to(tmp_path / "local"): json.loads(p.read_text())
           for p in (tmp_path / "local").rglob("*.json")}
    expected = {p.relative_to(tmp_path / "inline"): json.loads(p.read_text())
                for p in (tmp_path / "inline").rglob("*.json")}
    assert len(got) == 1 and got.keys() == expected.keys()
    (record,) = got.values()
    assert record["transfer"]["regional"] is True and record["transfer"]["train_languages"] == ["de", "fr"]
    assert record["transfer"]["test_language"] == "fr-ca"
    assert record["metrics"] == next(iter(expected.values()))["metrics"]
