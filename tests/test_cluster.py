"""Cluster options without SLURM: site defaults, SLURM time and memory syntax, request checks against node shapes,
task lists, and `--executor local` (submitit's LocalExecutor) producing what an in-process run produces."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from extract import corpora as corpus_registry
from extract.backbones import load_backbone
from extract.job import ExtractJob
from extract.pipeline import extract_corpus
from probe.cluster.sanity import NodeShape, RequestError, _gpus, check_request
from probe.cluster.settings import SettingsError, SlurmSettings, parse_mem, parse_time, site_defaults
from probe.cluster.tasks import ExtractTask, ProbeTask, probe_groups, probe_tasks
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.config import TrainConfig
from tests.cluster_support import (
    assert_same_cache, assert_same_records, make_corpora, probe_cli, records, submission,
)
from tests.probe_caches import make_cache, one_thread  # noqa: F401 - fixture


def test_slurm_time_and_memory_syntax() -> None:
    assert [parse_time(t) for t in ("90", "2:00:00", "1:30", "1-12", "1-00:30", "0-0:0:1", 45)] == \
        [90, 120, 2, 36 * 60, 24 * 60 + 30, 1, 45]
    assert [parse_mem(m) for m in ("16G", "16000M", "16000", "1.5T", "512MB", 2048)] == \
        [16384, 16000, 16000, 1572864, 512, 2048]
    for bad in ("soon", "1:2:3:4", "0", "x-1"):
        with pytest.raises(SettingsError):
            parse_time(bad)
    with pytest.raises(SettingsError, match="16G"):
        parse_mem("lots")


def test_site_defaults_come_from_the_first_file_found_and_options_override(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROBE_SLURM_CONFIG", raising=False)
    monkeypatch.delenv("PROBE_DATA_CONFIG", raising=False)
    assert site_defaults() == (SlurmSettings(), None)
    Path("probe-data.toml").write_text('[corpora]\n\n[slurm]\npartition = "gpu"\nmem = "32G"\ntime = "4:00:00"\n')
    settings, source = site_defaults()
    assert source == Path("probe-data.toml") and settings == SlurmSettings(partition="gpu", mem_mb=32768,
                                                                             time_min=240)
    Path("probe-slurm.toml").write_text('partition = "a100"\ncpus-per-task = 8\ngpus_per_task = 1\n')
    settings, source = site_defaults()
    assert source == Path("probe-slurm.toml") and (settings.partition, settings.cpus_per_task) == ("a100", 8)
    merged = settings.merged(partition=None, cpus_per_task=4, time="30", account="lab")
    assert (merged.partition, merged.cpus_per_task, merged.time_min, merged.account) == ("a100", 4, 30, "lab")
    Path("bad.toml").write_text('[slurm]\ncpus_per_task = "many"\n')
    with pytest.raises(SettingsError, match="bad.toml: cpus_per_task must be a whole number"):
        site_defaults(Path("bad.toml"))
    monkeypatch.setenv("PROBE_SLURM_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml does not exist"):
        site_defaults()


def _node(name: str, partition: str, cpus: int, mem: int, gpus: int = 0, limit: int | None = None,
          default: bool = False) -> NodeShape:
    return NodeShape(name, partition, default, cpus, mem, gpus, limit, True)


def test_requests_no_node_can_satisfy_are_refused() -> None:
    nodes = [_node("c1", "cpu", 32, 128000, default=True), _node("g1", "gpu", 16, 256000, gpus=4, limit=2880),
             _node("g2", "gpu", 64, 512000, gpus=8, limit=2880)]
    assert check_request(SlurmSettings(), nodes) == "cpu"
    assert check_request(SlurmSettings(partition="gpu", cpus_per_task=64, gpus_per_task=8, time_min=60), nodes) == "gpu"
    with pytest.raises(RequestError, match="pend forever") as err:
        check_request(SlurmSettings(cpus_per_task=33), nodes)
    assert "largest has 32 CPUs" in str(err.value)
    with pytest.raises(RequestError, match="0 GPU"):
        check_request(SlurmSettings(gpus_per_task=1), nodes)
    with pytest.raises(RequestError, match="at most 2880 minutes"):
        check_request(SlurmSettings(partition="gpu", time_min=3000), nodes)
    with pytest.raises(RequestError, match="partitions: cpu, gpu"):
        check_request(SlurmSettings(partition="a100"), nodes)
    with pytest.raises(RequestError, match="pend forever"):  # 8 GPUs and 500 GB exist, but not on one node
        check_request(SlurmSettings(partition="gpu", gpus_per_task=8, cpus_per_task=65), nodes)
    assert [_gpus(g) for g in ("(null)", "gpu:4", "gpu:a100:4(S:0-1)", "gpu:a100:2,gpu:v100:2,shard:8")] == [0, 4, 4, 4]


def test_probe_tasks_group_cheap_probes_and_skip_what_is_recorded(tmp_path: Path, one_thread) -> None:
    assert probe_groups(["linear", "nonlinear", "multilayer", "layerwise"]) == [
        ("linear", "layerwise"), ("nonlinear",), ("multilayer",)]
    for corpus in ("alpha", "beta"):
        make_cache(tmp_path / "f" / corpus / "whisper-tiny.h5", corpus=corpus, n_speakers=6, per_label=2, dim=8)
    config = TrainConfig(epochs=1, device="cpu")
    make_cache(tmp_path / "f" / "tiny" / "whisper-tiny.h5", corpus="tiny", n_speakers=2, per_label=1, dim=8)
    tasks, done, problems = probe_tasks(RunJob(tmp_path / "f", tmp_path / "r", seeds="0,1", config=config),
                                        RunSelection(probes="linear,nonlinear"))
    assert len(problems) == 2 and all(p.startswith("tiny/whisper-tiny") and "tiny: " in p for p in problems)
    assert done == 0 and [t.label for t in tasks] == ["alpha/whisper-tiny linear", "alpha/whisper-tiny nonlinear",
                                                      "beta/whisper-tiny linear", "beta/whisper-tiny nonlinear"]
    assert tasks[0]() == {"trained": 2, "skipped": 0}  # a task writes records, never the leaderboard
    assert not (tmp_path / "r" / "leaderboard.csv").exists()
    tasks, done, _ = probe_tasks(RunJob(tmp_path / "f", tmp_path / "r", seeds="0,1", config=config),
                                 RunSelection(corpora=["alpha", "beta"], probes="linear,nonlinear"))
    assert done == 1 and [t.label for t in tasks][0] == "alpha/whisper-tiny nonlinear"


def test_checkpoint_requeues_extraction_without_force() -> None:
    task = ExtractTask(model="whisper-tiny.en", corpus="emodb", root=Path("/d/emodb"), out=Path("/f"),
                       job=ExtractJob(force=True, max_seconds=2.0))
    again = task.checkpoint()
    assert again.function.job.force is False and again.function.model == "whisper-tiny.en"
    assert again.function.job.max_seconds == 2.0  # the other settings stay
    probe = ProbeTask(corpus="c", model="m", probes=("linear",), job=RunJob(Path("/f"), Path("/r"), seeds="3"))
    assert probe.checkpoint().function is probe


@pytest.mark.slow
def test_local_executor_probe_runs_match_an_inline_run(tmp_path: Path, one_thread) -> None:
    for corpus, seed in (("alpha", 0), ("beta", 1)):
        make_cache(tmp_path / "features" / corpus / "whisper-tiny.h5", corpus=corpus, n_speakers=6, per_label=3,
                   dim=8, n_states=3, seed=seed)
    run_all(RunJob(tmp_path / "features", tmp_path / "inline", seeds="0,1",
                   config=TrainConfig(epochs=2, device="cpu")), RunSelection(probes="linear,multilayer"))
    done = probe_cli("run", "--features", str(tmp_path / "features"), "--results", str(tmp_path / "results"),
                     "--probes", "linear,multilayer", "--seeds", "0,1", "--epochs", "2", "--threads", "1",
                     "--device", "cpu", "--executor", "local", "--array-parallelism", "2", "--jobs-dir",
                     str(tmp_path / "jobs"))
    assert done.returncode == 0, done.stderr
    assert "4 of 4 task(s) done, 0 failed" in done.stderr and "leaderboard:" in done.stderr
    assert_same_records(records(tmp_path / "inline"), records(tmp_path / "results"))
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert sorted(zip(board["corpus"], board["probe"])) == [("alpha", "linear"), ("alpha", "multilayer"),
                                                             ("beta", "linear"), ("beta", "multilayer")]
    record = submission(tmp_path / "jobs")
    assert record["executor"] == "local" and {t["state"] for t in record["tasks"]} == {"done"}
    status = probe_cli("status", "--jobs-dir", str(tmp_path / "jobs"))
    assert status.returncode == 0 and status.stdout.count(" done ") == 4, status.stdout


@pytest.mark.slow
def test_local_executor_extraction_matches_an_inline_run(tmp_path: Path) -> None:
    data = make_corpora(tmp_path / "data")
    common = ("--model", "whisper-tiny.en", "--corpus", "emodb,ravdess", "--data-root", str(data), "--weights",
              "random", "--device", "cpu", "--whisper-input", "trim", "--shard-size", "3", "--workers", "1")
    local = probe_cli("extract", *common, "--out", str(tmp_path / "local"), "--executor", "local",
                      "--array-parallelism", "2", "--jobs-dir", str(tmp_path / "jobs"))
    assert local.returncode == 0, local.stderr
    assert "2 of 2 task(s) done, 0 failed" in local.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "jobs").glob("extract-*/*_log.err"))
    assert "emodb: " in logs and " clips extracted, 0 skipped; " in logs  # plain lines (LogListener), no bars
    assert "\r" not in logs and "\x1b[" not in logs
    backbone = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")
    for corpus in ("emodb", "ravdess"):
        reference = extract_corpus(corpus_registry.load(corpus, data / corpus), backbone, tmp_path / "inline",
                                   corpus=corpus, language=corpus_registry.info(corpus).language, shard_size=3,
                                   workers=1, log=lambda m: None).path
        assert_same_cache(reference, tmp_path / "local" / corpus / "whisper-tiny.en-random.h5")


def test_unknown_executor_is_a_usage_error(tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "alpha" / "whisper-tiny.h5", corpus="alpha", n_speakers=6, per_label=2)
    done = probe_cli("run", "--features", str(tmp_path / "features"), "--executor", "kubernetes")
    assert done.returncode == 2 and "inline, local, slurm" in done.stderr


@pytest.mark.slow
def test_local_executor_transfer_cells_match_an_inline_run(tmp_path: Path, one_thread) -> None:
    from probe.run.transfer_run import run_transfer

    for corpus, seed in (("alpha", 0), ("beta", 1)):
        make_cache(tmp_path / "features" / corpus / "whisper-tiny.h5", corpus=corpus, n_speakers=6, per_label=3,
                   dim=8, n_states=3, seed=seed)
    run_transfer(RunJob(tmp_path / "features", tmp_path / "inline", classes="4", seeds="0,",
                        config=TrainConfig(epochs=2, device="cpu")), RunSelection(probes="linear"))
    done = probe_cli("transfer", "--all", "--features", str(tmp_path / "features"), "--results",
                     str(tmp_path / "results"), "--probes", "linear", "--seeds", "0,", "--epochs", "2", "--threads",
                     "1", "--device", "cpu", "--executor", "local", "--jobs-dir", str(tmp_path / "jobs"))
    assert done.returncode == 0, done.stderr
    assert "1 of 1 task(s) done, 0 failed" in done.stderr
    expected = {p.relative_to(tmp_path / "inline"): json.loads(p.read_text())
                for p in (tmp_path / "inline").rglob("*.json")}
    got = {p.relative_to(tmp_path / "results"): json.loads(p.read_text())
           for p in (tmp_path / "results").rglob("*.json")}
    assert len(expected) == 4 and expected.keys() == got.keys()  # 2 × 2 (train, test) cells
    for name, record in expected.items():
        assert record["metrics"] == got[name]["metrics"], name
