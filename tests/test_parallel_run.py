"""``probe run --jobs N``: caches trained in worker processes give the records of one process."""

from __future__ import annotations

from pathlib import Path

import pytest

from probe.run.runner import run_all
from probe.run.selection import RunSelection
from probe.run.spec import RunJob
from probe.train.presets import make_config
from tests.probe_caches import make_cache
from tests.records_factory import written_records

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` skips it, CI runs it


class _Events:
    def __init__(self) -> None:
        self.begun: list[str] = []
        self.ended: list[str] = []

    def planned(self, total: int, pending: int, issues: object) -> None:
        pass

    def started(self, spec) -> None:  # noqa: ANN001 - RunSpec
        self.begun.append(spec.label)

    def finished(self, outcome) -> None:  # noqa: ANN001 - RunOutcome
        self.ended.append(outcome.spec.label)


def test_jobs_give_the_records_of_one_process(tmp_path: Path) -> None:
    features = tmp_path / "features"
    for corpus, seed in (("alpha", 0), ("beta", 1), ("gamma", 2)):
        make_cache(features / corpus / "whisper-tiny.h5", corpus=corpus, n_states=3, dim=8, per_label=2, seed=seed)
    config = make_config("paper", device="cpu", epochs=2, batch_size=4)
    one = run_all(RunJob(features, tmp_path / "one", seeds="0,1", config=config),
                  RunSelection(probes="linear,multilayer"))
    events = _Events()
    many = run_all(RunJob(features, tmp_path / "many", seeds="0,1", config=config),
                   RunSelection(probes="linear,multilayer"), events, jobs=2)
    assert one.count("trained") == many.count("trained") == 12, [o.message for o in many.outcomes]
    assert [o.spec.path.relative_to(tmp_path / "many") for o in many.outcomes] == \
        [o.spec.path.relative_to(tmp_path / "one") for o in one.outcomes]  # outcomes in plan order
    assert sorted(events.begun) == sorted(events.ended) and len(events.ended) == 12  # progress came back
    a, b = written_records(tmp_path / "one"), written_records(tmp_path / "many")
    assert a.keys() == b.keys() and len(a) == 12
    for key in a:
        assert a[key] == b[key], key
    assert (tmp_path / "many" / "leaderboard.csv").is_file()


def test_probe_run_jobs_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from probe.cli import app

    features = tmp_path / "features"
    for corpus in ("alpha", "beta"):
        make_cache(features / corpus / "whisper-tiny.h5", corpus=corpus, n_states=3, dim=8, per_label=2)
    result = CliRunner().invoke(app, ["run", "--all", "--features", str(features), "--results", str(tmp_path / "r"),
                                      "--probes", "linear", "--seeds", "0,", "--epochs", "2", "--jobs", "2",
                                      "--device", "cpu"],  # CPU workers: with CUDA present each would start it
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "r" / "runs").rglob("seed0.json"))) == 2
    help_text = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--jobs" in help_text and "same records" in help_text
