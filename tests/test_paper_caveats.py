"""``--compare paper`` marks cells that are not like-for-like and lists where the ``paper`` preset departs from
PEFT-SER's unstated defaults (issue 20)."""

from __future__ import annotations

from pathlib import Path

from probe.report.load import load_runs, runs_frame
from probe.report.reference import load_reference
from probe.report.tables import comparison, corpus_by_backbone_table
from probe.train.presets import PAPER_DEPARTURES
from tests.records_factory import make_record, write_record


def test_not_like_for_like_cells_and_departures_are_named(tmp_path: Path) -> None:
    for corpus in ("aesdd", "emodb"):
        for seed in range(2):
            write_record(tmp_path, make_record(corpus, "whisper-small", "linear", seed), embeddings=False)
    frame = runs_frame(load_runs(tmp_path).runs)
    comp = comparison(load_reference("paper"), ["aesdd", "emodb"], ["whisper-small"])
    table = corpus_by_backbone_table(frame, comp)
    flags = dict(zip(table.data["corpus"], table.data["paper_like_for_like"]))
    assert flags == {"aesdd": False, "emodb": True}
    caption = table.grid.caption
    assert "Not like-for-like" in caption and "AESDD: 604 usable files here, 500 in the paper" in caption
    assert "Oréau" not in caption  # only corpora in the table are named
    assert all(item in caption for item in PAPER_DEPARTURES) and "6 s crops" in caption
