"""The extraction engine (`extract.engine`): called as run_extraction(job, selection, listener), it reports every
step to the listener and prints nothing itself; it needs neither typer nor rich."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py

from extract.backbones import load_backbone
from extract.cache_format import decode_attr
from extract.engine import Selection, run_extraction
from extract.job import ExtractJob
from tests.cluster_support import make_corpora


class Recorder:
    """An :class:`extract.engine.ExtractListener` that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.clips = 0

    def model_ready(self, backbone) -> None:  # noqa: ANN001 - a Backbone
        self.events.append(("model", backbone.name))

    def corpus_failed(self, corpus: str, problem: str, reason: str, files: list) -> None:
        self.events.append(("failed", corpus, problem))

    def corpus_started(self, corpus: str, model: str, clips: int) -> None:
        self.events.append(("started", corpus, model, clips))

    def progress(self, clips: int, seconds: float) -> None:
        self.clips += clips

    def log(self, message: str) -> None:
        self.events.append(("log", message))

    def corpus_stopped(self, corpus: str) -> None:
        self.events.append(("stopped", corpus))

    def corpus_done(self, corpus: str, summary, left_out: int) -> None:  # noqa: ANN001 - an ExtractSummary
        self.events.append(("done", corpus, summary.status, summary.n_done, left_out))


def test_engine_reports_each_corpus_to_its_listener(tmp_path: Path) -> None:
    data = make_corpora(tmp_path / "data")
    (tmp_path / "data" / "tess").mkdir()  # a corpus folder without a single usable file
    backbone = load_backbone("logmel-128")
    job = ExtractJob(classes=("anger", "neutral"), shard_size=2, workers=1)
    roots = {"emodb": data / "emodb", "tess": data / "tess"}
    heard = Recorder()
    assert not run_extraction(job, Selection(backbone, roots, tmp_path / "f"), heard)  # tess gives no cache
    events = [e for e in heard.events if e[0] != "log"]
    with h5py.File(tmp_path / "f" / "emodb" / "logmel-128.h5", "r") as h5:
        kept = len(h5["utterances"]["id"])
        assert decode_attr(h5.attrs["classes"]) == ["anger", "neutral"]
    assert 0 < kept < 8  # the job's classes select the clips
    assert events == [("model", "logmel-128"), ("started", "emodb", "logmel-128", kept), ("stopped", "emodb"),
                      ("done", "emodb", "written", kept, 8 - kept), ("failed", "tess", "empty")]
    assert heard.clips == kept
    again = Recorder()  # a complete cache made the same way: nothing to do
    assert run_extraction(job, Selection(backbone, {"emodb": data / "emodb"}, tmp_path / "f"), again)
    assert again.events[-1] == ("done", "emodb", "exists", 0, 8 - kept)


def test_engine_and_job_load_no_command_line_library() -> None:
    code = ("import sys, extract.engine, extract.job, extract.pipeline; "
            "print(' '.join(m for m in ('typer', 'rich', 'probe') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
