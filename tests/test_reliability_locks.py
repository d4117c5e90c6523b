"""One writer at a time (two real processes on one cache, and on one results folder), and kill -9 during the final
merge: nothing incomplete is ever visible, and the rerun produces the same cache as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from extract.cache import cache_status, find_caches
from extract.locks import LockBusy, exclusive_lock, lock_path
from tests.conftest import write_tone
from tests.probe_caches import make_cache

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` skips it, CI runs it

NAMES = ["03a01Fa", "03a01Nc", "08a02Wa", "09b03Ta", "10a04La", "11b01Ea", "13a05Aa", "14b02Fb"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _corpus(data: Path) -> Path:
    for i, name in enumerate(NAMES):
        write_tone(data / "emodb" / "wav" / f"{name}.wav", seconds=0.6 + 0.1 * i, seed=i, freq=150 + 20 * i)
    return data


def _extract(data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "probe.cli", "extract", "--model", "whisper-tiny.en", "--weights", "random",
            "--corpus", "emodb", "--data-root", str(data), "--out", str(out), "--whisper-input", "trim",
            "--shard-size", "2", "--batch-size", "2", "--device", "cpu", *extra]


def _wait_for(check, timeout: float = 300.0) -> None:  # noqa: ANN001
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.02)


def _held_by(lock: Path, pid: int) -> bool:
    return lock.exists() and f"pid {pid} " in lock.read_text()


def _datasets(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        out: dict[str, np.ndarray] = {}
        h5.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return out


def test_lock_names_its_holder_and_dies_with_it(tmp_path: Path) -> None:
    target = tmp_path / "c" / "m.h5"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from extract.locks import exclusive_lock
        with exclusive_lock({str(target)!r}, what="cache"):
            print("held", flush=True)
            time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy, match=rf"cache is being written by pid {holder.pid} on host "
                                           rf"{socket.gethostname()} .*--wait-lock"):
            with exclusive_lock(target, what="cache"):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with exclusive_lock(target, what="cache") as lock:  # the kernel released it with the killed process
        assert lock == lock_path(target) and f"pid {os.getpid()} " in lock.read_text()


def test_second_extraction_of_one_cache_exits_or_waits(tmp_path: Path) -> None:
    data, out = _corpus(tmp_path / "data"), tmp_path / "features"
    first = subprocess.Popen(_extract(data, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    lock = out / "emodb" / "whisper-tiny.en-random.h5.lock"
    try:
        _wait_for(lambda: _held_by(lock, first.pid))
        first.send_signal(signal.SIGSTOP)  # hold the first writer mid-extraction
        second = subprocess.run(_extract(data, out), env=ENV, capture_output=True, text=True, timeout=300)
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert f"is being written by pid {first.pid} on host {socket.gethostname()}" in second.stderr
        assert "--wait-lock" in second.stderr
        waiting = subprocess.Popen(_extract(data, out, "--wait-lock"), env=ENV, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        seen = _read_until(waiting, "waiting for cache")
        assert f"is being written by pid {first.pid}" in seen
        first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=300) == 0, first.stderr.read()
        _, err = waiting.communicate(timeout=300)
        assert waiting.returncode == 0, err
        assert "lock on cache" in err and "nothing to do" in err  # it waited, then found the complete cache
    finally:
        for proc in (first,):
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()


def _read_until(proc: subprocess.Popen, text: str) -> str:
    """Lines of ``proc``'s stderr (or merged stdout) up to the first that holds ``text``."""
    stream = proc.stderr if proc.stderr is not None else proc.stdout
    seen = ""
    for line in stream:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never printed; got: {seen}")


def test_second_probe_run_on_one_results_folder_exits_or_waits(tmp_path: Path) -> None:
    features, results = tmp_path / "features", tmp_path / "results"
    make_cache(features / "synth" / "m.h5", model="m", n_states=3, dim=8, per_label=2)
    cmd = [sys.executable, "-m", "probe.cli", "run", "--features", str(features), "--results", str(results),
           "--probes", "linear", "--seeds", "0,", "--epochs", "2", "--threads", "1", "--device", "cpu"]
    first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(lambda: _held_by(results / ".lock", first.pid))
        first.send_signal(signal.SIGSTOP)
        second = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
        assert second.returncode == 1 and "Traceback" not in second.stdout + second.stderr
        assert f"results folder {results} is being written by pid {first.pid}" in second.stderr.replace("\n", " ")
        waiting = subprocess.Popen([*cmd, "--wait-lock"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        _read_until(waiting, "waiting for results folder")
        first.send_signal(signal.SIGCONT)
        out, _ = first.communicate(timeout=300)
        assert first.returncode == 0 and "trained 1," in out, out
        out, _ = waiting.communicate(timeout=300)
        assert waiting.returncode == 0 and "already recorded 1" in out, out  # it waited: no work done twice
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGCONT)
            first.kill()
            first.wait()


KILL_DURING_MERGE = textwrap.dedent("""
    import os, signal, sys, threading, time
    import extract.pipeline as pipeline

    real = pipeline.merge_in_child

    def stop_children():
        me, stopped = os.getpid(), []
        for task in os.listdir(f"/proc/{me}/task"):
            with open(f"/proc/{me}/task/{task}/children") as handle:
                for child in handle.read().split():
                    os.kill(int(child), signal.SIGSTOP)
                    stopped.append(child)
        with open(os.environ["MERGE_CHILDREN_FILE"], "w") as handle:
            handle.write(" ".join(stopped))

    def merge_then_die(partial, path, *args):
        threading.Thread(target=real, args=(partial, path, *args), daemon=True).start()
        tmp = path.with_suffix(".h5.tmp")
        while not tmp.exists() or tmp.stat().st_size == 0:  # the merge process is writing the final file
            if path.exists():
                os._exit(3)  # the merge finished before this thread saw it: no kill happened (retried)
            time.sleep(0.0005)
        stop_children()  # freeze the merge mid-write so the kill below always lands before it finishes
        os.kill(os.getpid(), signal.SIGKILL)

    pipeline.merge_in_child = merge_then_die
    from probe.cli import app
    sys.argv = ["probe", *sys.argv[1:]]
    app()
""")


def test_kill_9_during_the_merge_resumes_to_the_same_cache(tmp_path: Path) -> None:
    data = _corpus(tmp_path / "data")
    reference = subprocess.run(_extract(data, tmp_path / "ref"), env=ENV, capture_output=True, text=True,
                               timeout=600)
    assert reference.returncode == 0, reference.stderr
    for attempt in range(3):  # a merge too quick for the watcher to see exits 3: try again from nothing
        out = tmp_path / f"killed{attempt}"
        children = tmp_path / f"children{attempt}.txt"
        killed = subprocess.run([sys.executable, "-c", KILL_DURING_MERGE, *_extract(data, out)[3:]],
                                env={**ENV, "MERGE_CHILDREN_FILE": str(children)}, capture_output=True, text=True,
                                timeout=600)
        if killed.returncode != 3:
            break
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stopped = children.read_text().split()
    assert stopped  # the merge child was caught mid-write
    final = out / "emodb" / "whisper-tiny.en-random.h5"
    partial = final.with_name(final.name + ".partial")
    time.sleep(3.0)  # the merge process died with its parent: it never finishes the file behind our back
    for pid in stopped:  # gone (or a zombie awaiting its reaper), not left stopped or running
        status = Path(f"/proc/{pid}/status")
        assert not status.exists() or "State:\tZ" in status.read_text(), status.read_text()
    assert not final.exists() and find_caches(out) == [] and not cache_status(final).complete
    assert len(list(partial.glob("shard-*.h5"))) == 4  # every shard kept
    resumed = subprocess.run(_extract(data, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming: 8 of 8 clips" in resumed.stderr
    ref, got = _datasets(tmp_path / "ref" / "emodb" / "whisper-tiny.en-random.h5"), _datasets(final)
    assert ref.keys() == got.keys()
    for name in ref:
        np.testing.assert_array_equal(ref[name], got[name], err_msg=name)
    assert not final.with_suffix(".h5.tmp").exists() and not partial.exists()
