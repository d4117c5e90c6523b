"""The extraction's device-side path equals the plain one it replaced: log-mel batched on the model's device,
only the real frames of each state copied, states cast to the cache's float16 (with their float32 means and peaks)
before one host copy. On the CPU (tests choose it explicitly); the CUDA copy path runs where CUDA is present."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from extract.backbones import MODELS
from extract.backbones.base import cache_tensors, to_host
from extract.backbones.whisper import SAMPLES_PER_FRAME, WhisperBackbone, _windows
from extract.guards import StateRangeError, state_problem

DIMS = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                       n_vocab=51864, n_text_ctx=8, n_text_state=64, n_text_head=2, n_text_layer=1)


def _tiny(**options: object) -> WhisperBackbone:
    torch.manual_seed(0)
    return WhisperBackbone(Whisper(DIMS).eval(), MODELS["whisper-tiny.en"], checkpoint="random(seed=0)",
                           weights="random", device="cpu", **options)  # type: ignore[arg-type]


def _clip(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.2 * np.sin(2 * np.pi * (110 + 40 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _plain_states(backbone: WhisperBackbone, waves: list[np.ndarray]) -> list[np.ndarray]:
    """The code this path replaced: each window's log-mel on the CPU, one at a time, every state of all frames
    stacked, then the real frames sliced, cast to float32 and copied."""
    windows = [(i, w) for i, wave in enumerate(waves) for w in _windows(wave)]
    pieces: list[tuple[int, torch.Tensor]] = []
    with torch.inference_mode():
        for start in range(0, len(windows), len(waves)):
            chunk = windows[start : start + len(waves)]
            states = backbone.encode_states(torch.stack([backbone.log_mel(w) for _, w in chunk]))
            pieces += [(i, states[:, j, : math.ceil(len(w) / SAMPLES_PER_FRAME)]) for j, (i, w) in enumerate(chunk)]
    return [torch.cat([p for i, p in pieces if i == k], dim=1).float().numpy() for k in range(len(waves))]


def test_batched_log_mel_on_the_device_equals_whispers_one_window_at_a_time() -> None:
    for options, waves in (({}, [_clip(s, i) for i, s in enumerate((0.5, 1.7, 2.3, 0.3))]),
                           ({"whisper_input": "trim"}, [_clip(1.3, i) for i in range(3)])):
        backbone = _tiny(**options)
        batched = backbone.log_mel_batch(waves)
        one_by_one = torch.stack([backbone.log_mel(w) for w in waves])
        assert torch.equal(batched, one_by_one)  # bit for bit on the CPU


def test_states_equal_the_plain_path_including_a_clip_of_two_windows() -> None:
    backbone = _tiny()
    waves = [np.concatenate([_clip(30.0, 1), _clip(1.5, 2)]), _clip(0.7, 3), _clip(1.0, 4)]
    got = backbone.extract(waves)
    for new, old in zip(got, _plain_states(backbone, waves)):
        assert new.dtype == np.float32 and new.shape == old.shape
        np.testing.assert_array_equal(new, old)  # same batches, same inputs: identical


def test_trim_windows_of_unequal_length_never_share_an_encoder_call() -> None:
    backbone = _tiny(whisper_input="trim")
    waves = [np.concatenate([_clip(30.0, 5), _clip(0.9, 6)]), np.concatenate([_clip(30.0, 7), _clip(0.9, 8)])]
    for wave, got in zip(waves, backbone.extract(waves)):
        assert got.shape == (3, backbone.n_frames(len(wave)), 64)
        np.testing.assert_allclose(got, backbone.extract([wave])[0], atol=1e-4, rtol=1e-4)


def test_cache_states_are_the_float32_states_cast_and_reduced() -> None:
    backbone = _tiny()
    waves = [_clip(0.6, 1), _clip(2.1, 2)]
    for full, cached in zip(backbone.extract(waves), backbone.extract_for_cache(waves)):
        assert cached.frames.dtype == np.float16 and cached.pooled.dtype == cached.peaks.dtype == np.float32
        np.testing.assert_array_equal(cached.frames, full.astype(np.float16))  # numpy's cast, bit for bit
        np.testing.assert_allclose(cached.pooled, full.mean(axis=1), rtol=1e-6, atol=1e-6)  # summation order
        np.testing.assert_array_equal(cached.peaks, np.abs(full).max(axis=(1, 2)))


def test_peaks_carry_nan_inf_and_range_to_the_state_check() -> None:
    states = torch.ones(3, 4, 2)
    states[1, 2, 0] = float("nan")
    states[2, 0, 1] = float("inf")
    frames, _, peaks = (t.numpy() for t in cache_tensors(states))
    assert state_problem(frames, "c", peaks=peaks) == state_problem(states.numpy(), "c")
    assert state_problem(frames, "c", peaks=peaks) == "the model's states hold NaN or inf (layers 1, 2)"
    loud = torch.full((2, 3, 2), 1e6)
    frames, _, peaks = (t.numpy() for t in cache_tensors(loud))
    with pytest.raises(StateRangeError, match="layer 0 holds values up to 1e"):
        state_problem(frames, "c", peaks=peaks)  # the float16 frames are inf; the float32 peak names the range
    assert cache_tensors(torch.ones(2, 0, 3))[2].tolist() == [0.0, 0.0]  # no frames: nothing to check


def test_host_copy_of_cpu_tensors_shares_their_memory() -> None:
    tensor = torch.arange(6, dtype=torch.float16).reshape(2, 3)
    (host,) = to_host([tensor])
    assert np.shares_memory(host, tensor.numpy()) and host.dtype == np.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the asynchronous pinned copy needs CUDA")
def test_host_copy_from_cuda_is_pinned_and_equal() -> None:
    tensors = [torch.randn(5, 7, device="cuda").half(), torch.randn(3, device="cuda")]
    hosts = to_host(tensors)
    for host, tensor in zip(hosts, tensors):
        np.testing.assert_array_equal(host, tensor.cpu().numpy())
