"""The cache's on-disk layout and reads: contiguous layers without padding, whole-layer and block reads into one
array, older chunked caches still read the same, and the merge process (small, its failures reported)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from extract import shards
from extract.cache import FeatureCache, cache_status, write_cache_from_states
from extract.guards import NoUsableClipsError
from extract.shards import MergeDied, merge_in_child, write_shard

N_STATES, DIM = 3, 8


def _states(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((N_STATES, int(n), DIM)).astype(np.float32) for n in rng.integers(3, 40, size=9)]


def _write(path: Path, states: list[np.ndarray]) -> Path:
    table = pd.DataFrame({"id": [f"u{i}" for i in range(len(states))], "label": ["a", "b", "c"] * 3,
                          "speaker": ["s1", "s2", "s3"] * 3, "gender": ["f"] * 9, "duration": [1.0] * 9})
    write_cache_from_states(path, {"corpus": "c", "model": "m"}, table, states)
    return path


def _rechunk(src: Path, dst: Path, chunk: int) -> Path:
    """A copy of ``src`` whose layers are chunked along frames, as caches were written before."""
    with h5py.File(src, "r") as a, h5py.File(dst, "w") as b:
        for key, value in a.attrs.items():
            b.attrs[key] = value
        for name in a:
            if name != "layers":
                a.copy(a[name], b, name=name)
        for name, data in a["layers"].items():
            b.create_dataset(f"layers/{name}", data=data[()], chunks=(chunk, DIM))
    return dst


def test_layers_are_contiguous_and_take_exactly_their_bytes(tmp_path: Path) -> None:
    states = _states()
    path = _write(tmp_path / "c.h5", states)
    total = sum(s.shape[1] for s in states)
    with h5py.File(path, "r") as h5:
        for l in range(N_STATES):
            data = h5[f"layers/{l:02d}"]
            assert data.chunks is None and data.compression is None
            assert data.id.get_storage_size() == total * DIM * 2  # float16, no padding of a last chunk
    chunked = _rechunk(path, tmp_path / "old.h5", 64)
    assert os.path.getsize(chunked) > os.path.getsize(path)  # what the padding cost: 3 × 64 frames > total


@pytest.mark.parametrize("chunk", [None, 16])
def test_reads_match_the_states_in_contiguous_and_chunked_caches(tmp_path: Path, chunk: int | None) -> None:
    states = _states(1)
    path = _write(tmp_path / "c.h5", states)
    if chunk:
        path = _rechunk(path, tmp_path / "old.h5", chunk)
    want = [np.concatenate([s[l] for s in states]).astype(np.float16) for l in range(N_STATES)]
    with FeatureCache(path) as cache:
        assert cache_status(path).complete
        assert np.array_equal(cache.layer(-1), want[-1]) and cache.layer(0).flags.c_contiguous
        assert cache.layer(1).shape == (cache.total_frames, DIM) and cache.layer(1).dtype == np.float16
        everything = cache.load_all()
        assert everything.shape == (cache.total_frames, N_STATES, DIM)
        for l in range(N_STATES):
            assert np.array_equal(everything[:, l], want[l])
        offsets = cache.utterances["offset"].to_numpy()
        for start, stop, layers in ((2, 5, [2, 0]), (4, 5, [1]), (0, 9, None), (7, 100, [-1, 1])):
            block = cache.frames_block(start, stop, layers)
            first = offsets[start]
            last = first + sum(s.shape[1] for s in states[start:stop])
            chosen = range(N_STATES) if layers is None else [l % N_STATES for l in layers]
            assert np.array_equal(block, np.stack([want[l][first:last] for l in chosen], axis=1))
        assert cache.frames_block(5, 5, [0]).shape == (0, 1, DIM)
        assert np.array_equal(cache.frames(3, 2), states[3][2].astype(np.float16))


def test_the_merge_process_imports_neither_torch_nor_pandas() -> None:
    code = "import sys, extract.merge_child; print(sorted({'torch', 'pandas'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def _partial(tmp_path: Path, states: list[np.ndarray], skipped: list[tuple[int, str]]) -> tuple[Path, pd.DataFrame]:
    partial = tmp_path / "m.h5.partial"
    partial.mkdir()
    n = len(states) + len(skipped)
    manifest = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "path": pd.Series([f"/corpus/u\udcff{i}.wav" for i in range(n)], dtype=object),
                             "label": ["a"] * n, "speaker": ["s"] * n, "gender": ["m"] * n})
    write_shard(partial / "shard-00000.h5", list(range(len(states))), states, [1.0] * len(states), skipped,
                N_STATES, DIM, [])
    return partial, manifest


def test_merge_in_child_writes_the_cache_and_reports_skips(tmp_path: Path) -> None:
    states = _states(2)[:3]
    partial, manifest = _partial(tmp_path, states, [(3, "cannot be decoded")])
    path = tmp_path / "m.h5"
    skipped, notes = merge_in_child(partial, path, manifest, {"corpus": "c", "model": "m"}, N_STATES, DIM, 1,
                                    [("x", "/corpus/x.txt", "not audio")])
    assert skipped == [("x", "/corpus/x.txt", "not audio"), ("u3", "/corpus/u\\xff3.wav", "cannot be decoded")]
    assert notes == []
    with FeatureCache(path) as cache:
        assert list(cache.utterances["id"]) == ["u0", "u1", "u2"] and len(cache.skipped()) == 2
        assert np.array_equal(cache.layer(1), np.concatenate([s[1] for s in states]).astype(np.float16))
    assert not path.with_suffix(".h5.tmp").exists()


def test_merge_errors_cross_back_whole(tmp_path: Path) -> None:
    partial, manifest = _partial(tmp_path, [], [(0, "silent"), (1, "silent")])
    with pytest.raises(NoUsableClipsError, match="no clip of c could be used") as info:
        merge_in_child(partial, tmp_path / "m.h5", manifest, {"corpus": "c"}, N_STATES, DIM, 1, [])
    assert [r[0] for r in info.value.skipped] == ["u0", "u1"]
    with pytest.raises(OSError, match="shard-00001.h5"):  # a missing shard: h5py's own error, raised here
        merge_in_child(partial, tmp_path / "m.h5", manifest, {"corpus": "c"}, N_STATES, DIM, 2, [])


def test_a_merge_process_that_crashes_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial, manifest = _partial(tmp_path, _states(3)[:2], [])
    tmp = tmp_path / "m.h5.tmp"
    crash = f"open({str(tmp)!r}, 'wb').write(b'half'); import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    monkeypatch.setattr(shards, "_child_command", lambda: [sys.executable, "-c", crash])
    with pytest.raises(MergeDied, match=r"died \(signal SIGSEGV.*shards are kept in .*rerun"):
        merge_in_child(partial, tmp_path / "m.h5", manifest, {"corpus": "c"}, N_STATES, DIM, 1, [])
    assert not tmp.exists() and not (tmp_path / "m.h5").exists()
