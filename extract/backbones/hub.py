"""Whether the Hugging Face hub can be reached, asked once per process.

Offline, ``from_pretrained`` retries every download five times with back-off (about half a minute per model)
before it fails. A short connection test first lets an offline machine go straight to the local cache
(``local_files_only``): a checkpoint downloaded before still loads, and a missing one fails at once.
"""

from __future__ import annotations

import functools
import os
import socket
from urllib.parse import urlparse

HUB_TIMEOUT_S = 3.0


@functools.lru_cache(maxsize=1)
def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set, or the hub's host (``HF_ENDPOINT``, default huggingface.co) cannot be
    connected to within :data:`HUB_TIMEOUT_S` seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=HUB_TIMEOUT_S):
            return False
    except OSError:
        return True
