"""Helpers of the cluster tests: small corpora on disk, cache and record comparison, and the `probe` command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np
from typer.testing import CliRunner

from probe.cli import app
from tests.conftest import write_tone

EMODB = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta", "10a04La", "11b01Ea", "13a05Aa", "14b02Fb"]
RAVDESS = ["Actor_01/03-01-05-01-02-01-01.wav", "Actor_01/03-01-01-01-01-01-01.wav",
           "Actor_02/03-01-01-01-01-01-02.wav", "Actor_02/03-01-04-02-02-02-02.wav",
           "Actor_03/03-01-05-01-01-01-03.wav", "Actor_03/03-01-04-01-01-01-03.wav"]


class CliOutcome(NamedTuple):
    """Exit code and output of one `probe` command."""

    returncode: int
    stdout: str
    stderr: str


def make_corpora(root: Path) -> Path:
    """``<root>/emodb`` (8 clips) and ``<root>/ravdess`` (6 clips) of short tones in the official layouts."""
    for i, name in enumerate(EMODB):
        write_tone(root / "emodb" / "wav" / f"{name}.wav", seconds=0.6 + 0.1 * i, seed=i, freq=150 + 20 * i)
    for i, name in enumerate(RAVDESS):
        write_tone(root / "ravdess" / name, seconds=0.5 + 0.1 * i, seed=20 + i, freq=180 + 15 * i)
    return root


def probe_cli(*args: str) -> CliOutcome:
    """``probe ARGS`` in this process, as the console script runs it (the tasks still run in their own processes
    or jobs); output captured, polling every second."""
    result = CliRunner().invoke(app, list(args), env={"PROBE_JOBS_POLL_S": "1", "COLUMNS": "200"},
                                catch_exceptions=False)
    return CliOutcome(result.exit_code, result.stdout, result.stderr)


def read_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file by name."""
    with h5py.File(path, "r") as h5:
        out: dict[str, np.ndarray] = {}
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def assert_same_cache(expected: Path, got: Path) -> None:
    """Same datasets (attributes such as the creation time may differ): identical utterance tables, and hidden
    states equal up to one float16 rounding step. A task process runs torch with its own thread count (its
    ``--cpus-per-task``), and BLAS sums in a thread-dependent order, so a few values may land on the neighbouring
    float16 (seen: 2 of 145,920 values, 1.9e-6 apart); the same thread count gives bit-identical caches."""
    ref, new = read_datasets(expected), read_datasets(got)
    assert ref.keys() == new.keys(), (expected, got)
    for name in ref:
        if np.issubdtype(ref[name].dtype, np.floating) and (name.startswith("layers/") or name.startswith("pooled/")):
            np.testing.assert_allclose(new[name], ref[name], rtol=2e-3, atol=1e-5, err_msg=f"{got}: {name}")
        else:
            np.testing.assert_array_equal(ref[name], new[name], err_msg=f"{got}: {name}")


def records(results: Path) -> dict[str, dict]:
    """Run records under ``<results>/runs`` by their relative path."""
    runs = results / "runs"
    return {str(p.relative_to(runs)): json.loads(p.read_text()) for p in sorted(runs.rglob("*.json"))}


def assert_same_records(expected: dict[str, dict], got: dict[str, dict]) -> None:
    """Same runs with the same split, metrics, predictions and layer weights."""
    assert sorted(expected) == sorted(got)
    for name, ref in expected.items():
        new = got[name]
        for key in ("split", "metrics", "predictions", "layer_weights", "curves", "seed", "probe"):
            assert ref[key] == new[key], f"{name}: {key} differs"


def submission(jobs: Path) -> dict:
    """The latest ``submission.json`` under a jobs folder."""
    found = sorted(jobs.glob("*/submission.json"))
    assert found, f"no submission under {jobs}"
    return json.loads(found[-1].read_text())
