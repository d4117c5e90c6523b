"""The extraction pass: cache contract, broken clips, resume after a real kill, complete caches left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from extract.backbones import load_backbone
from extract.cache import SCHEMA, CacheError, FeatureCache, cache_status, find_caches
from extract.pipeline import extract_corpus

EMODB_NAMES = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta", "10a04La", "11b01Ea", "13a05Aa", "14b02Fb",
               "15a07Wc", "16b10Nd", "12a02Ta", "03b09Wb"]


@pytest.fixture(scope="module")
def backbone():
    return load_backbone("whisper-tiny.en", weights="random", device="cpu")


def _manifest(paths: list[Path], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [p.stem for p in paths], "path": [str(p) for p in paths], "label": labels,
        "speaker": [f"s{i % 3}" for i in range(len(paths))], "gender": ["f"] * len(paths),
    })


def test_cache_follows_the_contract_and_skips_broken_clips(tmp_path: Path, write_wav, backbone) -> None:
    good = [write_wav(tmp_path / f"g{i}.wav", seconds=s, sample_rate=sr, seed=i)
            for i, (s, sr) in enumerate([(0.6, 16000), (1.3, 44100), (0.9, 48000)])]
    (tmp_path / "lfs.wav").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:1\nsize 9\n")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all" * 20)
    short = write_wav(tmp_path / "short.wav", seconds=0.04)
    paths = [good[0], tmp_path / "lfs.wav", good[1], tmp_path / "junk.wav", short, good[2]]
    manifest = _manifest(paths, ["anger", "sadness", "anger", "neutral", "sadness", "neutral"])
    summary = extract_corpus(manifest, backbone, tmp_path / "features", corpus="demo", language="en",
                             batch_size=2, shard_size=2, log=lambda m: None)
    assert summary.status == "written" and summary.n_done == 3
    assert {Path(p).name: r for _, p, r in summary.skipped}.keys() == {"lfs.wav", "junk.wav", "short.wav"}
    assert "git-lfs pointer" in dict((Path(p).name, r) for _, p, r in summary.skipped)["lfs.wav"]
    path = tmp_path / "features" / "demo" / "whisper-tiny.en-random.h5"
    assert summary.path == path and find_caches(tmp_path / "features") == [path]
    assert not (tmp_path / "features" / "demo" / "whisper-tiny.en-random.h5.partial").exists()
    with h5py.File(path, "r") as h5:
        assert h5.attrs["schema"] == SCHEMA and bool(h5.attrs["complete"])
        assert h5.attrs["n_layers"] == 5 and h5.attrs["dim"] == 384 and h5.attrs["sample_rate"] == 16000
        assert h5.attrs["whisper_input"] == "pad30" and h5.attrs["frame_rate"] == 50.0
        assert sorted(h5["layers"]) == [f"{l:02d}" for l in range(5)]
        assert h5["layers/03"].dtype == np.float16 and h5["layers/03"].compression is None
        assert h5["pooled/mean"].dtype == np.float32 and h5["pooled/mean"].shape == (3, 5, 384)
        assert [r for r in h5["skipped/reason"].asstr()[()]][0].startswith("git-lfs pointer")
    with FeatureCache(path) as cache:
        u = cache.utterances
        assert list(u["id"]) == ["g0", "g1", "g2"]  # manifest order, broken clips removed
        assert list(u["n_frames"]) == [30, 65, 45] == [backbone.n_frames(int(d * 16000)) for d in (0.6, 1.3, 0.9)]
        assert list(u["offset"]) == [0, 30, 95] and cache.total_frames == 140
        np.testing.assert_allclose(u["duration"], [0.6, 1.3, 0.9], atol=1e-3)
        for i in range(3):  # pooled = mean over exactly the utterance's frames, for every layer
            for layer in range(5):
                frames = cache.frames(i, layer).astype(np.float32)
                np.testing.assert_allclose(cache.pooled()[i, layer], frames.mean(axis=0), atol=2e-3, rtol=2e-3)
        direct = backbone.extract([np.asarray(__import__("extract.audio").audio.load_audio(good[1]))])[0]
        np.testing.assert_allclose(cache.frames(1, 4).astype(np.float32), direct[4], atol=2e-2, rtol=1e-2)
        assert cache.identity()["checkpoint"] == "random(seed=0)" and cache.identity()["corpus"] == "demo"


def test_complete_cache_is_left_alone_and_force_redoes(tmp_path: Path, write_wav, backbone) -> None:
    paths = [write_wav(tmp_path / f"c{i}.wav", seconds=0.5, seed=i) for i in range(2)]
    manifest = _manifest(paths, ["anger", "sadness"])
    first = extract_corpus(manifest, backbone, tmp_path / "f", corpus="c", log=lambda m: None)
    created = os.stat(first.path).st_mtime_ns
    again = extract_corpus(manifest, backbone, tmp_path / "f", corpus="c", log=lambda m: None)
    assert again.status == "exists" and again.n_done == 0 and os.stat(first.path).st_mtime_ns == created
    forced = extract_corpus(manifest, backbone, tmp_path / "f", corpus="c", force=True, log=lambda m: None)
    assert forced.status == "written" and forced.n_done == 2


def test_clip_longer_than_30s_is_kept_whole(tmp_path: Path, write_wav, backbone) -> None:
    path = write_wav(tmp_path / "long.wav", seconds=41.0, sample_rate=22050)
    summary = extract_corpus(_manifest([path], ["neutral"]), backbone, tmp_path / "f", corpus="l", log=lambda m: None)
    with FeatureCache(summary.path) as cache:
        assert int(cache.utterances["n_frames"][0]) == 2050 and cache.total_frames == 2050


def _emodb_tree(root: Path, write_wav) -> None:
    for i, name in enumerate(EMODB_NAMES):
        write_wav(root / "emodb" / "wav" / f"{name}.wav", seconds=0.8 + 0.15 * i, seed=i, freq=150 + 20 * i)


def _extract_cmd(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "probe.cli", "extract", "--model", "whisper-tiny.en", "--weights", "random",
            "--corpus", "emodb", "--data-root", str(data), "--out", str(out), "--shard-size", "2",
            "--batch-size", "2", "--device", "cpu"]


def _read_all(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        out: dict[str, np.ndarray] = {}
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


@pytest.mark.slow
def test_killed_extraction_resumes_to_the_same_cache(tmp_path: Path, write_wav) -> None:
    _emodb_tree(tmp_path / "data", write_wav)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = subprocess.run(_extract_cmd(tmp_path / "data", tmp_path / "ref"), env=env, capture_output=True,
                               text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    partial = out / "emodb" / "whisper-tiny.en-random.h5.partial"
    proc = subprocess.Popen(_extract_cmd(tmp_path / "data", out), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (partial / "shard-00001.h5").exists():
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    final = out / "emodb" / "whisper-tiny.en-random.h5"
    assert (partial / "shard-00001.h5").exists() and not (partial / "shard-00005.h5").exists()
    assert not cache_status(final).complete and find_caches(out) == []  # a partial cache never looks complete
    with pytest.raises(CacheError):
        FeatureCache(final)
    resumed = subprocess.run(_extract_cmd(tmp_path / "data", out), env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr and "resumed" in resumed.stderr
    ref, got = _read_all(tmp_path / "ref" / "emodb" / "whisper-tiny.en-random.h5"), _read_all(final)
    assert ref.keys() == got.keys()
    for name in ref:
        np.testing.assert_array_equal(ref[name], got[name], err_msg=name)
    again = subprocess.run(_extract_cmd(tmp_path / "data", out), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "nothing to do" in again.stderr
