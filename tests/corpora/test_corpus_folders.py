"""Every corpus loader reads only its corpus's audio folders: a mirror copy elsewhere is named, never an utterance.

For each corpus, a tiny official-layout tree plus copies of its clips in folders that are not the corpus's audio
folders (``wav_copy/``, ``backup/``, a second nested copy): the utterances are the same as without the copies, and
every copy is named with the reason "outside the corpus's audio folders (...)".
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from extract import corpora
from extract.corpora._folders import Layout, locate, plain
from probe.cli import app
from tests.corpora._parse_helpers import build
from tests.corpora.test_iemocap import evaluation

OREAU = unicodedata.normalize("NFD", "OréauFR_02")
OUTSIDE = "ignored: outside the corpus's audio folders ("

# key -> (clips in the official layout, copies of them in folders the loader must not read)
TREES: dict[str, tuple[list[str], list[str]]] = {
    "aesdd": (["anger/a01 (1).wav", "sadness/s01 (6).wav"], ["backup/anger/a01 (1).wav", "anger_copy/s01 (6).wav"]),
    "cafe": (["Colère/Fort/01-C-2-1.wav", "Neutre/02-N-1-3.wav"],
             ["backup/Neutre/02-N-1-3.wav", "Neutre copy/02-N-1-3.wav", "Colère/Fort/old/01-C-2-1.wav"]),
    "cremad": (["AudioWAV/1001_DFA_ANG_XX.wav", "AudioWAV/1002_IEO_SAD_LO.wav"],
               ["AudioWAV_copy/1001_DFA_ANG_XX.wav", "backup/AudioWAV/1002_IEO_SAD_LO.wav"]),
    "demos": (["DEMOS/PR_f_01_rab01a.wav", "NEU/m_02_neu01a.wav"],
              ["DEMOS_copy/PR_f_01_rab01a.wav", "backup/NEU/m_02_neu01a.wav"]),
    "emodb": (["wav/03a01Fa.wav", "wav/08b02Wb.wav"], ["wav_copy/03a01Fa.wav", "silb/08b02Wb.wav"]),
    "emomatch": (["01_Alegria_02.WAV", "12_Tristeza_10.WAV"], ["backup/01_Alegria_02.WAV", "old/12_Tristeza_10.WAV"]),
    "emovo": (["f1/dis-f1-b1.wav", "m3/rab-m3-n5.wav"], ["f1_copy/dis-f1-b1.wav", "backup/m3/rab-m3-n5.wav"]),
    "eyase": (["Female/fm01/fm01_hap (3).wav", "Male/ml01_sad (7).wav"],
              ["backup/fm01_hap (3).wav", "Female/fm01/copy/fm01_hap (3).wav"]),
    "oreau": ([f"{OREAU}/f/sessc/10a01Ca.wav", f"{OREAU}/m/sessn/21b01Na.wav"],
              [f"{OREAU}/f/sessc_copy/10a01Ca.wav", f"backup/{OREAU}/m/sessn/21b01Na.wav"]),
    "ravdess": (["Actor_01/03-01-05-01-02-01-01.wav", "Actor_02/03-01-01-01-01-01-02.wav"],
                ["Audio_Speech_Actors_01-24/Actor_01/03-01-05-01-02-01-01.wav",
                 "Actor_02_copy/03-01-01-01-01-01-02.wav"]),
    "shemo": (["female/F01A01.wav", "male/M36S02.wav"], ["female_copy/F01A01.wav", "backup/male/M36S02.wav"]),
    "tess": (["OAF_angry/OAF_back_angry.wav", "YAF_sad/YAF_germ_sad.wav"],
             ["backup/OAF_back_angry.wav", "TESS Toronto emotional speech set data/YAF_sad/YAF_germ_sad.wav"]),
    "synthetic": (["it/it-m3/anger_00_0.wav", "de/de-f1/sadness_01_0.wav"],
                  ["backup/it/it-m3/anger_00_0.wav", "it/it-m3/old/anger_00_0.wav"]),
}


def _nfc(path: Path, root: Path) -> str:
    return unicodedata.normalize("NFC", path.relative_to(root).as_posix())


@pytest.mark.parametrize("key", sorted(TREES))
def test_copies_outside_the_audio_folders_are_named_not_read(tmp_path: Path, write_wav, key: str) -> None:
    clips, copies = TREES[key]
    build(tmp_path / "plain", clips, write_wav)
    build(tmp_path / "copied", clips + copies, write_wav)
    plain_scan = corpora.scan(key, tmp_path / "plain")
    scan = corpora.scan(key, tmp_path / "copied")
    assert len(plain_scan.items) == len(clips) and plain_scan.skipped == []
    assert not any("expected layout" in note for note in plain_scan.notes + scan.notes)  # the layout was found
    assert [(it.id, it.label, it.speaker) for it in scan.items] == [
        (it.id, it.label, it.speaker) for it in plain_scan.items]
    why = {_nfc(s.path, tmp_path / "copied"): s.reason for s in scan.skipped}
    assert set(why) == {unicodedata.normalize("NFC", c) for c in copies}
    assert all(reason.startswith(OUTSIDE) for reason in why.values()), why


def test_the_root_may_be_an_audio_folder_itself(tmp_path: Path, write_wav) -> None:
    build(tmp_path / "EmoDB", ["wav/03a01Fa.wav", "wav/sub/08b02Wb.wav"], write_wav)
    scan = corpora.scan("emodb", tmp_path / "EmoDB" / "wav")
    assert [it.id for it in scan.items] == ["03a01Fa"] and scan.notes == []
    assert [(s.path.name, s.reason) for s in scan.skipped] == [
        ("08b02Wb.wav", "ignored: outside the corpus's audio folders (wav/)")]
    build(tmp_path / "oreau", [f"{OREAU}/f/sessc/10a01Ca.wav", f"{OREAU}/m/sessn/21b01Na.wav"], write_wav)
    rows = corpora.load("oreau", tmp_path / "oreau" / OREAU)
    assert list(rows["id"]) == ["f/sessc/10a01Ca", "m/sessn/21b01Na"] and list(rows["gender"]) == ["f", "m"]


def test_a_layout_found_nowhere_reads_every_folder_and_says_so(tmp_path: Path, write_wav) -> None:
    build(tmp_path, ["03a01Fa.wav", "takes/08b02Wb.wav"], write_wav)
    scan = corpora.scan("emodb", tmp_path)
    assert [it.id for it in scan.items] == ["03a01Fa", "takes/08b02Wb"]
    assert len(scan.notes) == 1 and "no audio folder of the expected layout (wav/)" in scan.notes[0]


def test_the_shallowest_copy_wins_and_folders_at_one_level_are_all_read(tmp_path: Path, write_wav) -> None:
    layout = Layout(folders=(("wav",),), shown="wav/")
    build(tmp_path, ["a/wav/x.wav", "b/wav/y.wav", "b/c/wav/z.wav", "__MACOSX/wav/m.wav", ".hidden/wav/h.wav"],
          write_wav)
    found = locate(tmp_path, layout, (".wav",))
    assert [p.relative_to(tmp_path).as_posix() for p in found.files] == ["a/wav/x.wav", "b/wav/y.wav"]
    assert found.outside == "ignored: outside the corpus's audio folders (wav/ under a/, b/)"
    assert locate(tmp_path, Layout(folders=(("wav",),), shown="wav/", wrappers=0), (".wav",)).notes


def test_folder_names_match_in_plain_ascii_whatever_happened_to_accents() -> None:
    pattern = r"col(e)?re"
    for name in ["Colère", unicodedata.normalize("NFD", "Colère"), "ColŠre", "ColКre", "Col\udc8are"]:
        assert re.fullmatch(pattern, plain(name), re.IGNORECASE), name
    assert plain("D\udc82go\udc96t") == "Dgot"


def test_corpora_check_and_manifest_name_the_copies(tmp_path: Path, write_wav) -> None:
    clips, copies = TREES["ravdess"]
    build(tmp_path, clips + copies, write_wav)
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(app, ["corpora", "check", "--corpus", "ravdess", "--root", str(tmp_path), "--quick"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "2 usable files" in text and "skipped files: 2" in text
    assert "2 x ignored: outside the corpus's audio folders (Actor_NN/)" in text
    assert all(copy in text for copy in copies)


def test_iemocap_reads_only_its_session_sentence_folders(tmp_path: Path, write_wav) -> None:
    utt = "Ses01F_impro01_F000"
    clip = f"Session1/sentences/wav/Ses01F_impro01/{utt}.wav"
    copies = [f"Session1/sentences/wav_copy/Ses01F_impro01/{utt}.wav", f"backup/{clip}"]
    build(tmp_path, [clip, *copies], write_wav)
    label_file = tmp_path / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    label_file.parent.mkdir(parents=True)
    label_file.write_text(evaluation((utt, "neu")))
    scan = corpora.scan("iemocap", tmp_path)
    assert [(it.id, it.label) for it in scan.items] == [(clip.removesuffix(".wav"), "neutral")]
    why = {s.path.relative_to(tmp_path).as_posix(): s.reason for s in scan.skipped}
    assert set(why) == set(copies)
    assert all(r.startswith("ignored: not an utterance clip (IEMOCAP's are in Session*/sentences/wav/)")
               for r in why.values())
