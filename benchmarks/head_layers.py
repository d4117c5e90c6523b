"""The heads' fast CPU blocks against the plain expressions, side by side in one run, on one thread.

A training step (forward, backward, Adam) of the Non-Linear head on float16 frames shaped like the demo's batches
(32 clips of about 150 frames; d = 384 as Whisper tiny.en, 768 as Wav2Vec 2.0 base), the paper preset (raw
features, dropout 0.1): with :func:`probe.train.head_layers.uniform_dropout` and the identity shortcut of
:class:`probe.train.head_layers.Standardize`, against the expressions they replaced. The two kinds of step alternate so
that a machine shared with other jobs slows both alike; the parameters after the steps must be equal bit for bit.

    PYTHONPATH=$PWD python benchmarks/head_layers.py [--steps 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import probe.train.head_layers as layers
from probe.train.heads import build_head


def plain_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """The dropout expression :func:`probe.train.head_layers.uniform_dropout` replaced."""
    keep = torch.rand(x.shape, dtype=x.dtype) >= p
    return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))


def trainer(dim: int, frames: int, steps: int) -> Callable[[], tuple[float, list[torch.Tensor]]]:
    """A function training a fresh Non-Linear head ``steps`` steps; returns (seconds, parameters)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, frames, dim, generator=g).half()
    lengths = torch.randint(frames * 3 // 4, frames + 1, (32,), generator=g)
    mask = torch.arange(frames)[None, :] < lengths[:, None]
    y = torch.randint(0, 4, (32,), generator=g)

    def run() -> tuple[float, list[torch.Tensor]]:
        torch.manual_seed(0)
        head = build_head("nonlinear", 1, dim, 4)
        opt = torch.optim.Adam(head.parameters(), lr=5e-4)
        started = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(head(x, mask), y).backward()
            opt.step()
        return time.perf_counter() - started, [p.detach().clone() for p in head.parameters()]

    return run


def plain_blocks(on: bool) -> None:
    """Swap the plain expressions in (``on``) or restore the fast blocks."""
    layers.uniform_dropout = plain_dropout if on else FAST_DROPOUT  # type: ignore[assignment]
    layers.Standardize.is_identity = (lambda self: False) if on else FAST_IDENTITY  # type: ignore[method-assign]


FAST_DROPOUT = layers.uniform_dropout
FAST_IDENTITY = layers.Standardize.is_identity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'d':>4} {'frames':>6} {'plain s':>8} {'fast s':>8} {'fast/plain':>10}  equal")
    for dim, frames in ((384, 150), (768, 150)):
        run = trainer(dim, frames, args.steps)
        plain_t, fast_t, equal = [], [], True
        for _ in range(args.repeats):
            plain_blocks(True)
            t_plain, p_plain = run()
            plain_blocks(False)
            t_fast, p_fast = run()
            plain_t.append(t_plain)
            fast_t.append(t_fast)
            equal &= all(torch.equal(a, b) for a, b in zip(p_plain, p_fast))
        p, f = statistics.median(plain_t), statistics.median(fast_t)
        print(f"{dim:>4} {frames:>6} {p:>8.3f} {f:>8.3f} {f / p:>10.3f}  {equal}")


if __name__ == "__main__":
    main()
