"""Broken caches never stop good ones and are always named; `probe run` exits non-zero when nothing trains; the
leaderboard write fails cleanly on a full disk and keeps the previous leaderboard."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from extract.cache import CacheError, FeatureCache, scan_caches
from probe.cli import app
from probe.results.leaderboard import LEADERBOARD_FILE, LeaderboardError, write_leaderboard
from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.presets import make_config
from tests.probe_caches import make_cache, one_thread  # noqa: F401  (one_thread: a fixture)
from tests.tmpfs import fill, mountable, tmpfs

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"n_states": 3, "dim": 8, "per_label": 2, "labels": ("anger", "sadness"), "n_speakers": 6}


def _edit(path: Path, edit) -> Path:  # noqa: ANN001
    with h5py.File(path, "r+") as h5:
        edit(h5)
    return path


def _broken_features(root: Path) -> dict[str, str]:
    """A features folder: one good cache and one of each kind of broken cache; model name → expected words."""
    good = make_cache(root / "synth" / "good.h5", model="good", **SMALL)
    expected: dict[str, str] = {}

    def copy(name: str) -> Path:
        return Path(shutil.copy(good, root / "synth" / f"{name}.h5"))

    data = good.read_bytes()
    (root / "synth" / "truncated.h5").write_bytes(data[: len(data) // 2])
    expected["truncated"] = "truncated or damaged HDF5"
    (root / "synth" / "nothdf5.h5").write_text("this is a CSV file,\n1,2\n")
    expected["nothdf5"] = "not an HDF5 file"
    (root / "synth" / "empty.h5").write_bytes(b"")
    expected["empty"] = "empty file"
    _edit(copy("incomplete"), lambda h5: h5.attrs.__setitem__("complete", False))
    expected["incomplete"] = "marked incomplete"
    _edit(copy("schema"), lambda h5: h5.attrs.__setitem__("schema", "ser-probe-cache/0"))
    expected["schema"] = "schema 'ser-probe-cache/0'"
    _edit(copy("nolayer"), lambda h5: h5.__delitem__("layers/01"))
    expected["nolayer"] = "missing dataset layers/01"
    _edit(copy("nolabel"), lambda h5: h5.__delitem__("utterances/label"))
    expected["nolabel"] = "missing dataset(s) utterances/label"
    _edit(copy("nopooled"), lambda h5: h5.__delitem__("pooled"))
    expected["nopooled"] = "missing dataset pooled/mean"

    def shift_offsets(h5: h5py.File) -> None:
        h5["utterances/offset"][5] += 3

    _edit(copy("offsets"), shift_offsets)
    expected["offsets"] = "inconsistent offsets: utterance 5"

    def poison(h5: h5py.File) -> None:
        pooled = h5["pooled/mean"][()]
        pooled[4, 2, 1] = np.nan
        h5["pooled/mean"][...] = pooled

    _edit(copy("nan"), poison)
    expected["nan"] = "layer 2 holds NaN or inf"
    (root / "synth" / "interrupted.h5.partial").mkdir()
    expected["interrupted"] = "interrupted extraction"
    return expected


def test_scan_names_every_broken_cache_and_keeps_the_good_one(tmp_path: Path) -> None:
    expected = _broken_features(tmp_path)
    good, issues = scan_caches(tmp_path)
    assert good == [tmp_path / "synth" / "good.h5"]
    found = {path.stem: reason for path, reason in issues}
    assert found.keys() == expected.keys()
    for name, words in expected.items():
        assert words in found[name], (name, found[name])


def test_probe_run_trains_the_good_cache_and_names_the_others(tmp_path: Path) -> None:
    expected = _broken_features(tmp_path / "features")
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, [
        "run", "--features", str(tmp_path / "features"), "--results", str(tmp_path / "results"),
        "--probes", "linear", "--seeds", "0,", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 1," in result.output.replace("\n", " ")
    for name, words in expected.items():
        assert f"{name}.h5" in result.output and words in result.output, name
    records = sorted(p.relative_to(tmp_path / "results") for p in (tmp_path / "results" / "runs").rglob("*.json"))
    assert records and all("good" in str(p) for p in records)  # nothing written from a broken cache


def test_frames_with_inf_fail_the_frame_probes_naming_the_layer(tmp_path: Path) -> None:
    path = make_cache(tmp_path / "features" / "synth" / "m.h5", model="m", **SMALL)

    def overflow(h5: h5py.File) -> None:
        h5["layers/02"][7] = np.inf  # as fp16 storage of an overflowing value would; pooled means stay finite

    _edit(path, overflow)
    with FeatureCache(path) as cache:
        cache.validate()
        with pytest.raises(CacheError, match="layer 2 holds NaN or inf"):
            cache.check_frames()
    summary = run_all(RunJob(tmp_path / "features", tmp_path / "results", seeds="0,",
                             config=make_config("paper", epochs=2, device="cpu")),
                      RunSelection(probes="linear,nonlinear"))
    assert [o.status for o in summary.outcomes] == ["failed", "failed"]  # the cache is refused, not half-used
    assert all("layer 2 holds NaN or inf" in o.message for o in summary.outcomes)
    assert not (tmp_path / "results" / "runs").exists() or not list((tmp_path / "results" / "runs").rglob("*.json"))


def test_label_problems_are_named_and_nothing_trained_exits_non_zero(tmp_path: Path) -> None:
    features = tmp_path / "features"
    blank = make_cache(features / "blank" / "m.h5", corpus="blank", model="m", **SMALL)

    def empty_label(h5: h5py.File) -> None:
        labels = h5["utterances/label"].asstr()[()]
        labels[3] = ""
        del h5["utterances/label"]
        h5.create_dataset("utterances/label", data=list(labels), dtype=h5py.string_dtype("utf-8"))

    _edit(blank, empty_label)
    make_cache(features / "few" / "m.h5", corpus="few", model="m", **{**SMALL, "n_speakers": 2})
    runner = CliRunner(env={"COLUMNS": "300"})
    result = runner.invoke(app, ["run", "--features", str(features), "--results", str(tmp_path / "results"),
                                 "--probes", "linear", "--seeds", "0,", "--epochs", "2"])
    text = result.output.replace("\n", " ")
    assert result.exit_code == 1, result.output
    assert "1 utterance(s) have an empty label" in text and "an empty string is not a class" in text
    assert "classes 'anger' (4 clips, 2 speakers), 'sadness' (4 clips, 2 speakers) have too few" in text
    assert "nothing could be trained" in text
    shutil.rmtree(features / "blank")
    shutil.rmtree(features / "few")
    (features / "x").mkdir()
    (features / "x" / "m.h5").write_text("not a cache")
    result = runner.invoke(app, ["run", "--features", str(features), "--results", str(tmp_path / "results")])
    assert result.exit_code == 2 and "not usable: x/m.h5: not a usable cache: not an HDF5 file" in \
        result.output.replace("\n", " ")


def test_leaderboard_write_on_a_full_disk_keeps_the_previous_one(tmp_path: Path, monkeypatch) -> None:
    features, results = tmp_path / "features", tmp_path / "results"
    make_cache(features / "synth" / "m.h5", model="m", **SMALL)
    run_all(RunJob(features, results, seeds="0,", config=make_config("paper", epochs=2, device="cpu")),
            RunSelection(probes="linear"))
    board = results / LEADERBOARD_FILE
    before = board.read_bytes()
    assert before.count(b"\n") == 2
    run_all(RunJob(features, results, seeds="0,", config=make_config("paper", epochs=2, device="cpu")),
            RunSelection(probes="nonlinear"), write_board=False)
    real = pd.DataFrame.to_csv

    def full_disk(self, handle, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        handle.write("corpus,model,pro")  # a partial write, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    with pytest.raises(LeaderboardError, match=r"No space left on device \(the previous leaderboard is kept"):
        write_leaderboard(results)
    assert board.read_bytes() == before and not list(results.glob(".*.tmp"))
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    write_leaderboard(results)
    assert board.read_bytes().count(b"\n") == 3  # both probes, once there is space


def test_leaderboard_on_a_real_full_disk(tmp_path: Path) -> None:
    mountable(tmp_path)
    features = tmp_path / "features"
    make_cache(features / "synth" / "m.h5", model="m", **SMALL)
    config = make_config("paper", epochs=2, device="cpu")
    with tmpfs(tmp_path / "results", 2048) as results:
        run_all(RunJob(features, results, seeds="0,", config=config), RunSelection(probes="linear"))
        before = (results / LEADERBOARD_FILE).read_bytes()
        run_all(RunJob(features, results, seeds="0,", config=config), RunSelection(probes="nonlinear"),
                write_board=False)
        filler = results / "filler"
        fill(filler)  # the disk full to the last byte
        with pytest.raises(LeaderboardError, match="No space left on device"):
            write_leaderboard(results)
        assert (results / LEADERBOARD_FILE).read_bytes() == before and not list(results.glob(".*.tmp"))
        filler.unlink()
        write_leaderboard(results)
        assert (results / LEADERBOARD_FILE).read_bytes().count(b"\n") == 3
