"""`--executor slurm` against a real single-node SLURM (scripts/slurm/start.sh; `.ci/run` starts it).

Skipped, with the reason, only when no cluster answers and the start script cannot run here (not root, not
Debian). Tiny random-weight models, corpora of a few clips, two epochs: each test is one or two job arrays.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from extract import corpora as corpus_registry
from extract.backbones import load_backbone
from extract.pipeline import extract_corpus
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.config import TrainConfig
from tests.cluster_support import (
    assert_same_cache, assert_same_records, make_corpora, probe_cli, records, submission,
)
from tests.probe_caches import make_cache

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` skips it, CI runs it

START = Path(__file__).resolve().parents[1] / "scripts" / "slurm" / "start.sh"


def _cluster_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    done = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=30, check=False)
    return done.returncode == 0 and "up" in done.stdout


@pytest.fixture(scope="module")
def slurm() -> None:
    """A running SLURM: the one already up, else started with scripts/slurm/start.sh, else a skip with why."""
    if _cluster_up():
        return
    if os.geteuid() != 0:
        pytest.skip("no SLURM cluster answers `sinfo`, and scripts/slurm/start.sh needs root to start one")
    if shutil.which("apt-get") is None:
        pytest.skip("no SLURM cluster answers `sinfo`, and scripts/slurm/start.sh needs a Debian system (apt-get)")
    started = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900, check=False)
    if started.returncode != 0 or not _cluster_up():
        pytest.skip(f"scripts/slurm/start.sh could not start SLURM here: {started.stderr.strip()[-600:]}")


EXTRACT = ("--weights", "random", "--device", "cpu", "--batch-size", "2", "--workers", "1")


def _inline_cache(data: Path, out: Path, corpus: str, model: str, **options) -> Path:
    manifest = corpus_registry.load(corpus, data / corpus)
    backbone = load_backbone(model, weights="random", device="cpu", **options.pop("backbone", {}))
    return extract_corpus(manifest, backbone, out, corpus=corpus, language=corpus_registry.info(corpus).language,
                          log=lambda m: None, **options).path


def test_extraction_array_makes_the_same_caches_as_a_local_run(slurm, tmp_path: Path) -> None:
    data = make_corpora(tmp_path / "data")
    done = probe_cli("extract", "--model", "whisper-tiny.en,whisper-tiny", "--corpus", "emodb,ravdess",
                     "--data-root", str(data), "--out", str(tmp_path / "features"), "--whisper-input", "trim",
                     *EXTRACT, "--shard-size", "4", "--executor", "slurm", "--wait", "--cpus-per-task", "1",
                     "--mem", "3G", "--time", "15", "--jobs-dir", str(tmp_path / "jobs"))
    assert done.returncode == 0, done.stderr
    record = submission(tmp_path / "jobs")
    assert [t["label"] for t in record["tasks"]] == ["emodb × whisper-tiny.en", "ravdess × whisper-tiny.en",
                                                     "emodb × whisper-tiny", "ravdess × whisper-tiny"]
    array = record["tasks"][0]["job_id"].split("_")[0]
    assert [t["job_id"] for t in record["tasks"]] == [f"{array}_{i}" for i in range(4)]
    assert f"SLURM job array {array}" in done.stderr and "4 of 4 task(s) done, 0 failed" in done.stderr
    for model in ("whisper-tiny.en", "whisper-tiny"):
        for corpus in ("emodb", "ravdess"):
            reference = _inline_cache(data, tmp_path / "inline", corpus, model, batch_size=2, shard_size=4,
                                      workers=1, backbone={"whisper_input": "trim"})
            assert_same_cache(reference, tmp_path / "features" / corpus / f"{model}-random.h5")
    status = probe_cli("status", "--jobs-dir", str(tmp_path / "jobs"))
    assert status.returncode == 0 and status.stdout.count(" done ") >= 4, status.stdout


def test_failed_probe_task_shows_in_status_and_resubmission_completes_only_the_rest(slurm, tmp_path: Path) -> None:
    features, pristine = tmp_path / "features", tmp_path / "pristine"
    for corpus, seed in (("alpha", 0), ("beta", 1)):
        make_cache(pristine / corpus / "whisper-tiny.h5", corpus=corpus, n_speakers=6, per_label=3, dim=8,
                   n_states=3, seed=seed)
    shutil.copytree(pristine, features)
    blocked = tmp_path / "results" / "runs" / "beta"  # beta's records cannot be written: a file is in the way
    blocked.parent.mkdir(parents=True)
    blocked.write_text("not a folder")
    config = TrainConfig(epochs=2, device="cpu")
    run_all(RunJob(pristine, tmp_path / "reference", seeds="0,1", config=config),
            RunSelection(probes="linear,nonlinear"))
    expected = records(tmp_path / "reference")
    command = ("run", "--features", str(features), "--results", str(tmp_path / "results"), "--probes",
               "linear,nonlinear", "--seeds", "0,1", "--epochs", "2", "--threads", "1", "--device", "cpu",
               "--executor", "slurm", "--wait", "--time", "10", "--jobs-dir", str(tmp_path / "jobs"))
    first = probe_cli(*command)
    assert first.returncode == 1, first.stderr
    assert "2 of 4 task(s) done, 2 failed" in first.stderr
    status = probe_cli("status", "--jobs-dir", str(tmp_path / "jobs"))
    assert status.returncode == 1
    assert "beta/whisper-tiny linear" in status.stdout and "failed" in status.stdout
    assert "NotADirectoryError" in status.stdout, status.stdout  # the reason, from the task's log
    alpha = {k: v for k, v in expected.items() if k.startswith("alpha/")}
    assert_same_records(alpha, records(tmp_path / "results"))
    assert "beta" not in (tmp_path / "results" / "leaderboard.csv").read_text()  # rebuilt once, at the end
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "results" / "runs").rglob("*.json")}
    assert len(stamps) == 4

    blocked.unlink()  # repaired
    second = probe_cli(*command)
    assert second.returncode == 0, second.stderr
    assert_same_records(expected, records(tmp_path / "results"))
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # what was recorded was not redone
    assert "beta" in (tmp_path / "results" / "leaderboard.csv").read_text()
    again = submission(tmp_path / "jobs")
    logs = {t["label"]: Path(again["folder"], f"{t['job_id']}_0_log.out").read_text() for t in again["tasks"]}
    assert "2 task(s) already recorded in full: not submitted" in second.stderr  # alpha's
    assert {label: "trained" in text for label, text in logs.items()} == {
        "beta/whisper-tiny linear": True, "beta/whisper-tiny nonlinear": True}


def test_preempted_extraction_requeues_and_resumes_to_the_same_cache(slurm, tmp_path: Path) -> None:
    data = make_corpora(tmp_path / "data")
    out, jobs = tmp_path / "features", tmp_path / "jobs"
    submitted = probe_cli("extract", "--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root", str(data),
                          "--out", str(out), *EXTRACT, "--shard-size", "1", "--executor", "slurm", "--time", "15",
                          "--jobs-dir", str(jobs))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submission(jobs)["tasks"][0]["job_id"]
    partial = out / "emodb" / "whisper-tiny.en-random.h5.partial"
    deadline = time.time() + 240
    while time.time() < deadline and not (partial / "shard-00001.h5").exists():
        time.sleep(0.1)
    assert (partial / "shard-00001.h5").exists(), "the task never started writing shards"
    # what SLURM does on preemption or near the time limit: USR2 to the task (submitit checkpoints, requeues)
    subprocess.run(["scancel", "--signal", "USR2", job_id], check=True, timeout=30)
    followed = probe_cli("status", "--jobs-dir", str(jobs), "--wait")
    assert followed.returncode == 0, followed.stdout + followed.stderr
    log = next(jobs.glob("extract-*/")).joinpath(f"{job_id}_0_log.err").read_text()
    assert "Caught signal SIGUSR2" in log and "resuming:" in log
    deadline = time.time() + 60  # the result is written a moment before SLURM marks the job completed
    while True:
        accounting = subprocess.run(["sacct", "-n", "-X", "-D", "-P", "-o", "State", "-j", job_id],
                                    capture_output=True, text=True, timeout=30).stdout.split()
        if accounting[-1:] == ["COMPLETED"] or time.time() > deadline:
            break
        time.sleep(1)
    assert accounting == ["REQUEUED", "COMPLETED"]  # one attempt preempted, the requeued one completed
    reference = _inline_cache(data, tmp_path / "inline", "emodb", "whisper-tiny.en", batch_size=2, shard_size=1,
                              workers=1)
    assert_same_cache(reference, out / "emodb" / "whisper-tiny.en-random.h5")


def test_a_request_no_node_can_satisfy_is_refused_before_submission(slurm, tmp_path: Path) -> None:
    make_cache(tmp_path / "features" / "alpha" / "whisper-tiny.h5", corpus="alpha", n_speakers=6, per_label=2)
    cpus = int(subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True).stdout.split()[0])
    for option, value, said in (("--cpus-per-task", str(cpus + 1), "pend forever"),
                                ("--partition", "nosuchpartition", "does not exist"),
                                ("--gpus-per-task", "1", "0 GPU(s)")):
        done = probe_cli("run", "--features", str(tmp_path / "features"), "--results", str(tmp_path / "results"),
                         "--executor", "slurm", option, value, "--jobs-dir", str(tmp_path / "jobs"))
        assert done.returncode == 2 and said in done.stderr, done.stderr
    assert not list((tmp_path / "jobs").glob("*/submission.json"))  # nothing was submitted
