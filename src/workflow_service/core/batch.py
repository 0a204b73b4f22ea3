"""Group commit: requests made while one batch is on its way go out together in the next.

Under load many jobs are claimed or announced at once; each round trip to PostgreSQL or Redis costs more
CPU than the work it carries (docs/benchmarks.md). A `Batcher` sends the first request at once (no added
latency when the service is quiet) and gathers the requests that arrive while it is being answered into
the next batch, one round trip for all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

BatchCall = Callable[[Sequence[K]], Awaitable[Mapping[K, V]]]
"""Answers a batch of keys in one go: a value per key it has one for (a key left out gets None)."""


class Batcher(Generic[K, V]):
    def __init__(self, call: BatchCall[K, V], max_size: int = 256) -> None:
        self._call = call
        self._max_size = max_size
        self._waiting: list[tuple[K, asyncio.Future[V | None]]] = []
        self._sending: asyncio.Task[None] | None = None

    def submit(self, key: K) -> asyncio.Future[V | None]:
        """Queue `key` for the next batch; the future gets its value, None, or the batch's error."""
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_all(), name="batch")
        return future

    async def get(self, key: K) -> V | None:
        return await self.submit(key)

    async def flush(self) -> None:
        """Wait until everything submitted so far has been sent."""
        if self._sending is not None:
            await asyncio.gather(self._sending, return_exceptions=True)

    async def close(self) -> None:
        """Stop: a batch still on its way is cancelled, its requests with it (before what it uses, such as
        a database engine, is closed)."""
        if self._sending is not None and not self._sending.done():
            self._sending.cancel()
            await asyncio.gather(self._sending, return_exceptions=True)

    async def _send_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._max_size], self._waiting[self._max_size :]
            try:
                values = await self._call([key for key, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, future in batch:
                if not future.done():
                    future.set_result(values.get(key))
