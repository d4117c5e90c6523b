"""Cross-corpus transfer (`probe transfer`): the matrix, the protocols, speaker separation, records, the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from extract.cache import FeatureCache
from probe.cli import app
from probe.data.transfer_data import TransferData
from probe.report.transfer import write_transfer
from probe.run.selection import RunSelection
from probe.run.spec import RunJob, TransferSetup
from probe.run.transfer import Task, TransferError, make_domains, plan_tasks, shared_classes, task_parts
from probe.run.transfer_run import run_transfer
from probe.train.presets import make_config
from tests.probe_caches import one_thread  # noqa: F401 - fixture
from tests.transfer_caches import transfer_cache

FAST = make_config("paper", epochs=8)
CHANCE = 25.0


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha and beta share the emotion signal; gamma's classes carry each other's signal (a derangement)."""
    root = tmp_path_factory.mktemp("transfer") / "features"
    transfer_cache(root / "alpha" / "whisper-tiny.h5", "alpha", seed=1, language="de")
    transfer_cache(root / "beta" / "whisper-tiny.h5", "beta", seed=2, language="it")
    transfer_cache(root / "gamma" / "whisper-tiny.h5", "gamma", seed=3, language="fa", permute=[1, 2, 3, 0])
    return root


def _records(summary) -> list[dict]:  # noqa: ANN001
    return [json.loads(p.read_text()) for p in summary.records]


def _cell(records: list[dict], train: str, test: str, probe: str = "linear") -> float:
    values = [r["metrics"]["test"]["macro_f1"] for r in records
              if r["transfer"]["train"] == train and r["corpus"] == test and r["probe"] == probe]
    assert values, (train, test)
    return float(np.mean(values))


def test_pair_matrix_transfers_shared_signal_only(features: Path, tmp_path: Path, one_thread: None) -> None:
    summary = run_transfer(RunJob(features, tmp_path, classes="4", seeds="0,1", config=FAST,
                                  transfer=TransferSetup(protocol="pair")), RunSelection(probes="linear,multilayer"))
    records = _records(summary)
    assert summary.count("trained") == 3 * 3 * 2 * 2 and summary.count("failed") == 0
    for probe in ("linear", "multilayer"):
        for a, b in [("alpha", "beta"), ("beta", "alpha"), ("alpha", "alpha"), ("gamma", "gamma")]:
            assert _cell(records, a, b, probe) >= 90, (a, b, probe)
        for a, b in [("alpha", "gamma"), ("beta", "gamma"), ("gamma", "alpha"), ("gamma", "beta")]:
            assert _cell(records, a, b, probe) <= CHANCE, (a, b, probe)
    rec = next(r for r in records if r["transfer"]["train"] == "alpha" and r["corpus"] == "beta")
    assert rec["transfer"]["stages"] == [["alpha"]] and rec["transfer"]["test_corpus"] == "beta"
    assert rec["transfer"]["train_corpora"] == ["alpha"] and rec["transfer"]["train_languages"] == ["de"]
    assert rec["classes"] == ["anger", "happiness", "neutral", "sadness"] and rec["config"]["class_set"] == "4"
    assert "transfer/runs/whisper-tiny/pair/alpha/beta/linear/" in str(next(
        p for p in summary.records if "alpha/beta/linear" in str(p)))
    # skip-if-recorded: the same call trains nothing
    again = run_transfer(RunJob(features, tmp_path, classes="4", seeds="0,1", config=FAST,
                                transfer=TransferSetup(protocol="pair")), RunSelection(probes="linear,multilayer"))
    assert again.count("trained") == 0 and again.count("skipped") == len(records)
    # the report puts the other protocols beside the in-domain diagonal; LaTeX marks the diagonal
    run_transfer(RunJob(features, tmp_path, classes="4", seeds="0,1", config=FAST,
                        transfer=TransferSetup(protocol="multilingual")), RunSelection(probes="linear"))
    report = write_transfer(tmp_path, tmp_path / "out", formats=("png",))
    protocols = next(p for p in report.tables if p.name.startswith("protocols_whisper-tiny_linear"))
    import pandas as pd

    table = pd.read_csv(protocols).set_index("test")
    assert list(table.columns) == ["classes", "in_domain", "pair_from_others", "multilingual"]  # issue 20: classes
    assert table.loc["alpha", "in_domain"] >= 90 and table.loc["gamma", "pair_from_others"] <= CHANCE
    tex = next(p for p in report.tables if p.name.startswith("matrix_whisper-tiny_linear") and p.suffix == ".tex")
    assert tex.read_text().count("\\textbf{") == 3


@pytest.mark.parametrize("protocol", ["pair", "leave-one-language-out", "multilingual", "sequential"])
def test_no_test_speaker_in_training(features: Path, tmp_path: Path, protocol: str, one_thread: None) -> None:
    summary = run_transfer(RunJob(features, tmp_path, classes="4", seeds="0,2", config=FAST,
                                  transfer=TransferSetup(protocol=protocol)), RunSelection(probes="linear"))
    records = _records(summary)
    assert records and summary.count("failed") == 0
    caches = {c: FeatureCache(features / c / "whisper-tiny.h5") for c in ("alpha", "beta", "gamma")}
    try:
        for rec in records:
            part = rec["split"]["partition"]
            assert not set(part["test"]) & (set(part["train"]) | set(part["val"])), rec["transfer"]
            # the predicted clips are the test domain's own test speakers
            table = caches[rec["corpus"]].utterances.set_index("id")
            assert set(table.loc[rec["predictions"]["id"], "speaker"]) == set(rec["predictions"]["speaker"])
            trained_on = {d for stage in rec["transfer"]["stages"] for d in stage}
            if protocol == "leave-one-language-out":
                assert rec["corpus"] not in trained_on and len(trained_on) == 2
            if protocol == "multilingual":
                assert trained_on == {"alpha", "beta", "gamma"}
            if protocol == "sequential":
                assert rec["transfer"]["stages"][-1] == [rec["corpus"]] and len(rec["transfer"]["n_train"]) == 2
    finally:
        for cache in caches.values():
            cache.close()
    if protocol == "multilingual":  # pooled training learns each corpus's own signal
        assert _cell(records, "all", "alpha") >= 90 and _cell(records, "all", "beta") >= 90


def test_leak_guard_and_class_space(features: Path) -> None:
    caches = [FeatureCache(features / c / "whisper-tiny.h5") for c in ("alpha", "beta")]
    try:
        domains = {d.name: d for d in make_domains(caches)}
        data = TransferData(caches)
        keys = (data.table["source"].astype(str) + ":" + data.table["speaker"]).to_numpy()
        task = Task("pair", (("alpha",),), ("alpha",), ("anger", "sadness"))
        rows = domains["alpha"].rows
        leaky = {"alpha": {"train": rows[:40], "val": rows[40:60], "test": rows[30:50]}}
        with pytest.raises(TransferError, match="test speaker"):
            task_parts(task, domains, leaky, keys, data.bases)
    finally:
        for cache in caches:
            cache.close()
    assert shared_classes([{"anger", "neutral", "sadness"}, {"anger", "happiness", "neutral", "sadness"}]) == (
        "anger", "neutral", "sadness")
    tasks, notes = plan_tasks("pair", list(domains.values()),
                              {"alpha": {"anger", "sadness", "neutral"}, "beta": {"anger", "fear"}})
    assert [(t.stages, t.tests, t.classes) for t in tasks] == [((("alpha",),), ("alpha",), ("anger", "neutral",
                                                                                         "sadness"))]
    assert len(notes) == 3 and all("shared class" in n for n in notes)


def test_corpus_without_a_class_uses_the_shared_ones(tmp_path: Path, one_thread: None) -> None:
    feats = tmp_path / "features"
    transfer_cache(feats / "alpha" / "whisper-tiny.h5", "alpha", seed=1)
    transfer_cache(feats / "greek" / "whisper-tiny.h5", "greek", seed=4, language="el",
                   labels=("anger", "happiness", "sadness"))
    summary = run_transfer(RunJob(feats, tmp_path / "r", classes="4", seeds="0,", config=FAST,
                                  transfer=TransferSetup(protocol="pair", train=["alpha"], test=["alpha", "greek"])),
                           RunSelection(probes="linear"))
    by_test = {r["corpus"]: r for r in _records(summary)}
    assert by_test["greek"]["classes"] == ["anger", "happiness", "sadness"]
    assert by_test["greek"]["config"]["class_set"] == "anger+happiness+sadness"
    assert by_test["alpha"]["classes"] == ["anger", "happiness", "neutral", "sadness"]
    assert by_test["greek"]["metrics"]["test"]["macro_f1"] >= 90


def test_language_groups_of_one_cache_and_report(tmp_path: Path, one_thread: None) -> None:
    """The synthetic corpus's languages as domains (its module names each id's language)."""
    feats = tmp_path / "features"
    langs = ["de", "de", "de", "it", "it", "it", "fa", "fa", "fa"]
    transfer_cache(feats / "synthetic" / "whisper-tiny.en.h5", "synthetic", seed=5, n_speakers=9, languages=langs,
                   model="whisper-tiny.en")
    with FeatureCache(feats / "synthetic" / "whisper-tiny.en.h5") as cache:
        assert [d.name for d in make_domains([cache], "language")] == ["synthetic-de", "synthetic-it",
                                                                         "synthetic-fa"]
    result = CliRunner().invoke(app, ["transfer", "--model", "whisper-tiny.en", "--group-by", "language",
                                      "--features", str(feats), "--results", str(tmp_path / "r"), "--probes",
                                      "linear", "--seeds", "1", "--epochs", "8"])
    assert result.exit_code == 0, result.output
    assert "9 transfer record(s) planned: 9 to train" in result.output
    assert "pooled heads (9 run(s)):" in result.output and "waiting for data" in result.output  # the meter's line
    report = write_transfer(tmp_path / "r", tmp_path / "out", formats=("png",))
    csv = next(p for p in report.tables if p.name.startswith("matrix_") and p.suffix == ".csv")
    assert csv.name.startswith("matrix_whisper-tiny.en_linear_paper-")  # a model name's dot is kept
    import pandas as pd

    matrix = pd.read_csv(csv)
    assert len(matrix) == 9 and matrix["diagonal"].sum() == 3 and (matrix["macro_f1_mean"] >= 90).all()
    assert set(matrix["train"]) == {"synthetic-de", "synthetic-it", "synthetic-fa"}
    assert any(p.suffix == ".png" and p.stat().st_size > 0 for p in report.figures)
    assert "English-only" in (csv.parent / "backbones.csv").read_text()
    assert "## Cross-lingual transfer" in report.markdown and "**" in report.markdown
    bad = CliRunner().invoke(app, ["transfer", "--model", "whisper-tiny.en", "--features", str(feats),
                                   "--results", str(tmp_path / "r"), "--train", "nowhere"])
    assert bad.exit_code == 2 and "unknown domain" in bad.output


def test_chained_frames_match_one_cache(features: Path) -> None:
    caches = [FeatureCache(features / c / "whisper-tiny.h5") for c in ("alpha", "beta")]
    try:
        data = TransferData(caches, memory_budget=1 << 30)
        source = data.frames(True)
        rows = np.arange(0, len(data.table), 3)
        seen = np.concatenate([b for b, _, _ in source.batches(rows, 7, np.random.default_rng(0))])
        assert sorted(seen.tolist()) == rows.tolist()
        mean, std = source.stats(rows)
        frames = []
        for r in rows:
            src = int(data.table["source"].iloc[r])
            local = int(r - data.bases[src])
            frames.append(caches[src].frames_block(local, local + 1).astype(np.float64))
        allf = torch.from_numpy(np.concatenate(frames))
        assert torch.allclose(mean.double(), allf.mean(0), atol=1e-3)
        assert torch.allclose(std.double(), allf.std(0, unbiased=False), atol=1e-3)
    finally:
        for cache in caches:
            cache.close()


def test_all_models_each_on_its_own_caches(tmp_path: Path, one_thread: None) -> None:
    feats = tmp_path / "features"
    for model, dim in (("whisper-tiny", 8), ("wav2vec2-base", 6)):
        transfer_cache(feats / "alpha" / f"{model}.h5", "alpha", seed=1, model=model, dim=dim)
        transfer_cache(feats / "beta" / f"{model}.h5", "beta", seed=2, model=model, dim=dim)
    result = CliRunner().invoke(app, ["transfer", "--all", "--features", str(feats), "--results", str(tmp_path / "r"),
                                      "--probes", "linear", "--seeds", "1", "--epochs", "4"])
    assert result.exit_code == 0, result.output
    records = [json.loads(p.read_text()) for p in (tmp_path / "r" / "transfer" / "runs").rglob("*.json")]
    assert sorted({r["model"] for r in records}) == ["wav2vec2-base", "whisper-tiny"] and len(records) == 8
    for rec in records:  # never a cache of another backbone
        assert rec["cache"]["model"] == rec["model"] and rec["cache"]["dim"] == (8 if "whisper" in rec["model"] else 6)
    mixed = [FeatureCache(feats / "alpha" / "whisper-tiny.h5"), FeatureCache(feats / "beta" / "wav2vec2-base.h5")]
    try:
        with pytest.raises(ValueError, match="never mixes backbones"):
            TransferData(mixed)
    finally:
        for cache in mixed:
            cache.close()


def test_relative_drop_compares_like_with_like(tmp_path: Path, one_thread: None) -> None:
    """Issue 20: leave-one-language-out with a corpus lacking neutral is 3-class everywhere; the drop divides by an
    in-domain run over those 3 classes (trained for the purpose), never by the 4-class diagonal."""
    import pandas as pd

    from probe.report.transfer import relative_drop
    from probe.run.transfer import IN_DOMAIN

    feats = tmp_path / "features"
    transfer_cache(feats / "alpha" / "whisper-tiny.h5", "alpha", seed=1, language="de")
    transfer_cache(feats / "greek" / "whisper-tiny.h5", "greek", seed=4, language="el",
                   labels=("anger", "happiness", "sadness"))
    three = ("anger", "happiness", "sadness")
    caches = [FeatureCache(feats / c / "whisper-tiny.h5") for c in ("alpha", "greek")]
    try:
        domains = make_domains(caches)
    finally:
        for cache in caches:
            cache.close()
    labels = {"alpha": {"anger", "happiness", "neutral", "sadness"}, "greek": set(three)}
    tasks, _ = plan_tasks("leave-one-language-out", domains, labels)
    # only alpha needs one: greek's own class space is already those 3 classes (the pair diagonal serves)
    assert [(t.train, t.tests, t.classes) for t in tasks if t.protocol == IN_DOMAIN] == [
        (("alpha",), ("alpha",), three)]
    pair_tasks, _ = plan_tasks("pair", domains, labels)  # greek → alpha is 3-class, alpha's diagonal 4-class
    assert [(t.train, t.classes) for t in pair_tasks if t.protocol == IN_DOMAIN] == [(("alpha",), three)]

    summary = run_transfer(RunJob(feats, tmp_path / "r", classes="4", seeds="0,", config=FAST,
                                  transfer=TransferSetup(protocol="leave-one-language-out")),
                           RunSelection(probes="linear"))
    records = _records(summary)
    reference = [r for r in records if r["transfer"]["protocol"] == IN_DOMAIN and r["corpus"] == "alpha"]
    assert len(reference) == 1 and reference[0]["classes"] == list(three)
    report = write_transfer(tmp_path / "r", tmp_path / "out", formats=("png",))
    table = pd.read_csv(next(p for p in report.tables if p.name.startswith("protocols_"))).set_index("test")
    assert table.loc["alpha", "classes"] == "+".join(three)
    assert table.loc["alpha", "in_domain"] == pytest.approx(reference[0]["metrics"]["test"]["macro_f1"], abs=0.01)

    pair = pd.DataFrame({"train": ["alpha", "greek"], "test": ["alpha", "alpha"], "macro_f1_mean": [90.0, 60.0],
                         "classes": ["+".join(sorted(labels["alpha"])), "+".join(three)]})
    assert np.isnan(relative_drop(pair)["drop_pct"].iloc[0])  # no 3-class in-domain score: no drop
    drop = relative_drop(pair, {("alpha", "+".join(three)): 80.0})
    assert drop["drop_pct"].iloc[0] == pytest.approx(25.0)


def test_canadian_french_apart_from_french_when_asked(tmp_path: Path, one_thread: None) -> None:
    feats = tmp_path / "features"
    for name, language, seed in (("cafe", "fr-CA", 1), ("oreau", "fr", 2), ("alpha", "de", 3)):
        transfer_cache(feats / name / "whisper-tiny.h5", name, seed=seed, language=language)
    caches = [FeatureCache(feats / c / "whisper-tiny.h5") for c in ("cafe", "oreau", "alpha")]
    try:
        labels = {c.corpus: {"anger", "happiness", "neutral", "sadness"} for c in caches}
        merged, _ = plan_tasks("leave-one-language-out", make_domains(caches), labels)
        apart, _ = plan_tasks("leave-one-language-out", make_domains(caches, regional=True), labels)
    finally:
        for cache in caches:
            cache.close()
    assert {(t.train, t.tests) for t in merged} == {(("alpha",), ("cafe", "oreau")), (("cafe", "oreau"), ("alpha",))}
    assert (("oreau", "alpha"), ("cafe",)) in {(t.train, t.tests) for t in apart}
    setup = TransferSetup(protocol="leave-one-language-out", test=["cafe"], regional=True)
    summary = run_transfer(RunJob(feats, tmp_path / "r", classes="4", seeds="0,", config=FAST, transfer=setup),
                           RunSelection(probes="linear"))
    (record,) = _records(summary)
    assert record["transfer"]["regional"] is True and record["transfer"]["train_languages"] == ["de", "fr"]
    assert record["transfer"]["test_language"] == "fr-ca"
