"""What the benchmarks share about the service process they start: a free port, and waiting until it is ready."""

from __future__ import annotations

import asyncio
import socket

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(base: str, wait_s: float = 30) -> None:
    """Poll `base`/readyz until it answers 200; exit the benchmark if it does not within `wait_s`."""
    async with httpx.AsyncClient() as client:
        for _ in range(int(wait_s * 10)):
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the service did not become ready")
