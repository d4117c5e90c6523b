"""The one check of a ``--device`` a user asked for: a device that is named but absent is an error that says so,
never a silent fall-back to the CPU nor a traceback from deep inside torch.

``auto`` (CUDA when present, else the CPU) and ``cpu`` always pass; ``cuda`` and ``cuda:N`` need a CUDA build of
torch that sees that GPU; ``mps`` needs Apple's Metal backend. Anything else is refused with the values accepted.
"""

from __future__ import annotations

__all__ = ["DeviceError", "check_device"]

ACCEPTED = "auto, cpu, cuda or cuda:N"


class DeviceError(ValueError):
    """A requested device is unknown or absent here; the message names it, the reason and the alternatives."""


def _cuda_problem(device: str) -> str | None:
    """Why the CUDA device ``device`` (``cuda`` or ``cuda:N``) cannot be used here, or ``None``."""
    import torch

    if not torch.cuda.is_available():
        reason = ("this torch build has no CUDA support (a CPU-only wheel)" if torch.version.cuda is None
                  else "no CUDA GPU is visible (no driver, or CUDA_VISIBLE_DEVICES hides them)")
        return f"CUDA is not available here: {reason}"
    index = device.partition(":")[2]
    if not index:
        return None
    if not index.isdigit():
        return f"{index!r} is not a GPU number"
    count = torch.cuda.device_count()
    if int(index) >= count:
        return f"this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"
    return None


def check_device(device: str, option: str = "--device") -> None:
    """Raise :class:`DeviceError` when ``device`` is not ``auto`` and is not present on this machine."""
    text = device.strip().lower()
    if text in ("auto", "cpu"):
        return
    if text == "cuda" or text.startswith("cuda:"):
        problem = _cuda_problem(text)
    elif text == "mps":
        import torch

        problem = None if torch.backends.mps.is_available() else "Apple's MPS backend is not available here"
    else:
        problem = f"not a device this suite runs on (accepted: {ACCEPTED})"
    if problem is not None:
        raise DeviceError(f"{option} {device}: {problem}; use {option} cpu, or {option} auto to use a GPU only "
                          "when one is present")
