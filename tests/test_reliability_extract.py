"""Extraction refuses what it must not write: a cache made otherwise, non-finite states, float16 overflow, and a
full disk (a real tmpfs where this process may mount one, else ENOSPC injected at the write call); the rerun
completes once space exists, to the same cache as an uninterrupted run."""

from __future__ import annotations

import errno
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import extract.pipeline as pipeline
from extract.backbones import load_backbone
from extract.cache import FeatureCache, cache_status
from extract.guards import CacheMismatchError, DiskFullError, ExtractError, StateRangeError
from extract.pipeline import extract_corpus
from tests.tmpfs import grow as _grow
from tests.tmpfs import mountable as _mountable
from tests.tmpfs import tmpfs


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> pd.DataFrame:
    from tests.conftest import write_tone

    folder = tmp_path_factory.mktemp("audio")
    paths = [write_tone(folder / f"c{i}.wav", seconds=0.5 + 0.05 * i, seed=i) for i in range(8)]
    return pd.DataFrame({"id": [p.stem for p in paths], "path": [str(p) for p in paths],
                         "label": ["anger", "sadness"] * 4, "speaker": [f"s{i % 4}" for i in range(8)],
                         "gender": ["f"] * 8})


@pytest.fixture(scope="module")
def reference(tmp_path_factory, manifest, backbone) -> Path:
    """The cache of an uninterrupted run with plenty of space."""
    return extract_corpus(manifest, backbone, tmp_path_factory.mktemp("ref"), **_quiet()).path


def _quiet(**kwargs):  # noqa: ANN202
    return {"corpus": "c", "batch_size": 2, "shard_size": 2, "log": lambda m: None, **kwargs}


def _datasets(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        out: dict[str, np.ndarray] = {}
        h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out


def _same(a: Path, b: Path) -> None:
    ref, got = _datasets(a), _datasets(b)
    assert ref.keys() == got.keys()
    for name in ref:
        np.testing.assert_array_equal(ref[name], got[name], err_msg=name)


# -- a complete cache made otherwise is refused, never silently reused -------------------------------------------


def test_existing_cache_with_other_settings_is_refused_with_the_remedy(tmp_path, manifest, backbone) -> None:
    out = tmp_path / "f"
    first = extract_corpus(manifest, backbone, out, **_quiet())
    with FeatureCache(first.path) as cache:
        assert cache.attrs["class_set"] == "all"  # probe run checks a --classes request against it
    pad30 = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="pad30")
    with pytest.raises(CacheMismatchError, match=r"whisper_input 'trim' \(requested 'pad30'\).*--force.*--out"):
        extract_corpus(manifest, pad30, out, **_quiet())
    with pytest.raises(CacheMismatchError, match=r"classes .*requested .*neutral"):
        extract_corpus(manifest, backbone, out, **_quiet(classes=["anger", "neutral", "sadness"]))
    changed = manifest.assign(label=["anger", "sadness", "sadness", "anger"] * 2)
    with pytest.raises(CacheMismatchError, match="the corpus has changed since it was made"):
        extract_corpus(changed, backbone, out, **_quiet())
    assert extract_corpus(manifest, backbone, out, **_quiet()).status == "exists"
    redone = extract_corpus(changed, backbone, out, **_quiet(force=True))
    assert redone.status == "written" and redone.path == first.path
    with FeatureCache(first.path) as cache:
        assert list(cache.utterances["label"]) == list(changed["label"])


# -- non-finite states and float16 overflow ---------------------------------------------------------------------


class _NaNOnClip:
    """The real backbone, with the states of clips of one length poisoned: stands in for a checkpoint whose fp16
    activations overflow on some inputs, which cannot be downloaded here."""

    def __init__(self, inner, samples: int) -> None:
        self._inner, self._samples = inner, samples

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._inner, name)

    def extract_for_cache(self, waves):  # noqa: ANN001, ANN201 - the pipeline's path (float16 frames and peaks)
        states = self._inner.extract_for_cache(waves)
        for wave, s in zip(waves, states):
            if len(wave) == self._samples:
                s.frames[2, 3, 7] = np.nan
                s.peaks[2] = np.nan  # as the device computes it: a state holding NaN has a NaN peak
        return states


def test_clip_with_nan_states_is_skipped_by_name(tmp_path, manifest, backbone) -> None:
    poisoned = _NaNOnClip(backbone, samples=int(0.65 * 16000))  # c3 is 0.65 s
    summary = extract_corpus(manifest, poisoned, tmp_path / "f", **_quiet())
    assert [(i, r) for i, _, r in summary.skipped] == [("c3", "the model's states hold NaN or inf (layer 2)")]
    with FeatureCache(summary.path) as cache:
        assert "c3" not in set(cache.utterances["id"]) and len(cache) == 7
        cache.validate()
        cache.check_frames()
        assert list(cache.skipped()["id"]) == ["c3"]


def test_model_giving_nan_everywhere_writes_no_cache(tmp_path, manifest) -> None:
    broken = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")
    with torch.no_grad():
        next(broken.model.parameters()).fill_(float("nan"))
    with pytest.raises(ExtractError, match="no clip of c could be used .*no cache written"):
        extract_corpus(manifest, broken, tmp_path / "f", **_quiet())
    assert not cache_status(tmp_path / "f" / "c" / f"{broken.name}.h5").exists


def test_states_beyond_float16_are_refused_naming_clip_and_layer(tmp_path, manifest) -> None:
    loud = load_backbone("whisper-tiny.en", weights="random", device="cpu", whisper_input="trim")
    with torch.no_grad():
        loud.encoder.ln_post.weight.mul_(1e6)  # the last state (after ln_post) leaves float16's range
    with pytest.raises(StateRangeError, match=r"c0 \(.*c0\.wav\): layer 4 holds values up to .*float16"):
        extract_corpus(manifest, loud, tmp_path / "f", **_quiet())
    assert not cache_status(tmp_path / "f" / "c" / f"{loud.name}.h5").complete


# -- a full disk ---------------------------------------------------------------------------------------------------


def test_disk_full_while_writing_shards_then_rerun_resumes(tmp_path, manifest, backbone, reference) -> None:
    _mountable(tmp_path)
    with tmpfs(tmp_path / "small", 300) as disk:
        with pytest.raises(DiskFullError, match=r"no space left on the device of .*\.partial while writing a shard"
                                                r".*kept in .*rerun the same command"):
            extract_corpus(manifest, backbone, disk, **_quiet())
        partial = disk / "c" / f"{backbone.name}.h5.partial"
        kept = sorted(p.name for p in partial.glob("shard-*.h5"))
        assert kept and len(kept) < 4 and not list(partial.glob("*.tmp"))  # whole shards only
        _grow(disk, 32768)
        resumed = extract_corpus(manifest, backbone, disk, **_quiet())
        assert resumed.n_resumed == 2 * len(kept)
        _same(reference, resumed.path)


def test_disk_too_small_for_the_merge_is_found_before_it(tmp_path, manifest, backbone, reference) -> None:
    _mountable(tmp_path)
    with tmpfs(tmp_path / "small", 1400) as disk:
        with pytest.raises(DiskFullError, match=r"not enough space in .*merging the shards into .*needs about"):
            extract_corpus(manifest, backbone, disk, **_quiet())
        partial = disk / "c" / f"{backbone.name}.h5.partial"
        assert len(list(partial.glob("shard-*.h5"))) == 4 and not (disk / "c" / f"{backbone.name}.h5.tmp").exists()
        _grow(disk, 32768)
        resumed = extract_corpus(manifest, backbone, disk, **_quiet())
        assert resumed.n_resumed == 8 and resumed.n_done == 0
        _same(reference, resumed.path)


def test_disk_filling_during_the_merge_is_a_clear_error(tmp_path, manifest, backbone, reference, monkeypatch) -> None:
    _mountable(tmp_path)
    with tmpfs(tmp_path / "small", 1400) as disk:
        monkeypatch.setattr(pipeline, "require_space", lambda *a, **k: None)  # as if the disk filled meanwhile
        with pytest.raises(DiskFullError, match=r"while writing the merged cache"):
            extract_corpus(manifest, backbone, disk, **_quiet())
        assert not (disk / "c" / f"{backbone.name}.h5.tmp").exists()
        assert not cache_status(disk / "c" / f"{backbone.name}.h5").exists
        monkeypatch.undo()
        _grow(disk, 32768)
        _same(reference, extract_corpus(manifest, backbone, disk, **_quiet()).path)


def test_injected_enospc_in_shard_and_merge_then_rerun(tmp_path, manifest, backbone, reference, monkeypatch) -> None:
    real_write = pipeline.write_shard

    def write_until_full(path: Path, *args):  # noqa: ANN001, ANN202
        if path.name == "shard-00002.h5":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, *args)

    monkeypatch.setattr(pipeline, "write_shard", write_until_full)
    with pytest.raises(DiskFullError, match="while writing a shard"):
        extract_corpus(manifest, backbone, tmp_path / "f", **_quiet())
    partial = tmp_path / "f" / "c" / f"{backbone.name}.h5.partial"
    assert sorted(p.name for p in partial.glob("shard-*.h5")) == ["shard-00000.h5", "shard-00001.h5"]

    def merge_full(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_shard", real_write)
    monkeypatch.setattr(pipeline, "merge_in_child", merge_full)
    with pytest.raises(DiskFullError, match="while writing the merged cache"):
        extract_corpus(manifest, backbone, tmp_path / "f", **_quiet())
    assert len(list(partial.glob("shard-*.h5"))) == 4
    monkeypatch.undo()
    resumed = extract_corpus(manifest, backbone, tmp_path / "f", **_quiet())
    assert resumed.n_resumed == 8
    _same(reference, resumed.path)
