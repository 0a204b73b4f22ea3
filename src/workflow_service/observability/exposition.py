"""A scrape's answer: the process's metrics (or, in multiprocess mode, every file of the directory added up),
with the database's figures when given, in the Prometheus text format."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from workflow_service.observability.gauges import DatabaseGauges
from workflow_service.observability.metrics import Instruments

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The classic text format: every Prometheus reads it, and the metric names need nothing newer."""


class _Registry(Collector):
    """Another registry's metrics, as one collector of the scrape's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


def _registry(instruments: Instruments, gauges: DatabaseGauges | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if instruments.directory is not None:
        MultiProcessCollector(registry, path=str(instruments.directory))
    else:
        assert instruments.registry is not None
        registry.register(_Registry(instruments.registry))
    if gauges is not None:
        registry.register(gauges)
    return registry


async def render(instruments: Instruments, gauges: DatabaseGauges | None = None) -> bytes:
    """The scrape's body. The database's figures are refreshed first (at most once per WFS_METRICS_CACHE_S);
    when the database cannot be read they are the last ones read, and the rest is served all the same."""
    if gauges is not None:
        try:
            await gauges.refresh()
        except Exception:
            log.warning("metrics: could not read the database's figures; serving the last ones", exc_info=True)
    # Reading a directory of files (multiprocess mode) is file I/O: off the event loop.
    return await asyncio.to_thread(generate_latest, _registry(instruments, gauges))
