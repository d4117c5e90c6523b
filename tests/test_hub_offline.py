"""Offline, a hub checkpoint fails at once (or loads from the local cache) instead of retrying for half a minute."""

from __future__ import annotations

import time

import pytest

from extract.backbones import hub, load_backbone


def test_offline_is_detected_from_the_environment_and_from_an_unreachable_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub.hub_offline.cache_clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_offline()
    hub.hub_offline.cache_clear()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # the discard port: nothing listens there
    assert hub.hub_offline()
    hub.hub_offline.cache_clear()


def test_a_missing_checkpoint_fails_fast_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    hub.hub_offline.cache_clear()
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-ser-probe-hub-cache")
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="could not load facebook/wav2vec2-base"):
        load_backbone("wav2vec2-base", weights="pretrained", device="cpu")
    assert time.perf_counter() - started < 15  # from_pretrained's own retries take about 30 s
    hub.hub_offline.cache_clear()
