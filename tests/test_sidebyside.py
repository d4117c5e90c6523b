"""The blocked batch plan, block-wise streaming, and seeds trained side by side on one read per epoch: the same
results as each seed alone and as the frames held in memory, bit for bit, records included."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from extract.cache import FeatureCache
from probe.data.batching import block_partition, count_blocks, plan_batches, plan_blocks, wanted_rows
from probe.data.cache_data import CacheData, training_batches
from probe.data.stream import StreamFrames
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.fit import fit_probe
from probe.train.heads import PROBES
from probe.train.presets import make_config
from probe.train.sidebyside import fit_side_by_side
from tests.probe_caches import make_cache, one_thread  # noqa: F401
from tests.records_factory import written_records


@pytest.fixture(autouse=True)
def _single_thread(one_thread: None) -> None:
    """Every test here runs torch on one thread."""


@pytest.fixture(scope="module")
def cache_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_cache(tmp_path_factory.mktemp("features") / "synth" / "whisper-tiny.h5", n_states=3, dim=8,
                      per_label=2)


@pytest.fixture
def cache(cache_file: Path) -> FeatureCache:
    with FeatureCache(cache_file) as handle:
        yield handle


def seed_parts(cache: FeatureCache, seed: int) -> dict[str, np.ndarray]:
    """A different speaker partition per seed (as the runner's splits are)."""
    speakers = sorted(cache.utterances["speaker"].unique())
    order = np.random.default_rng(seed).permutation(speakers)
    part = cache.utterances["speaker"].map({s: "val" if s == order[0] else "test" if s == order[1] else "train"
                                            for s in speakers}).to_numpy()
    return {p: np.flatnonzero(part == p) for p in ("train", "val", "test")}


def labels_of(cache: FeatureCache) -> np.ndarray:
    classes = sorted(cache.utterances["label"].unique())
    return cache.utterances["label"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)


# -- the plan ----------------------------------------------------------------------------------------------------


def test_one_block_is_exactly_plan_batches() -> None:
    lengths = np.random.default_rng(0).integers(5, 60, 200)
    rows = np.random.default_rng(1).permutation(200)[:150]  # any order: the plan keeps the rows' order
    partition = block_partition(lengths, 2 * 8, epoch=3, block_bytes=int(lengths.sum()) * 16)
    assert len(partition) == 1 and np.array_equal(partition[0], np.arange(200))
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):  # draw for draw, epoch after epoch
        blocked = plan_blocks(partition, rows, lengths, 16, a)
        plain = plan_batches(rows, lengths, 16, b)
        assert len(blocked) == 1 and len(blocked[0]) == len(plain)
        assert all(np.array_equal(x, y) for x, y in zip(blocked[0], plain))


def test_blocks_partition_every_row_within_the_byte_bound() -> None:
    lengths = np.random.default_rng(0).integers(5, 60, 300)
    per_frame, block_bytes = 4 * 8 * 2, 40_000
    total = int(lengths.sum()) * per_frame
    partition = block_partition(lengths, per_frame, epoch=1, block_bytes=block_bytes)
    assert len(partition) == count_blocks(total, block_bytes) == -(-total // block_bytes) > 3
    assert np.array_equal(np.sort(np.concatenate(partition)), np.arange(300))
    assert all(int(lengths[p].sum()) * per_frame <= block_bytes + int(lengths.max()) * per_frame for p in partition)
    again = block_partition(lengths, per_frame, epoch=1, block_bytes=block_bytes)
    assert all(np.array_equal(x, y) for x, y in zip(partition, again))  # a pure function of (cache, epoch)
    other = block_partition(lengths, per_frame, epoch=2, block_bytes=block_bytes)
    assert not all(np.array_equal(x, y) for x, y in zip(partition, other))
    rows = np.arange(20, 260)
    plan = plan_blocks(partition, rows, lengths, 8, np.random.default_rng(0))
    assert sorted(np.concatenate([b for block in plan for b in block]).tolist()) == rows.tolist()
    for block, batches in zip(partition, plan):  # each seed's batches stay within their block
        assert all(np.isin(batch, block).all() for batch in batches)


# -- side by side == alone == memory -------------------------------------------------------------------------------


def _same(a, b) -> None:  # noqa: ANN001 - two TrainResults
    assert a.curves == b.curves and a.best_epoch == b.best_epoch
    assert np.array_equal(a.val.logits, b.val.logits) and np.array_equal(a.test.logits, b.test.logits)
    assert np.array_equal(a.test.embeddings, b.test.embeddings)
    sa, sb = a.head.state_dict(), b.head.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    counted = ("train_steps", "train_clips", "train_frames")  # the work metered is the same; its seconds are not
    assert [a.throughput[k] for k in counted] == [b.throughput[k] for k in counted]


@pytest.mark.parametrize("preset", ["paper", "standardized"])
@pytest.mark.parametrize("probe", ["nonlinear", "multilayer"])
def test_side_by_side_equals_each_seed_alone_and_the_memory_path(cache: FeatureCache, probe: str,
                                                                 preset: str) -> None:
    states = list(range(cache.n_states)) if PROBES[probe].all_states else [cache.n_states - 1]
    nbytes = cache.nbytes(states)
    config = replace(make_config(preset, device="cpu", epochs=3, batch_size=4), block_bytes=nbytes // 6)
    labels, seeds = labels_of(cache), [0, 1, 2]
    parts = [seed_parts(cache, s) for s in seeds]
    streamed = CacheData(cache, memory_budget=nbytes - 1)
    feed = streamed.frames(PROBES[probe].all_states)
    assert feed.mode == "stream" and len(feed.partition(1, config.block_bytes)) == 6
    together = fit_side_by_side(probe, feed, labels, parts, seeds, 4, config)
    held = CacheData(cache).frames(PROBES[probe].all_states)
    assert held.mode == "memory"
    for seed, part, result in zip(seeds, parts, together):
        alone = fit_probe(probe, feed, labels, part, 4, config, seed)
        in_memory = fit_probe(probe, held, labels, part, 4, config, seed)
        _same(result, alone)
        _same(result, in_memory)
    assert not np.array_equal(together[0].test.logits[:4], together[1].test.logits[:4])


def test_layer_lr_is_honoured_side_by_side_streamed_and_in_memory(cache: FeatureCache) -> None:
    """Issue 19: --layer-lr on every training path: the same weights, records and movement bound, and the logits
    really ran at their own rate (the bound is 100 times the single rate's)."""
    nbytes = cache.nbytes()
    config = replace(make_config("paper", device="cpu", epochs=3, batch_size=4, layer_lr=0.05), block_bytes=nbytes // 6)
    labels, seeds = labels_of(cache), [0, 1]
    parts = [seed_parts(cache, s) for s in seeds]
    feed = CacheData(cache, memory_budget=nbytes - 1).frames(True)
    assert feed.mode == "stream"
    together = fit_side_by_side("multilayer", feed, labels, parts, seeds, 4, config)
    held = CacheData(cache).frames(True)
    for seed, part, result in zip(seeds, parts, together):
        in_memory = fit_probe("multilayer", held, labels, part, 4, config, seed)
        _same(result, in_memory)
        assert result.logit_bound == in_memory.logit_bound and result.logit_bound is not None
        single = fit_probe("multilayer", held, labels, part, 4,
                           replace(config, layer_lr=None), seed)
        assert result.logit_bound.bound == pytest.approx(100 * single.logit_bound.bound)


def test_blocked_plan_differs_from_one_block_but_trains_every_row(cache: FeatureCache) -> None:
    feed = CacheData(cache).frames(True)
    rows = seed_parts(cache, 0)["train"]
    one = [b for b, _, _ in training_batches(feed, rows, 4, np.random.default_rng(0), 1, 2**30)]
    many = [b for b, _, _ in training_batches(feed, rows, 4, np.random.default_rng(0), 1, cache.nbytes() // 6)]
    assert sorted(np.concatenate(one).tolist()) == sorted(np.concatenate(many).tolist()) == sorted(rows.tolist())
    assert [b.tolist() for b in one] != [b.tolist() for b in many]


# -- bytes read, memory bound, non-finite frames ------------------------------------------------------------------


def test_side_by_side_reads_each_block_once_for_all_seeds(cache: FeatureCache) -> None:
    everything = list(range(cache.n_states))
    block_bytes = cache.nbytes() // 8
    plans, per_seed = [], []
    for seed in (0, 1, 2):
        source = StreamFrames(cache, everything)
        partition = source.partition(1, block_bytes)
        plan = plan_blocks(partition, seed_parts(cache, seed)["train"], source.lengths, 4,
                           np.random.default_rng(seed))
        plans.append(plan)
        for _ in source.block_pass(partition, wanted_rows([plan], len(partition))):
            pass
        per_seed.append(source.bytes_read)
    shared = StreamFrames(cache, everything)
    for _ in shared.block_pass(partition, wanted_rows(plans, len(partition))):
        pass
    one_seed = per_seed[0]
    assert one_seed == pytest.approx(0.75 * cache.nbytes(), rel=0.2)  # its training rows, read once
    assert shared.bytes_read <= cache.nbytes()  # every row at most once for the three seeds
    assert sum(per_seed) > 2.5 * one_seed and shared.bytes_read < 1.5 * one_seed


def test_streaming_refuses_a_budget_below_two_blocks(cache: FeatureCache) -> None:
    config = replace(make_config("paper", device="cpu", epochs=1, batch_size=4), block_bytes=cache.nbytes() // 4)
    tight = CacheData(cache, memory_budget=cache.nbytes() // 3)  # two blocks need about half of it
    with pytest.raises(MemoryError, match="two blocks.*memory budget"):
        fit_probe("multilayer", tight.frames(True), labels_of(cache), seed_parts(cache, 0), 4, config, 0)


def test_streamed_frames_with_inf_name_the_layer(tmp_path: Path) -> None:
    path = make_cache(tmp_path / "synth" / "m.h5", n_states=3, dim=8, per_label=2)
    with h5py.File(path, "r+") as h5:
        h5["layers/01"][30] = np.inf
    with FeatureCache(path) as cache:
        from extract.cache import CacheError

        streamed = CacheData(cache, memory_budget=cache.nbytes() - 1)
        with pytest.raises(CacheError, match="layer 1 holds NaN or inf"):
            fit_side_by_side("multilayer", streamed.frames(True), labels_of(cache), [seed_parts(cache, 0)] * 2,
                             [0, 1], 4, make_config("paper", device="cpu", epochs=1))
        with pytest.raises(CacheError, match="layer 1 holds NaN or inf"):
            CacheData(cache).prepare(frames_last=False, frames_all=True)  # held: checked as loaded


# -- the runner: records ---------------------------------------------------------------------------------------------


def test_runner_records_side_by_side_equal_alone_and_memory(tmp_path: Path) -> None:
    features = tmp_path / "features"
    make_cache(features / "synth" / "whisper-tiny.h5", n_states=3, dim=8, per_label=2)
    with FeatureCache(features / "synth" / "whisper-tiny.h5") as cache:
        nbytes = cache.nbytes()
    config = replace(make_config("paper", device="cpu", epochs=2, batch_size=4), block_bytes=nbytes // 5)
    selection = RunSelection(probes="linear,multilayer")
    streamed = run_all(RunJob(features, tmp_path / "together", seeds="0,1,2", memory_budget=nbytes - 1,
                              config=config), selection)
    assert streamed.count("trained") == 6, [o.message for o in streamed.outcomes]
    alone = [run_all(RunJob(features, tmp_path / f"alone{s}", seeds=f"{s},", memory_budget=nbytes - 1,
                            config=config), selection) for s in (0, 1, 2)]
    held = run_all(RunJob(features, tmp_path / "held", seeds="0,1,2", config=config), selection)
    assert held.count("trained") == 6, [o.message for o in held.outcomes]
    together, memory = written_records(tmp_path / "together"), written_records(tmp_path / "held")
    single = {k: v for s in (0, 1, 2) for k, v in written_records(tmp_path / f"alone{s}").items()}
    assert len(together) == 6 and set(together) == set(single) == set(memory)
    for key, record in together.items():
        assert record == single[key], key
        if record["probe"] == "multilayer":
            assert record["config"]["data"] == "stream" and memory[key]["config"]["data"] == "memory"
            assert record["config"]["block_bytes"] == nbytes // 5
            memory[key]["config"]["data"] = "stream"
        assert record == memory[key], key
    assert all(o.status == "trained" for run in alone for o in run.outcomes)


def test_validation_rows_held_once_give_the_same_run_with_fewer_reads(cache: FeatureCache) -> None:
    config = replace(make_config("paper", device="cpu", epochs=3, batch_size=4), block_bytes=cache.nbytes() // 6)
    parts, labels = seed_parts(cache, 0), labels_of(cache)
    runs, reads = [], []
    for hold in (False, True):
        feed = StreamFrames(cache, list(range(cache.n_states)), budget=cache.nbytes() - 1)
        if hold:
            assert feed.hold(parts["val"], config.block_bytes) and feed.held_bytes > 0
        runs.append(fit_probe("multilayer", feed, labels, parts, 4, config, 0))
        reads.append(feed.bytes_read)
    _same(runs[0], runs[1])
    val_bytes = int(feed.lengths[parts["val"]].sum()) * feed.bytes_per_frame
    assert reads[0] - reads[1] == pytest.approx(3 * val_bytes, rel=1e-6)  # 4 reads of val (3 epochs + final) → 1
    assert not StreamFrames(cache, [0], budget=1).hold(parts["val"], config.block_bytes)  # no room: not held


def test_a_diverging_seed_stops_alone(cache: FeatureCache) -> None:
    """A seed whose loss turns non-finite is returned as its error; the others train on, as they would alone."""
    from probe.data.cache_data import MemoryFrames
    from probe.train.loop import NonFiniteLossError

    held = CacheData(cache).frames(True)
    data = held.data.copy()
    bad = 5
    data[held.offsets[bad]] = np.inf  # one frame of one utterance, held unchecked
    feed = MemoryFrames(data, held.offsets, held.lengths, held.states)
    good = seed_parts(cache, 1)
    good = {p: rows[rows != bad] for p, rows in good.items()}
    broken = {"train": np.union1d(good["train"], [bad]), "val": good["val"], "test": good["test"]}
    config = replace(make_config("paper", device="cpu", epochs=2, batch_size=4), block_bytes=cache.nbytes() // 4)
    labels = labels_of(cache)
    out = fit_side_by_side("multilayer", feed, labels, [broken, good], [0, 1], 4, config)
    assert isinstance(out[0], NonFiniteLossError) and "non-finite at epoch 1" in str(out[0])
    _same(out[1], fit_probe("multilayer", feed, labels, good, 4, config, 1))


def test_statistics_of_several_seeds_from_one_read(cache: FeatureCache) -> None:
    """Standardisation statistics of three seeds' training rows from one read of their union, bit-identical to
    each computed alone (and so to the frames held in memory)."""
    import probe.data.framestats

    everything = list(range(cache.n_states))
    rows = [seed_parts(cache, s)["train"] for s in (0, 1, 2)]
    previous = probe.data.framestats.STATS_CHUNK_BYTES
    probe.data.framestats.STATS_CHUNK_BYTES = cache.nbytes() // 5  # several chunks per seed, ending at other rows
    try:
        shared = StreamFrames(cache, everything)
        assert all(len(probe.data.framestats.chunk_rows(shared.lengths, r, 3 * cache.dim * 4)) > 4 for r in rows)
        shared.stats_shared(rows)
        union = np.unique(np.concatenate(rows))
        assert shared.bytes_read == int(shared.lengths[union].sum()) * shared.bytes_per_frame  # each row once
        held = CacheData(cache).frames(True)
        for r in rows:
            alone = StreamFrames(cache, everything).stats(r)
            mean, std = shared.stats(r)  # memoised: no further read
            assert torch.equal(mean, alone[0]) and torch.equal(std, alone[1])
            assert torch.equal(mean, held.stats(r)[0]) and torch.equal(std, held.stats(r)[1])
        assert shared.bytes_read == int(shared.lengths[union].sum()) * shared.bytes_per_frame
    finally:
        probe.data.framestats.STATS_CHUNK_BYTES = previous
