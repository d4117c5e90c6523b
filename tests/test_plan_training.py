"""The training half of ``probe plan``: the arithmetic of a run's time from known rates, rates measured by the real
training code for every head, estimates proportional to the cache, and the command end to end (``--probes``,
``--seeds``, ``--paper``)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract.corpora import BENCHMARK
from extract.plan import CachePlan
from probe.cli import app
from probe.run.train_plan import (SHARES, CacheShape, HeadRate, applies, estimate, measure_rate, run_seconds,
                                  shape_of, total_hours, units_of)
from probe.train.presets import make_config

HEADS = ("linear", "nonlinear", "multilayer", "attention", "layerwise")
EMODB_NAMES = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta", "10a04La", "11b01Ea"]


def _plan(clips: int, frames: int, corpus: str = "emodb") -> CachePlan:
    return CachePlan(corpus, "m", Path("/nonexistent/m.h5"), clips, clips * 3.0, frames, clips, 0, 0, False)


def _rate(probe: str, unit: str, train: float, evaluate: float) -> HeadRate:
    return HeadRate(probe, CacheShape(13, 768, 150), unit, train, evaluate, 5, 5, "cpu")


def test_run_time_from_known_rates() -> None:
    assert SHARES == (0.8, 0.1, 0.1)  # the holdout protocol of probe.run.splits
    rate = _rate("nonlinear", "frame", train=100.0, evaluate=1000.0)
    # 30 × (800 / 100 + 100 / 1000) + (100 + 100) / 1000
    assert run_seconds(rate, 1000, epochs=30) == pytest.approx(243.2, abs=1e-9)
    plan = _plan(clips=10, frames=1000)
    three = estimate(plan, "nonlinear", rate, runs=3, epochs=30)
    assert (three.units, three.runs) == (1000, 3) and three.seconds == pytest.approx(729.6, abs=1e-9)
    pooled = estimate(plan, "linear", _rate("linear", "clip", 2.0, 10.0), runs=2, epochs=10)
    # pooled heads cost per clip: 2 × (10 × (8 / 2 + 1 / 10) + 2 / 10)
    assert pooled.units == 10 and pooled.seconds == pytest.approx(82.4, abs=1e-9)
    assert total_hours([three, pooled]) == pytest.approx((729.6 + 82.4) / 3600)
    assert units_of("multilayer", plan) == 1000 and units_of("layerwise", plan) == 10
    assert shape_of(13, 768, [_plan(10, 1000), _plan(30, 1000)]) == CacheShape(13, 768, 50)
    assert not applies("multilayer", CacheShape(1, 88, 1)) and applies("layerwise", CacheShape(1, 88, 1))


@pytest.mark.parametrize("probe", HEADS)
def test_measured_rates_are_positive_and_finite(probe: str) -> None:
    config = make_config("paper", device="cpu", batch_size=4)
    rate = measure_rate(probe, CacheShape(3, 16, 5), config, batches=2, warmup=1, min_seconds=0.0)
    assert rate.unit == ("clip" if probe in ("linear", "layerwise") else "frame")
    assert rate.train_batches >= 2 and rate.eval_batches >= 2 and rate.device == "cpu"
    for value in (rate.train_per_s, rate.eval_per_s):
        assert value > 0 and math.isfinite(value)


def test_a_bigger_cache_takes_proportionally_longer() -> None:
    config = make_config("paper", device="cpu", batch_size=4, epochs=3)
    rate = measure_rate("nonlinear", CacheShape(3, 16, 5), config, batches=2, warmup=1, min_seconds=0.0)
    small = estimate(_plan(100, 500), "nonlinear", rate, runs=2, epochs=config.epochs)
    big = estimate(_plan(300, 1500), "nonlinear", rate, runs=2, epochs=config.epochs)
    assert small.seconds > 0 and big.seconds == pytest.approx(3 * small.seconds, rel=1e-12)


def _emodb(root: Path, write_wav) -> Path:
    for i, name in enumerate(EMODB_NAMES):
        write_wav(root / "emodb" / "wav" / f"{name}.wav", seconds=0.7 + 0.3 * i, seed=i, sample_rate=22050)
    return root


def test_probe_plan_with_probes_prints_the_training_table(tmp_path: Path, write_wav) -> None:
    data = _emodb(tmp_path / "data", write_wav)
    done = CliRunner().invoke(app, ["plan", "--model", "whisper-tiny.en", "--corpus", "emodb", "--data-root",
                                    str(data), "--out", str(tmp_path / "features"), "--time-clips", "1", "--device",
                                    "cpu", "--whisper-input", "trim", "--probes", "all", "--seeds", "0,1",
                                    "--train-batches", "1"])
    assert done.exit_code == 0, done.output
    text = done.output
    assert "Extraction plan" in text and "Training plan: paper preset, 30 epochs, batch 32, seeds 0,1" in text
    for probe in HEADS:
        assert re.search(rf"emodb\s+│ whisper-tiny\.en\s+│ {probe}\s+│\s+2 │", text), probe
        assert re.search(rf"  {probe} on 5 × 384\b.*: train [\d,]+ (frame|clip)s/s, evaluate", text), probe
    assert "device-hours, measured on this machine (training on cpu (" in text and "1 thread" in text
    assert re.search(r"extraction still to do: \d+ s on cpu", text)
    assert re.search(r"training: \d+ s \(10 runs\)", text) and re.search(r"grid total: \d+ s", text)


def test_probe_plan_paper_names_the_corpora_left_out(tmp_path: Path, write_wav) -> None:
    data = _emodb(tmp_path / "data", write_wav)
    done = CliRunner().invoke(app, ["plan", "--paper", "--data-root", str(data), "--out", str(tmp_path / "f"),
                                    "--time-clips", "0", "--device", "cpu", "--train-batches", "1"])
    assert done.exit_code == 0, done.output
    text = done.output
    others = [key for key in BENCHMARK if key != "emodb"]
    assert f"not found under {data}: {', '.join(others)} (8 of 9 corpora" in text
    assert "AST baseline" in text and "seeds 0,1,2" in text
    for model in ("wav2vec2-base", "wav2vec2-large", "whisper-small.en", "xls-r-300m", "whisper-small",
                  "whisper-medium"):
        for probe in ("linear", "nonlinear", "multilayer"):
            assert re.search(rf"│ {re.escape(model)}\s+│ {probe}\s+│\s+3 │", text), (model, probe)
    assert "attention" not in text and "training: " in text and "(54 runs)" in text
    assert "not timed (--time-clips 0)" in text and "(training only: extraction not timed)" in text


def test_probe_plan_refuses_unclear_requests(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["plan", "--data-root", str(tmp_path), "--device", "cpu"]
    for args, hint in ((["--paper", "--model", "whisper-small"], "--paper"),
                       (["--model", "x", "--seeds", "2"], "--seeds"),
                       (["--model", "whisper-tiny.en", "--probes", "ast"], "--probes"), ([], "--model")):
        done = runner.invoke(app, [*base, *args])
        assert done.exit_code == 2 and hint in done.output, (args, done.output)
