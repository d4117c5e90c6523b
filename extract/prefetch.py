"""Reading the clips of an extraction ahead of the model: :class:`Prefetcher`."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from extract.audio import MAX_SECONDS, AudioError, Clip, read_clip


class Prefetcher:
    """Decodes and resamples upcoming clips on worker threads while the model runs."""

    def __init__(self, paths: list[str], workers: int, depth: int, max_seconds: float = MAX_SECONDS) -> None:
        self._paths = paths
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="audio")
        self._queue: deque[Future[Clip]] = deque()
        self._next = 0
        self._depth = depth
        self._max_seconds = max_seconds

    def _fill(self) -> None:
        while self._next < len(self._paths) and len(self._queue) < self._depth:
            self._queue.append(self._pool.submit(read_clip, self._paths[self._next], self._max_seconds))
            self._next += 1

    def take(self) -> Clip | AudioError:
        """The next clip's waveform, or the :class:`AudioError` that explains why it cannot be used."""
        self._fill()
        future = self._queue.popleft()
        self._fill()
        try:
            return future.result()
        except AudioError as exc:
            return exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
