"""A corpus folder with 40+ kinds of bad or odd files: extraction exits 0, extracts every good clip, and names every
unused file with its reason in the summary and in the cache's ``skipped/``; permission-denied files and folders are
reported, never a traceback (run without CAP_DAC_OVERRIDE, since root reads anything)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from extract.cache import FeatureCache
from tests.reliability_corpus import build

CAPS = "-dac_override,-dac_read_search"


def unprivileged() -> list[str] | None:
    """A command prefix under which file permissions apply: none for a normal user; for root, ``setpriv``
    dropping CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; None when that is impossible here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, f"--bounding-set={CAPS}", f"--inh-caps={CAPS}"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import os; os.listdir('/root')"], capture_output=True)
    if probe.returncode != 0:  # the process cannot even run python: /root-owned interpreter, or no capability
        return None
    locked = Path(os.environ.get("TMPDIR", "/tmp")) / f"ser-probe-perm-{os.getpid()}"
    locked.write_text("x")
    os.chmod(locked, 0)
    try:
        test = subprocess.run([*prefix, sys.executable, "-c", f"open({str(locked)!r}).read()"], capture_output=True)
    finally:
        locked.unlink()
    return prefix if test.returncode != 0 else None


PREFIX = unprivileged()
NO_PERM_REASON = ("running as root and the capabilities that bypass file permissions cannot be dropped here "
                  "(setpriv missing or not permitted), so a permission-denied file would be readable")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "probe.cli", *args]


def test_forty_kinds_of_bad_files_are_all_named_and_every_good_clip_extracted(tmp_path: Path) -> None:
    root = tmp_path / "data" / "emodb"
    expected = build(root, permissions=PREFIX is not None)
    assert len(expected.named) + len(expected.used) >= 55 and len(expected.named) >= 30
    out = tmp_path / "features"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [*(PREFIX or []), *_cli("extract", "--model", "whisper-tiny.en", "--weights", "random", "--corpus", "emodb",
                                "--data-root", str(tmp_path / "data"), "--out", str(out), "--whisper-input", "trim",
                                "--max-duration", "20", "--shard-size", "8", "--batch-size", "4", "--device", "cpu")],
        capture_output=True, text=True, timeout=600,
    )
    wall = time.perf_counter() - started
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Traceback" not in text
    assert wall < 300  # the 1 Hz header (4.4 h of "audio") is refused before decoding, never resampled
    peak_kb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    assert peak_kb < 4 * 2**20  # under 4 GiB: nothing decoded 4.4 hours at 16 kHz
    with FeatureCache(out / "emodb" / "whisper-tiny.en-random.h5") as cache:
        assert set(cache.utterances["id"]) == expected.used
        skipped = cache.skipped()
        with h5py.File(cache.path, "r") as h5:
            notes = dict(zip(h5["notes/id"].asstr()[()], h5["notes/reason"].asstr()[()]))
    listed = {str(Path(p).relative_to(root)): reason for p, reason in zip(skipped["path"], skipped["reason"])}
    assert set(listed) == set(expected.named), (set(listed) ^ set(expected.named))
    for rel, word in expected.named.items():
        assert word in listed[rel], (rel, listed[rel])
        assert f"skipped {root / rel}: " in text, rel  # the summary names it too
    for uid, word in expected.noted.items():
        assert word in notes[uid] and f"note {root / uid}" in text
    assert "notes.txt" not in text and "03a01Fa.lab" not in text  # label files are not audio


@pytest.mark.skipif(PREFIX is None, reason=NO_PERM_REASON)
def test_permission_denied_is_reported_by_corpora_check_without_a_traceback(tmp_path: Path, write_wav) -> None:
    root = tmp_path / "emodb"
    for i, name in enumerate(["03a01Fa", "08a02Wa", "09a04Ta", "10a05Na"]):
        write_wav(root / "wav" / f"{name}.wav", seconds=0.3, seed=i)
    os.chmod(root / "wav" / "10a05Na.wav", 0)
    write_wav(root / "wav" / "sub" / "11a01Wa.wav", seconds=0.3)
    os.chmod(root / "wav" / "sub", 0)
    try:
        result = subprocess.run([*(PREFIX or []), *_cli("corpora", "check", "--corpus", "emodb", "--root",
                                                        str(root))],
                                capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        text = result.stdout + result.stderr
        assert "Traceback" not in text and result.returncode == 0, text
        assert "wav/10a05Na.wav: cannot open the file (Permission denied)" in text
        assert "unreadable folder (Permission denied)" in text and "wav/sub" in text
    finally:
        os.chmod(root / "wav" / "sub", 0o755)


def test_corpora_check_decodes_by_default_and_quick_reads_headers(tmp_path: Path, write_wav) -> None:
    import numpy as np
    import soundfile as sf

    root = tmp_path / "emodb"
    for i, name in enumerate(["03a01Fa", "08a02Wa", "09a04Ta"]):
        write_wav(root / "wav" / f"{name}.wav", seconds=0.3, seed=i)
    sf.write(root / "wav" / "10a05Na.wav", np.zeros(8000, np.float32), 16000)  # silent: only decoding finds it
    from typer.testing import CliRunner

    from probe.cli import app

    runner = CliRunner(env={"COLUMNS": "200"})
    full = runner.invoke(app, ["corpora", "check", "--corpus", "emodb", "--root", str(root)])
    quick = runner.invoke(app, ["corpora", "check", "--corpus", "emodb", "--root", str(root), "--quick"])
    assert full.exit_code == 0 and quick.exit_code == 0, full.output
    assert "10a05Na.wav: silent" in full.stdout and "3 usable files" in full.stdout
    assert "silent" not in quick.stdout and "4 usable files" in quick.stdout


def test_a_corpus_that_is_all_bad_gives_a_clear_message_and_no_cache(tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf
    from typer.testing import CliRunner

    from probe.cli import app

    wav = tmp_path / "data" / "emodb" / "wav"
    wav.mkdir(parents=True)
    (wav / "03a01Fa.wav").write_bytes(b"")
    (wav / "08a02Wa.wav").write_bytes(b"not audio" * 50)
    sf.write(wav / "09a04Ta.wav", np.zeros(8000, np.float32), 16000)
    (wav / "readme.wav").write_bytes(b"x" * 10)
    args = ["extract", "--model", "whisper-tiny.en", "--weights", "random", "--corpus", "emodb", "--data-root",
            str(tmp_path / "data"), "--out", str(tmp_path / "features"), "--whisper-input", "trim", "--device", "cpu"]
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, args)
    text = result.output.replace("\n", " ")
    assert result.exit_code == 1, result.output
    assert "no clip of emodb could be used (4 files skipped, each named with its reason); no cache written" in text
    for name, reason in [("03a01Fa.wav", "empty file"), ("08a02Wa.wav", "unreadable audio"),
                         ("09a04Ta.wav", "silent"), ("readme.wav", "unrecognised file name")]:
        assert f"{name}: {reason}" in text, name
    left = [p.name for p in (tmp_path / "features" / "emodb").iterdir()]
    assert left == ["whisper-tiny.en-random.h5.lock"]  # no cache, no work folder that looks resumable
    for path in wav.glob("0*.wav"):
        path.unlink()
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, args)
    assert result.exit_code == 1 and "no usable audio found under" in result.output.replace("\n", " ")
    assert "readme.wav: unrecognised file name" in result.output.replace("\n", " ")
