"""`probe corpora list | check | manifest` through the real command line (typer's CliRunner).

Most tests use a tiny stand-in corpus, ``toy``, registered for the test only (``<spk>_<code>_<n>.wav``), so that
they check the command's logic whatever the real loaders do; one test per command runs the real EmoDB loader.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from typer.testing import CliRunner

from extract import corpora
from extract.corpora.base import CorpusInfo, Item, Scan, Skipped, find_audio, is_lfs_pointer, utterance_id
from extract.corpora.locate import CONFIG_ENV, ROOT_ENV
from probe.cli import app
from probe.commands import corpora as corpora_cmd
from probe.commands import corpora_check

TOY_INFO = CorpusInfo(
    key="toy",
    name="Toy corpus",
    language="xx",
    labels={"ang": "anger", "neu": "neutral", "sad": "sadness"},
    expected_files=9,
    expected_speakers=3,
    access="open",
    url="https://example.org/toy",
    expected_per_label={"anger": 3, "neutral": 3, "sadness": 3},
)


def toy_scan(root: Path) -> Scan:
    """``<speaker>_<code>_<n>.wav`` anywhere under ``root``; the speaker's first letter is the gender."""
    scan = Scan()
    for path in find_audio(root):
        if is_lfs_pointer(path):
            scan.skipped.append(Skipped(path, "git-lfs pointer file, not audio"))
            continue
        parts = path.stem.split("_")
        if len(parts) != 3 or parts[1] not in TOY_INFO.labels:
            scan.skipped.append(Skipped(path, "unknown file name"))
            continue
        uid = utterance_id(path, root)
        scan.items.append(Item(uid, path, TOY_INFO.labels[parts[1]], f"toy-{parts[0]}", parts[0][0]))
    return scan


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Register ``toy`` (a working loader) and ``broken`` (a module without INFO); isolate location settings."""
    toy = ModuleType("extract.corpora.toy")
    toy.INFO = TOY_INFO  # type: ignore[attr-defined]
    toy.scan = toy_scan  # type: ignore[attr-defined]
    broken = ModuleType("extract.corpora.broken")
    monkeypatch.setitem(sys.modules, "extract.corpora.toy", toy)
    monkeypatch.setitem(sys.modules, "extract.corpora.broken", broken)
    monkeypatch.setattr(corpora, "KEYS", (*corpora.KEYS, "toy", "broken"))
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.delenv(ROOT_ENV, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "240"})


def toy_tree(
    root: Path,
    write_wav,  # noqa: ANN001
    speakers: tuple[str, ...] = ("f1", "m1", "f2"),
    codes: tuple[str, ...] = ("ang", "neu", "sad"),
) -> Path:
    """One real 0.2 s file per (speaker, code)."""
    for i, spk in enumerate(speakers):
        for j, code in enumerate(codes):
            write_wav(root / spk / f"{spk}_{code}_{j}.wav", seconds=0.2, seed=10 * i + j)
    return root


def run(runner: CliRunner, *args: str):  # noqa: ANN201
    result = runner.invoke(app, ["corpora", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# ---------------------------------------------------------------------------------------------------------------
# list


def test_list_shows_every_corpus_and_survives_a_broken_loader(runner: CliRunner) -> None:
    Path("data/toy").mkdir(parents=True)  # in the working directory: the default data root ./data
    result = run(runner, "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for key in corpora.KEYS:
        assert any(line.startswith(f"│ {key} ") for line in lines), key
    toy_line = next(line for line in lines if line.startswith("│ toy "))
    assert "xx" in toy_line and "https://example.org/toy" in toy_line and "3: anger, neutral, sadness" in toy_line
    assert toy_line.rstrip("│ ").endswith("data/toy")  # found at
    assert next(line for line in lines if line.startswith("│ emodb ")).rstrip("│ ").endswith("-")
    broken_line = next(line for line in lines if line.startswith("│ broken "))
    assert "loader error: AttributeError" in broken_line
    # few speakers: leave-one-speaker-out is the protocol to report; many: the holdout
    assert "kfold (LOSO)" in next(line for line in lines if line.startswith("│ emodb "))
    assert "holdout" in next(line for line in lines if line.startswith("│ demos "))
    assert "leave-one-speaker-out" in result.output


def test_list_data_root_option(runner: CliRunner) -> None:
    Path("elsewhere/emovo").mkdir(parents=True)
    Path("data/emodb").mkdir(parents=True)
    lines = run(runner, "list", "--data-root", "elsewhere").output.splitlines()
    assert next(line for line in lines if line.startswith("│ emovo ")).rstrip("│ ").endswith("elsewhere/emovo")
    assert next(line for line in lines if line.startswith("│ emodb ")).rstrip("│ ").endswith("-")


def test_list_reports_a_bad_config_without_failing(runner: CliRunner, tmp_path: Path) -> None:
    cfg = tmp_path / "probe-data.toml"
    cfg.write_text('[corpora]\nemodbb = "/x"\n')
    result = run(runner, "list", "--config", str(cfg))
    assert result.exit_code == 0
    assert "could not locate corpora" in result.output and "emodbb" in result.output
    assert "│ emodb " in result.output


# ---------------------------------------------------------------------------------------------------------------
# check


def test_check_ok(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav)
    result = run(runner, "check", "--corpus", "TOY", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "OK: 9 usable files, 3 classes, 3 speakers matching the official counts" in result.output
    assert "toy-f1" in result.output and "files per label" in result.output


def test_check_reports_skipped_and_unreadable(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav)
    (root / "m1" / "m1_neu_9.wav").write_bytes(b"RIFF....WAVEfmt this is not audio" * 4)
    (root / "f2" / "f2_sad_9.wav").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
    write_wav(root / "notes_x.wav", seconds=0.2)
    result = run(runner, "check", "-c", "toy", "-r", str(root))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "skipped files: 2" in out
    assert "1 x git-lfs pointer file, not audio" in out and "f2/f2_sad_9.wav" in out
    assert "1 x unknown file name" in out and "notes_x.wav" in out
    assert "unreadable files: 1" in out and "m1/m1_neu_9.wav: unreadable audio" in out
    assert "USABLE WITH WARNINGS: 9 usable files" in out and "1 unreadable file(s) will be skipped" in out

    quick = run(runner, "check", "-c", "toy", "-r", str(root), "--no-read-audio")
    assert quick.exit_code == 0
    assert "unreadable files" not in quick.output
    assert "10 usable files" in quick.output and "audio headers not read" in quick.output


def test_check_counts_against_expected(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav, speakers=("f1", "m1", "f2", "m2"))
    result = run(runner, "check", "-c", "toy", "-r", str(root), "--no-read-audio")
    assert result.exit_code == 0
    assert "12 files, 9 expected" in result.output and "4 speakers, 3 expected" in result.output
    label_rows = [line for line in result.output.splitlines() if line.startswith("│ anger ")]
    assert label_rows and "│     4 │        3 │ +1" in label_rows[0]


def test_check_summarises_many_speakers(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    speakers = tuple(f"m{i:02d}" for i in range(corpora_cmd.SPEAKER_TABLE_MAX + 1))
    root = toy_tree(tmp_path / "toy", write_wav, speakers=speakers, codes=("ang", "neu"))
    (root / "m00" / "m00_ang_0.wav").unlink()
    result = run(runner, "check", "-c", "toy", "-r", str(root), "--no-read-audio")
    assert result.exit_code == 0
    assert "files per speaker: 31 speakers, 1-2 files each" in result.output
    assert "┃ speaker" not in result.output
    assert "fewest: toy-m00 (1)" in result.output and "1 speaker(s) lack some class" in result.output


def test_check_two_speakers_warns_about_splits(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav, speakers=("f1", "f2"))
    result = run(runner, "check", "-c", "toy", "-r", str(root))
    assert result.exit_code == 0
    assert "only 2 speakers: no speaker-independent train/val/test split is possible" in result.output


@pytest.mark.parametrize(
    ("speakers", "codes", "reason"),
    [
        (("f1", "m1", "f2"), ("ang",), "at least 2 classes and 2 speakers"),
        (("f1",), ("ang", "neu"), "at least 2 classes and 2 speakers"),
        ((), (), "no usable audio"),
    ],
)
def test_check_unusable_exits_1(
    runner: CliRunner, tmp_path: Path, write_wav, speakers: tuple[str, ...], codes: tuple[str, ...], reason: str
) -> None:
    root = toy_tree(tmp_path / "toy", write_wav, speakers=speakers, codes=codes)
    root.mkdir(exist_ok=True)
    write_wav(root / "junk.wav", seconds=0.2)
    result = run(runner, "check", "-c", "toy", "-r", str(root))
    assert result.exit_code == 1
    assert "UNUSABLE" in result.output and reason in result.output


def test_check_all_files_unreadable_is_unusable(runner: CliRunner, tmp_path: Path) -> None:
    for name in ("f1/f1_ang_0.wav", "m1/m1_neu_0.wav"):
        (tmp_path / "toy" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "toy" / name).write_bytes(b"not audio at all" * 8)
    result = run(runner, "check", "-c", "toy", "-r", str(tmp_path / "toy"))
    assert result.exit_code == 1
    assert "unreadable files: 2" in result.output and "UNUSABLE: no usable audio" in result.output


def test_check_progress_bar_path(runner: CliRunner, tmp_path: Path, write_wav, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpora_check, "PROGRESS_MIN_FILES", 2)
    root = toy_tree(tmp_path / "toy", write_wav)
    result = run(runner, "check", "-c", "toy", "-r", str(root))
    assert result.exit_code == 0 and "OK:" in result.output


def test_check_locates_the_corpus_without_root(
    runner: CliRunner, tmp_path: Path, write_wav, monkeypatch: pytest.MonkeyPatch
) -> None:
    toy_tree(tmp_path / "store" / "toy", write_wav)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "store"))
    result = run(runner, "check", "-c", "toy", "--no-read-audio")
    assert result.exit_code == 0 and str(tmp_path / "store" / "toy") in result.output


# ---------------------------------------------------------------------------------------------------------------
# user errors: exit 2, one line on stderr, no traceback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "-c", "nope", "-r", "."], "unknown corpus 'nope'; known corpora: aesdd"),
        (["check", "-c", "toy", "-r", "/no/such/folder"], "corpus folder /no/such/folder does not exist"),
        (["check", "-c", "toy"], "corpus 'toy' not found"),
        (["manifest", "-c", "toy", "-r", ".", "-o", "m.csv", "--classes", "angr,sadness"], "unknown emotion label"),
        (["manifest", "-c", "emodbx", "-r", ".", "-o", "m.csv"], "unknown corpus 'emodbx'"),
    ],
)
def test_user_errors(runner: CliRunner, args: list[str], message: str) -> None:
    result = run(runner, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_root_that_is_a_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = run(runner, "check", "-c", "toy", "-r", str(target))
    assert result.exit_code == 2 and "is not a directory" in result.stderr


def test_broken_loader_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    result = run(runner, "check", "-c", "broken", "-r", str(tmp_path))
    assert result.exit_code == 1 and "the loader of corpus 'broken' cannot be loaded" in result.stderr


# ---------------------------------------------------------------------------------------------------------------
# manifest


def test_manifest_writes_the_table(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav)
    write_wav(root / "notes_x.wav", seconds=0.2)
    out = tmp_path / "out" / "toy.csv"
    result = run(runner, "manifest", "-c", "toy", "-r", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["id", "path", "label", "speaker", "gender"]
    assert len(frame) == 9 and frame["id"].is_unique
    row = frame.set_index("id").loc["m1/m1_sad_2"]
    assert (row["label"], row["speaker"], row["gender"]) == ("sadness", "toy-m1", "m")
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in frame["path"])
    assert f"wrote 9 utterances of toy to {out}: 3 classes, 3 speakers (2 f, 1 m)" in result.output
    assert "per label: anger 3, neutral 3, sadness 3" in result.output
    assert "skipped 1 files" in result.output


def test_manifest_class_selection(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    root = toy_tree(tmp_path / "toy", write_wav)
    out = tmp_path / "two.csv"
    result = run(runner, "manifest", "-c", "toy", "-r", str(root), "-o", str(out), "--classes", "anger,sadness")
    assert result.exit_code == 0
    assert set(pd.read_csv(out)["label"]) == {"anger", "sadness"}
    assert "left out 3 utterances of other classes" in result.output
    four = run(runner, "manifest", "-c", "toy", "-r", str(root), "-o", str(out), "--classes", "4")
    assert four.exit_code == 0 and "note: toy has no happiness" in four.output
    assert len(pd.read_csv(out)) == 9
    none = run(runner, "manifest", "-c", "toy", "-r", str(root), "-o", str(out), "--classes", "fear,surprise")
    assert none.exit_code == 1 and "none of the classes fear, surprise occur in toy" in none.stderr


def test_manifest_with_nothing_found(runner: CliRunner, tmp_path: Path, write_wav) -> None:
    write_wav(tmp_path / "toy" / "junk.wav", seconds=0.2)
    result = run(runner, "manifest", "-c", "toy", "-r", str(tmp_path / "toy"), "-o", str(tmp_path / "m.csv"))
    assert result.exit_code == 1 and "no usable audio of corpus 'toy'" in result.stderr
    assert not (tmp_path / "m.csv").exists()


# ---------------------------------------------------------------------------------------------------------------
# a real loader: EmoDB's layout wav/SSTTTEV.wav


EMODB_FILES = [
    "wav/03a01Wa.wav",
    "wav/03a02Na.wav",
    "wav/08a01Wb.wav",
    "wav/08b02Ta.wav",
    "wav/10a04Nc.wav",
    "wav/10a05Ta.wav",
]


@pytest.fixture
def emodb_root(tmp_path: Path, write_wav) -> Path:
    pytest.importorskip("extract.corpora.emodb")
    root = tmp_path / "EmoDB"
    for i, name in enumerate(EMODB_FILES):
        write_wav(root / name, seconds=0.2, seed=i)
    (root / "erklaerung.txt").write_text("not audio")
    write_wav(root / "wav" / "99z99Xz.wav", seconds=0.2)
    return root


def test_emodb_check_and_manifest(runner: CliRunner, tmp_path: Path, emodb_root: Path) -> None:
    result = run(runner, "check", "-c", "emodb", "-r", str(emodb_root))
    assert result.exit_code == 0, result.output
    assert "EmoDB" in result.output and "emodb-08" in result.output
    assert "6 usable files, 3 classes, 3 speakers" in result.output and "6 files, 535 expected" in result.output
    assert "skipped files: 1" in result.output and "wav/99z99Xz.wav" in result.output

    out = tmp_path / "emodb.csv"
    made = run(runner, "manifest", "-c", "emodb", "-r", str(emodb_root), "-o", str(out), "--classes", "4")
    assert made.exit_code == 0, made.output
    frame = pd.read_csv(out, dtype=str)
    assert sorted(frame["id"]) == sorted(n.removesuffix(".wav") for n in EMODB_FILES)
    assert dict(zip(frame["id"], frame["label"], strict=True))["wav/08b02Ta"] == "sadness"
    assert set(frame["speaker"]) == {"emodb-03", "emodb-08", "emodb-10"}
