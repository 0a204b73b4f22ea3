"""Batcher: the first request goes at once; those made while a batch is on its way go together next."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from workflow_service.core.batch import Batcher


class Backend:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail_on: int | None = None

    async def call(self, keys: Sequence[int]) -> Mapping[int, str]:
        self.calls.append(list(keys))
        await self.release.wait()
        if self.fail_on in keys:
            raise RuntimeError(f"batch with {self.fail_on} refused")
        return {key: f"v{key}" for key in keys if key % 7}  # multiples of 7 have no value


async def test_a_lone_request_goes_at_once_with_nothing_added() -> None:
    backend = Backend()
    batcher = Batcher(backend.call)
    assert await batcher.get(1) == "v1"
    assert backend.calls == [[1]]


async def test_requests_made_while_a_batch_is_on_its_way_go_together() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = Batcher(backend.call)
    first = batcher.submit(1)
    await asyncio.sleep(0)  # the first batch is on its way, waiting for its answer
    later = [batcher.submit(key) for key in range(2, 12)]
    backend.release.set()
    assert await first == "v1"
    assert await asyncio.gather(*later) == [None if key % 7 == 0 else f"v{key}" for key in range(2, 12)]
    assert backend.calls == [[1], list(range(2, 12))]


async def test_an_error_reaches_the_requests_of_its_batch_only() -> None:
    backend = Backend()
    backend.release.clear()
    backend.fail_on = 3
    batcher = Batcher(backend.call, max_size=2)
    futures = [batcher.submit(key) for key in (1, 2, 3, 4, 5)]
    backend.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[:2] == ["v1", "v2"]
    assert all(isinstance(r, RuntimeError) for r in results[2:4])
    assert results[4] == "v5"  # the batch after the failed one still went
    assert backend.calls == [[1, 2], [3, 4], [5]]


async def test_flush_waits_for_everything_submitted() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = Batcher(backend.call)
    futures = [batcher.submit(key) for key in (1, 2)]
    flushing = asyncio.create_task(batcher.flush())
    await asyncio.sleep(0.01)
    assert not flushing.done()
    backend.release.set()
    await flushing
    assert all(f.done() for f in futures)


async def test_a_canceled_sender_cancels_its_waiters() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = Batcher(backend.call)
    future = batcher.submit(1)
    await asyncio.sleep(0)
    assert batcher._sending is not None
    batcher._sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await future


async def test_close_cancels_what_is_on_its_way() -> None:
    backend = Backend()
    backend.release.clear()
    batcher = Batcher(backend.call)
    future = batcher.submit(1)
    await asyncio.sleep(0)
    await batcher.close()
    assert future.cancelled()
    assert batcher._sending is not None
    assert batcher._sending.done()
