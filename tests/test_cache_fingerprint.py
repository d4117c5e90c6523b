"""Records say what they depend on (issue 20): the cache's content fingerprint, not its creation time; the
machine's torch CPU capability and CUDA device."""

from __future__ import annotations

from pathlib import Path

import h5py
import torch

from extract.cache import FeatureCache
from probe.results.records import config_id, read_record
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from tests.probe_caches import make_cache


def _identity(path: Path) -> dict:
    with FeatureCache(path) as cache:
        return cache.identity()


def test_identical_content_reextracted_keeps_its_fingerprint_and_config_id(tmp_path: Path) -> None:
    first = make_cache(tmp_path / "a" / "synth" / "whisper-tiny.h5", attrs={"created": "2026-01-01T00:00:00"})
    again = make_cache(tmp_path / "b" / "synth" / "whisper-tiny.h5", attrs={"created": "2026-03-03T00:00:00"})
    other = make_cache(tmp_path / "c" / "synth" / "whisper-tiny.h5", noise_seed=1)
    a, b, c = _identity(first), _identity(again), _identity(other)
    assert a["created"] != b["created"] and len(a["content_hash"]) == 16
    assert a["content_hash"] == b["content_hash"] != c["content_hash"]
    config = {"lr": 5e-4, "device": "cpu"}
    assert config_id(config, a) == config_id(config, b) != config_id(config, c)


def test_old_caches_without_the_attribute_get_the_same_fingerprint(tmp_path: Path) -> None:
    path = make_cache(tmp_path / "synth" / "whisper-tiny.h5")
    stored = _identity(path)["content_hash"]
    with h5py.File(path, "a") as h5:
        del h5.attrs["content_hash"]  # as written before issue 20
    assert _identity(path)["content_hash"] == stored


def test_records_store_the_fingerprint_and_the_machine(tmp_path: Path) -> None:
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=2, dim=6, per_label=2, planted=(1,))
    run_all(RunJob(features, tmp_path / "results", seeds=1), RunSelection(probes="linear"), write_board=False)
    record = read_record(next((tmp_path / "results").rglob("seed0.json")))
    assert record["cache"]["content_hash"] == _identity(features / "synth" / "whisper-tiny.h5")["content_hash"]
    assert record["versions"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert record["versions"]["cuda_device"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
