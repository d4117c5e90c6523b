"""Deterministic CUDA settings in one function, used by extraction and training, and recorded in caches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from extract.determinism import CUBLAS_WORKSPACE, determinism_settings, deterministic_cuda

ROOT = Path(__file__).resolve().parents[1]


def test_on_the_cpu_nothing_changes_and_the_thread_count_is_recorded() -> None:
    before = torch.are_deterministic_algorithms_enabled()
    assert deterministic_cuda("cpu") is False
    assert torch.are_deterministic_algorithms_enabled() == before
    settings = determinism_settings("cpu")
    assert settings["device_type"] == "cpu" and settings["cpu_threads"] == torch.get_num_threads()
    assert "cublas_workspace_config" not in settings


def test_cuda_settings_are_set_and_recorded_in_a_fresh_process() -> None:
    """The flags are process-wide, so they are set in a child (one, torch takes seconds to import); torch accepts
    them without a GPU present. A user's own ``CUBLAS_WORKSPACE_CONFIG`` is kept."""
    code = ("import json, os; os.environ.pop('CUBLAS_WORKSPACE_CONFIG', None); import torch; "
            "from extract.determinism import deterministic_cuda, determinism_settings; "
            "assert deterministic_cuda('cuda:0') is True; assert deterministic_cuda('cuda') is True; "
            "print(json.dumps(determinism_settings('cuda'))); os.environ['CUBLAS_WORKSPACE_CONFIG'] = ':16:8'; "
            "deterministic_cuda('cuda'); print(os.environ['CUBLAS_WORKSPACE_CONFIG'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    settings, kept = out.stdout.splitlines()
    assert json.loads(settings) == {
        "device_type": "cuda", "deterministic_algorithms": True, "warn_only": True,
        "cublas_workspace_config": CUBLAS_WORKSPACE, "fill_uninitialized_memory": False,
        "cudnn_deterministic": True, "cudnn_benchmark": False,
    }
    assert kept == ":16:8"


def test_a_cache_records_the_settings_it_was_extracted_under(tmp_path: Path, write_wav) -> None:  # noqa: ANN001
    import pandas as pd

    from extract.backbones import load_backbone
    from extract.cache import FeatureCache
    from extract.pipeline import extract_corpus

    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.3, seed=i) for i in range(2)]
    manifest = pd.DataFrame({"id": ["c0", "c1"], "path": [str(p) for p in paths], "label": ["anger", "neutral"],
                             "speaker": ["s0", "s1"], "gender": ["f", "m"]})
    backbone = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")
    summary = extract_corpus(manifest, backbone, tmp_path / "f", corpus="c", log=lambda m: None)
    with FeatureCache(summary.path) as cache:
        assert cache.attrs["determinism"] == determinism_settings("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_two_cuda_extractions_write_the_same_frames(tmp_path: Path, write_wav) -> None:  # noqa: ANN001
    """Under the deterministic settings, the same clips through the same model on the GPU give the same cache."""
    import h5py
    import numpy as np
    import pandas as pd

    from extract.backbones import load_backbone
    from extract.pipeline import extract_corpus

    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.4 + 0.3 * i, seed=i) for i in range(6)]
    manifest = pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths],
                             "label": ["anger", "neutral"] * 3, "speaker": ["s0", "s1", "s2"] * 2, "gender": ["f"] * 6})
    caches = []
    for run in ("a", "b"):
        backbone = load_backbone("whisper-tiny.en", weights="random", device="cuda", precision="fp16")
        caches.append(extract_corpus(manifest, backbone, tmp_path / run, corpus="c", batch_size=4,
                                     log=lambda m: None).path)
    with h5py.File(caches[0], "r") as a, h5py.File(caches[1], "r") as b:
        assert a.attrs["determinism"] == b.attrs["determinism"]
        for name in ("pooled/mean", *(f"layers/{k}" for k in a["layers"])):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


def test_shards_of_another_kind_of_device_are_not_resumed(tmp_path: Path, write_wav, monkeypatch) -> None:  # noqa: ANN001
    """A cache is computed on one kind of device: shards left by a run on another GPU model or CPU instruction set
    (their numbers differ in the last bits) are discarded with the change named, never merged with new ones; a
    resume on the same kind keeps them."""
    import pandas as pd

    import extract.corpus_pass
    import extract.pipeline
    from extract.backbones import load_backbone
    from extract.determinism import compute_device
    from extract.pipeline import extract_corpus

    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.3, seed=i) for i in range(3)]
    manifest = pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths],
                             "label": ["anger", "neutral", "anger"], "speaker": ["s0", "s1", "s2"], "gender": ["f"] * 3})
    backbone = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")

    def interrupted(device: str, out: Path) -> None:
        """Every shard written on ``device``, then the run stops before the merge (as a kill would)."""
        def killed(*args: object) -> None:
            raise KeyboardInterrupt
        monkeypatch.setattr(extract.corpus_pass, "compute_device", lambda _device: device)
        monkeypatch.setattr(extract.pipeline, "merge_in_child", killed)
        with pytest.raises(KeyboardInterrupt):
            extract_corpus(manifest, backbone, out, corpus="c", shard_size=1, log=lambda m: None)
        monkeypatch.undo()

    here = compute_device("cpu")
    assert here.startswith("cpu: ") and compute_device(torch.device("cpu")) == here
    interrupted("cuda: NVIDIA H200", tmp_path / "f")
    said: list[str] = []
    summary = extract_corpus(manifest, backbone, tmp_path / "f", corpus="c", shard_size=1, log=said.append)
    assert summary.n_resumed == 0 and summary.n_done == 3
    assert any("discarding" in line and f"compute_device: cuda: NVIDIA H200 -> {here}" in line for line in said), said
    interrupted(here, tmp_path / "g")
    said.clear()
    summary = extract_corpus(manifest, backbone, tmp_path / "g", corpus="c", shard_size=1, log=said.append)
    assert summary.n_resumed == 3 and not any("discarding" in line for line in said), said
