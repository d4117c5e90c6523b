"""The benchmark scripts run end to end at CI size (``--smoke``) and report what they claim to measure."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end: `make test-fast` skips it, CI runs it

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def smoke_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 24-clip smoke corpus, rendered once for every script (the scripts' own SMOKE_CORPUS settings)."""
    from extract.synth import render_corpus

    folder = tmp_path_factory.mktemp("bench") / "synthetic"
    render_corpus(folder, languages="en,de,it", speakers_per_language=2, sentences_per_language=1, takes=1)
    return folder


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return float(found.group(1))


def test_extract_vs_baseline_smoke(smoke_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "evb.txt"
    done = _run("extract_vs_baseline.py", "--smoke", "--corpus-dir", str(smoke_corpus), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "machine" in text and "cores" in text
    for row in ("extraction wall time", "bytes on disk", "read one layer"):
        assert re.search(rf"{row}.*\d+\.\d+×", text), row
    # fp16 frames beside fp32 .npy files: about half the bytes (plus pooled vectors and HDF5 metadata)
    assert 0.45 < _number(r"bytes on disk.*?(\d+\.\d+)×", text) < 0.6
    # the frames alone: float16 in contiguous layers, exactly half the .npy arrays (no chunk padding)
    assert _number(r"frames only.*?(\d+\.\d+)×", text) <= 0.5
    assert _number(r"chunk padding (\d+\.\d+) MB", text) == 0.0
    # the same model on the same clips: batched float16 cache equals one-clip-at-a-time float32 up to fp16 rounding
    assert _number(r"largest \|Δ\| (\S+)", text) < 5e-3
    saved = out.read_text()
    assert saved.startswith("# extract_vs_baseline") and "# command: python" in saved and "--smoke" in saved


def test_probe_throughput_smoke(smoke_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "pt.txt"
    done = _run("probe_throughput.py", "--smoke", "--corpus-dir", str(smoke_corpus), "--out", str(out))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert _number(r"same logits, same weights\s+largest \|Δ\| (\S+)", text) < 1e-3
    assert re.search(r"same batches, same losses\s+True", text)  # memory and streaming: identical training
    assert re.search(r"frames held in\s+RAM\s+disk", text)
    assert re.search(r"same predictions\s+True", text)  # 3 seeds side by side == each seed alone
    assert re.search(r"pooled step, CPU time\s+[\d.]+ ms: .*Adam update \d+%", text)  # where the Linear time goes
    # one read of each block for the 3 seeds: at most the whole cache, under half of three separate passes
    assert _number(r"one epoch training pass\s+\S+ MB\s+\S+ MB\s+(\S+)×", text) < 0.5
    assert re.search(r"probe run --all .*exit 0", text), text
    assert "# command:" in out.read_text()


def test_gpu_train_on_cpu(tmp_path: Path) -> None:
    """The GPU training benchmark's code on the CPU: every head trains from its synthetic cache and reports its
    rate and the share of time it waited for data (no GPU number)."""
    out = tmp_path / "train.txt"
    done = _run("gpu_train.py", "--device", "cpu", "--smoke", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    text = done.stdout
    assert "10 runs trained, 0 failed" in text and "held in RAM" in text
    for head in ("linear", "layerwise", "nonlinear", "multilayer", "attention"):
        unit = "clips" if head in ("linear", "layerwise") else "frames"
        assert re.search(rf"^{head}\s+2\s+\w+\s+[\d,]+ {unit}/s\s+[\d.]+%", text, re.M), text
    assert "# command:" in out.read_text()


def test_gpu_extract_on_cpu(smoke_corpus: Path) -> None:
    """Without CUDA the script refuses with a clear message; --device cpu runs its code path on the CPU (chosen
    explicitly, so the test is the same on a machine with CUDA) with the loop beside it, and its FLOP formula agrees
    with torch's FLOP counter (its Wav2Vec 2.0 path: tests/test_gpu_rates.py)."""
    import torch

    if not torch.cuda.is_available():
        refused = _run("gpu_extract.py", "--smoke")
        assert refused.returncode == 2 and "no CUDA device is available" in refused.stdout
    done = _run("gpu_extract.py", "--smoke", "--device", "cpu", "--corpus-dir", str(smoke_corpus))
    assert done.returncode == 0, done.stderr
    assert re.search(r"whisper-tiny\.en-random\s+fp32\s+\d", done.stdout), done.stdout
    assert re.search(r"EmoBox-style loop .* clips/s = \d+\.\d+× the loop", done.stdout), done.stdout
    assert "paper grid: 6 backbones × 9 corpora" in done.stdout
    ratio = _number(r"ratio (\d+\.\d+)\)", done.stdout)
    # on the CPU torch's counter does not see the fused attention kernel (formula ≈ 1.6×; on CUDA it is ≈ 1.0)
    assert 0.98 < ratio < 1.7


def test_extract_overhead_smoke(smoke_corpus: Path) -> None:
    done = _run("extract_overhead.py", "--smoke", "--corpus-dir", str(smoke_corpus))
    assert done.returncode == 0, done.stderr
    assert "3 done, 0 skipped" in done.stdout
    forward = _number(r"forward pass\s+[\d.]+ s\s+\(\s*([\d.]+)%\)", done.stdout)
    outside = _number(r"outside forward\s+([\d.]+)%", done.stdout)
    assert abs(forward + outside - 100.0) < 0.2  # the split adds up
    assert re.search(r"final merge .* MB written and fsynced, in a child process that starts in [\d.]+ s", done.stdout)


def test_extract_fixed_cost_smoke(smoke_corpus: Path) -> None:
    done = _run("extract_overhead.py", "--smoke", "--corpus-dir", str(smoke_corpus), "--fixed-cost")
    assert done.returncode == 0, done.stderr
    assert "fixed cost of a 3-clip probe extract" in done.stdout, done.stdout
    assert _number(r"probe extract, whole process\s+([\d.]+) s", done.stdout) > 0
    phases = {label: _number(rf"{label}\s+([\d.]+) s", done.stdout) for label in (
        "interpreter start", "import probe.cli", "imports of the extraction path", "model build",
        "corpus scan and disk plan", r"extraction \(extract_corpus\)", "exit")}
    assert phases[r"extraction \(extract_corpus\)"] > 0 and phases["imports of the extraction path"] > 0
    outside = _number(r"outside the extraction\s+([\d.]+) s", done.stdout)
    assert abs(outside - sum(phases.values()) + phases[r"extraction \(extract_corpus\)"]) < 0.03  # adds up
    total = _number(r"the same calls, phase by phase\s+([\d.]+) s", done.stdout)
    assert abs(total - sum(phases.values())) < 0.03


def test_cli_startup_smoke() -> None:
    done = _run("cli_startup.py", "--smoke", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "import probe.cli loads: none of torch" in done.stdout, done.stdout
    assert _number(r"probe --help\s+median ([\d.]+) s", done.stdout) > 0
