"""Training is a function of the recorded configuration, not of the machine's thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from extract.cache import FeatureCache
from probe.data.cache_data import CacheData
from probe.results.records import config_id
from probe.train.fit import fit_probe
from probe.train.presets import make_config
from tests.probe_caches import make_cache


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cache(tmp_path_factory.mktemp("features") / "synth" / "whisper-tiny.h5", n_states=3, dim=256,
                      per_label=4, frames=(60, 120))


def _fit(path: Path, outer_threads: int, **overrides: object) -> tuple[np.ndarray, list[int]]:
    """Test logits of a Multi-Layer run started with ``outer_threads`` torch threads, and the thread count seen
    during each epoch."""
    seen: list[int] = []
    previous = torch.get_num_threads()
    torch.set_num_threads(outer_threads)
    try:
        with FeatureCache(path) as cache:
            speakers = cache.utterances["speaker"].to_numpy()
            parts = {"train": np.flatnonzero(~np.isin(speakers, ["spk06", "spk07"])),
                     "val": np.flatnonzero(speakers == "spk06"), "test": np.flatnonzero(speakers == "spk07")}
            labels = cache.utterances["label"].astype("category").cat.codes.to_numpy(np.int64)
            data = CacheData(cache)
            config = make_config("paper", device="cpu", epochs=3, **overrides)
            result = fit_probe("multilayer", data.frames(True), labels, parts, 4, config,
                               seed=0, on_epoch=lambda epoch, _: seen.append(torch.get_num_threads()))
    finally:
        assert torch.get_num_threads() == outer_threads  # restored after the run
        torch.set_num_threads(previous)
    return result.test.logits, seen


def test_the_callers_thread_count_does_not_change_the_result(cache_file: Path) -> None:
    one, seen_one = _fit(cache_file, 1)
    two, seen_two = _fit(cache_file, 2)
    assert seen_one == seen_two == [1, 1, 1]  # the paper preset trains on one thread whatever the caller set
    np.testing.assert_array_equal(one, two)


def test_more_threads_are_an_override_of_the_configuration(cache_file: Path) -> None:
    base, two = make_config("paper"), make_config("paper", cpu_threads=2)
    assert base.cpu_threads == 1 and base.overrides == ()
    assert two.cpu_threads == 2 and two.overrides == ("cpu_threads",)
    assert config_id(base.as_dict(), {}) != config_id(two.as_dict(), {})  # never averaged with 1-thread runs
    _, seen = _fit(cache_file, 1, cpu_threads=2)
    assert seen == [2, 2, 2]
