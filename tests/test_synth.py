"""The synthetic eSpeak NG corpus: real speech, deterministic, resumable, prosody that separates the classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from extract import corpora
from extract import espeak as E
from extract import synth as S
from extract import synth_clips as C
from extract import synth_profiles as P
from extract.corpora import synthetic

SMALL = {"languages": ("it", "el", "fa"), "speakers_per_language": 2, "sentences_per_language": 2}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A small corpus: 3 languages x 2 speakers x 2 sentences x 4 emotions = 48 clips."""
    root = tmp_path_factory.mktemp("synthetic")
    return root, S.render_corpus(root, **SMALL, seed=7)


def _wavs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.wav"))


def _f0(audio: np.ndarray, sample_rate: int) -> float:
    """Median F0 (Hz) of the loud frames by autocorrelation: crude, enough to compare classes."""
    frame, hop = 640, 320
    starts = range(0, audio.size - frame, hop)
    energy = np.array([np.mean(audio[i : i + frame] ** 2) for i in starts])
    lo, hi = sample_rate // 400, sample_rate // 60
    found = []
    for i, e in zip(starts, energy):
        if e < 0.1 * energy.max():
            continue
        w = audio[i : i + frame] - audio[i : i + frame].mean()
        ac = np.correlate(w, w, "full")[frame - 1 :]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            found.append(sample_rate / lag)
    return float(np.median(found)) if found else 0.0


def test_default_size_is_a_small_demo() -> None:
    assert P.DEFAULT_CLIPS == len(C.plan_corpus()) == 384
    assert set(P.LANGUAGES) == {"it", "de", "fr", "es", "el", "fa", "ar", "en"}
    assert all(len(P.SENTENCES[lang]) >= P.DEFAULT_SENTENCES for lang in P.LANGUAGES)
    assert set(P.VOICE_POOL) <= set(E.available_variants())


def test_clips_are_16k_mono_speech(corpus: tuple[Path, pd.DataFrame]) -> None:
    root, frame = corpus
    assert len(frame) == 48 == len(_wavs(root))
    assert list(frame.columns) == list(S.MANIFEST_FIELDS)
    for row in frame.itertuples():
        info = sf.info(str(root / row.path))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        audio, _ = sf.read(str(root / row.path), dtype="float32")
        assert 1.0 < audio.size / 16000 < 6.0
        assert abs(audio.size / 16000 - row.seconds) < 1e-3
        assert np.sqrt(np.mean(audio**2)) > 0.02 and np.abs(audio).max() < 1.0
    manifest = pd.read_csv(root / "manifest.csv", keep_default_na=False)
    assert manifest["id"].tolist() == frame["id"].tolist()
    assert set(manifest["language"]) == {"it", "el", "fa"}
    assert any("τρένο" in text for text in manifest["text"])
    assert any("قطار" in text for text in manifest["text"])
    meta = json.loads((root / "corpus.json").read_text(encoding="utf-8"))
    assert meta["complete"] and meta["clips"] == 48 and meta["parameters"]["seed"] == 7


def test_same_arguments_give_identical_files(corpus: tuple[Path, pd.DataFrame], tmp_path: Path) -> None:
    root, _ = corpus
    S.render_corpus(tmp_path / "again", **SMALL, seed=7)
    first, second = _wavs(root), _wavs(tmp_path / "again")
    assert [p.relative_to(root) for p in first] == [p.relative_to(tmp_path / "again") for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second))
    assert (root / "manifest.csv").read_bytes() == (tmp_path / "again" / "manifest.csv").read_bytes()
    # a clip depends only on the seed and its own key, not on the other clips rendered with it
    S.render_corpus(tmp_path / "el", languages="el", speakers_per_language=1, sentences_per_language=1, seed=7)
    for path in _wavs(tmp_path / "el"):
        assert path.read_bytes() == (root / path.relative_to(tmp_path / "el")).read_bytes()
    # another seed gives other audio
    S.render_corpus(tmp_path / "seed8", languages="el", speakers_per_language=1, sentences_per_language=1, seed=8)
    other = _wavs(tmp_path / "seed8")[0]
    assert other.read_bytes() != (root / other.relative_to(tmp_path / "seed8")).read_bytes()


def test_emotions_differ_in_prosody(corpus: tuple[Path, pd.DataFrame]) -> None:
    root, frame = corpus
    stats = {}
    for row in frame.itertuples():
        audio, sr = sf.read(str(root / row.path), dtype="float64")
        stats[row.id] = (audio.size / sr, 10 * np.log10(np.mean(audio**2)), _f0(audio, sr))
    table = pd.DataFrame.from_dict(stats, orient="index", columns=["seconds", "db", "f0"])
    table["label"] = frame.set_index("id")["label"]
    means = table.groupby("label").mean()
    assert means.loc["sadness", "seconds"] > 1.15 * means.loc["anger", "seconds"]
    assert means.loc["anger", "db"] > means.loc["sadness", "db"] + 2.0
    assert means.loc["anger", "f0"] > 1.15 * means.loc["sadness", "f0"]
    assert means.loc["happiness", "f0"] > means.loc["neutral", "f0"]
    # ... but not trivially: per-clip variation makes the classes overlap
    seconds = table.groupby("label")["seconds"]
    assert seconds.max()["anger"] > seconds.min()["neutral"]


def test_loader_reads_the_layout(corpus: tuple[Path, pd.DataFrame]) -> None:
    root, frame = corpus
    loaded = corpora.load("synthetic", root)
    assert synthetic.INFO.key == "synthetic" and synthetic.INFO.language == "multi"
    assert loaded["id"].tolist() == frame["id"].tolist()
    assert loaded["label"].tolist() == frame["label"].tolist()
    assert loaded["speaker"].tolist() == frame["speaker"].tolist()
    assert loaded["gender"].tolist() == frame["gender"].tolist()
    assert set(loaded["gender"]) == {"f", "m"}
    assert set(loaded["speaker"]) == {"it-m3", "it-f1", "el-m7", "el-f1", "fa-f1", "fa-m5"}
    assert all(Path(p).is_file() for p in loaded["path"])
    assert set(corpora.load("synthetic", root, classes="anger,sadness")["label"]) == {"anger", "sadness"}


def test_loader_skips_foreign_files(tmp_path: Path, write_wav) -> None:
    write_wav(tmp_path / "it" / "it-m3" / "anger_00_0.wav")
    write_wav(tmp_path / "it" / "it-f2" / "sadness_01_2.wav")
    write_wav(tmp_path / "it" / "it-m3" / "fear_00_0.wav")  # no such class here
    write_wav(tmp_path / "de" / "it-m3" / "anger_00_0.wav")  # language folder and speaker disagree
    write_wav(tmp_path / "notes.wav")
    found = synthetic.scan(tmp_path)
    assert [(i.id, i.label, i.speaker, i.gender) for i in found.items] == [
        ("it/it-f2/sadness_01_2", "sadness", "it-f2", "f"),
        ("it/it-m3/anger_00_0", "anger", "it-m3", "m"),
    ]
    assert len(found.skipped) == 3


def test_resume_and_force(tmp_path: Path) -> None:
    args = {"languages": "de", "speakers_per_language": 1, "sentences_per_language": 2}
    out = tmp_path / "c"
    planned, rendered = [], []
    S.render_corpus(out, on_start=planned.append, on_clip=lambda clip, new: rendered.append(new), **args)
    assert planned == [len(rendered)] and all(rendered) and len(rendered) == len(_wavs(out))  # what a bar draws
    files = _wavs(out)
    original = {p: p.read_bytes() for p in files}
    files[0].unlink()
    files[1].write_bytes(b"a broken file is rendered again")
    sf.write(str(files[2]), np.full(8000, 0.1, dtype=np.float32), 16000, subtype="PCM_16")
    marker = files[2].read_bytes()
    rendered: list[bool] = []
    frame = S.render_corpus(out, **args, on_clip=lambda clip, new: rendered.append(new))
    assert sum(rendered) == 2 and len(rendered) == len(files) == len(frame)
    assert files[0].read_bytes() == original[files[0]] and files[1].read_bytes() == original[files[1]]
    assert files[2].read_bytes() == marker  # a finished clip is kept when the parameters match
    assert not list(out.rglob("*.tmp"))

    with pytest.raises(E.SynthError, match="seed"):
        S.render_corpus(out, **args, seed=1)
    S.render_corpus(out, **{**args, "sentences_per_language": 1}, force=True)
    assert len(_wavs(out)) == 4  # the second sentence's clips are gone
    assert all(p.read_bytes() == original[p] for p in _wavs(out))


def test_speak_returns_real_speech() -> None:
    audio, rate = E.speak("Guten Morgen, wie geht es dir?", "de", voice="f2")
    assert rate == E.espeak_sample_rate() == 22050 and audio.dtype == np.float32
    assert 1.0 < audio.size / rate < 4.0 and np.sqrt(np.mean(audio**2)) > 0.02
    again, _ = E.speak("Guten Morgen, wie geht es dir?", "de", voice="f2")
    assert np.array_equal(audio, again)
    low, rate16 = E.speak("Guten Morgen, wie geht es dir?", "de", voice="f2", pitch=10, rate=120, sample_rate=16000)
    assert rate16 == 16000 and low.size / 16000 > audio.size / rate
    with pytest.raises(E.SynthError, match="no voice"):
        E.speak("hello", "xx")
    with pytest.raises(ValueError, match="variant"):
        E.speak("hello", "en", voice="nonexistent")
    with pytest.raises(ValueError):
        E.speak("  ", "en")


def test_engine_error_names_the_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    import espeakng_loader

    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak-ng.so")
    with pytest.raises(E.SynthError, match="/nonexistent/libespeak-ng.so"):
        E._Espeak()


def test_probe_synth_command(tmp_path: Path) -> None:
    from probe.cli import app as probe_app
    from probe.commands.synth import register

    assert "synth" in [c.name for c in probe_app.registered_commands]
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as `probe` is: `synth` is a sub-command
    register(app)
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(app, ["synth", "--out", str(out), "--languages", "es,ar", "--speakers", "1",
                                 "--sentences", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "8 clips" in result.output and "manifest.csv" in result.output
    assert set(pd.read_csv(out / "manifest.csv")["language"]) == {"es", "ar"}
    result = runner.invoke(app, ["synth", "--out", str(out), "--languages", "es,ar", "--speakers", "1",
                                 "--sentences", "1", "--seed", "3", "--quiet"])
    assert result.exit_code == 1 and "--force" in result.output
    result = runner.invoke(app, ["synth", "--out", str(out), "--languages", "klingon"])
    assert result.exit_code != 0
    assert "help" in runner.invoke(app, ["synth", "--help"]).output.lower()


def test_voices_are_reproducible_across_processes() -> None:
    """eSpeak's breath noise is seeded per process: pool voices must not use it, and a clip rendered in two
    separate processes must be bit-identical."""
    import subprocess
    import sys

    import espeakng_loader

    variants = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    for voice in set(P.VOICE_POOL):
        lines = (variants / voice).read_text(errors="replace").splitlines()
        assert not any(line.strip().lower().startswith("breath") for line in lines), voice
    assert all(any(v.startswith("f") for v in C.voices_for(lang, 3)) for lang in P.LANGUAGES)
    code = ("import hashlib; from extract.espeak import speak; "
            "print(hashlib.sha256(speak('Il treno parte alle otto.', 'it', voice='f4')[0].tobytes()).hexdigest())")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1
