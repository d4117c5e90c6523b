"""Deterministic CUDA kernels for extraction and training, in one place, and the settings a cache records.

On a GPU, several torch kernels (cuBLAS with its default workspaces, cuDNN's autotuned convolutions, atomic-add
reductions) can give different last bits from run to run. :func:`deterministic_cuda` asks torch for its
deterministic implementations where it has them (``torch.use_deterministic_algorithms``; ``warn_only`` so an
operator without one warns instead of stopping an extraction), sets ``CUBLAS_WORKSPACE_CONFIG`` (which cuBLAS needs
for reproducible matrix products; it only takes effect when set before CUDA starts, so it is set at model load),
and switches cuDNN to deterministic, non-benchmarked algorithms (without torch's NaN filling of new tensors, a
pure cost here). On the CPU it changes nothing: torch's CPU kernels
are deterministic for a fixed thread count. :func:`determinism_settings` is what a cache's root attribute
``determinism`` holds.
"""

from __future__ import annotations

import os

import torch
import torch.utils.deterministic

CUBLAS_WORKSPACE = ":4096:8"
WARN_ONLY = True


def deterministic_cuda(device: str | torch.device) -> bool:
    """Switch torch to deterministic CUDA algorithms when ``device`` is CUDA (idempotent); False on the CPU.

    ``CUBLAS_WORKSPACE_CONFIG`` is set only when absent (a user's own setting is kept) and only helps when this
    runs before CUDA is initialised: call it before a model is moved to the GPU."""
    if torch.device(device).type != "cuda":
        return False
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True, warn_only=WARN_ONLY)
    # With deterministic algorithms on, torch would also fill every new uninitialised tensor (torch.empty, pinned
    # host buffers) with NaN: a write of every buffer, on the GPU and on the host, that buys nothing here, since
    # nothing reads memory it did not write (the rerun tests compare caches bit for bit).
    torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return True


def compute_device(device: str | torch.device) -> str:
    """What computed the numbers, beyond the device index: ``cuda: <GPU model>`` on CUDA, ``cpu: <instruction set>``
    on the CPU (torch's ``get_cpu_capability``, e.g. ``AVX512``): kernels of another GPU model or instruction set sum
    in another order, so shards of one cache must all come from the same kind."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    if dev.type == "cpu":
        return f"cpu: {torch.backends.cpu.get_cpu_capability()}"
    return dev.type


def determinism_settings(device: str | torch.device) -> dict[str, object]:
    """The settings in effect for work on ``device``, for a cache's ``determinism`` attribute."""
    dev = torch.device(device)
    settings: dict[str, object] = {
        "device_type": dev.type,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
    }
    if dev.type == "cuda":
        settings.update({
            "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
            "fill_uninitialized_memory": bool(torch.utils.deterministic.fill_uninitialized_memory),  # type: ignore[attr-defined]
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        })
    else:
        settings["cpu_threads"] = torch.get_num_threads()
    return settings
