"""The settings' sections and the process's Context: built once, from the same WFS_* variables as ever."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import REDIS_URL, make_settings
from workflow_service.config import Price, Settings
from workflow_service.core.dispatch import ArqDispatcher, InProcessDispatcher
from workflow_service.core.notify import RedisNotifier
from workflow_service.jobs.follow_ups import FOLLOW_UPS
from workflow_service.migrate import upgrade
from workflow_service.startup import close_context, open_context
from workflow_service.worker.runtime import in_process_worker


def test_the_sections_read_the_flat_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "WFS_DATA_DIR": str(tmp_path),
        "WFS_LEASE_S": "7",
        "WFS_MAX_ATTEMPTS": "5",
        "WFS_WORKER_POOLS": "cpu, gpu",
        "WFS_OUTBOUND_ALLOWLIST": "127.0.0.1,example.test",
        "WFS_TEMPLATE_MAX_SIZE": "5000",
        "WFS_OPENAI_API_KEY": "sk-test",
        "WFS_PRICING": '{"openai/gpt-4o": {"input_per_1k": 2.5, "output_per_1k": 10}}',
        "WFS_DELIVERY_POLL_S": "0.25",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings()

    assert settings.database.url == f"sqlite+aiosqlite:///{(tmp_path / 'workflow-service.db').resolve()}"
    assert settings.database.url == settings.effective_database_url
    assert (settings.jobs.lease, settings.jobs.max_attempts) == (timedelta(seconds=7), 5)
    assert settings.worker.pools == ("cpu", "gpu")
    assert settings.outbound.allowlist == ("127.0.0.1", "example.test")
    assert settings.limits.template_size == 5000
    assert settings.models.providers.openai_api_key == SecretStr("sk-test")
    assert settings.models.pricing == {"openai/gpt-4o": Price(input_per_1k=2.5, output_per_1k=10)}
    assert settings.delivery.poll_s == 0.25


def test_a_copy_of_the_settings_has_sections_of_its_own() -> None:
    settings = make_settings(lease_s=3.0)

    copied = settings.model_copy(update={"lease_s": 1.0, "worker_pools": ["gpu"]})

    assert (copied.jobs.lease, copied.worker.pools) == (timedelta(seconds=1), ("gpu",))
    assert (settings.jobs.lease, settings.worker.pools) == (timedelta(seconds=3), ("default",))


async def test_the_embedded_api_and_its_worker_share_one_context(tmp_path: Path) -> None:
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'embedded.db'}", redis_url=None)
    await asyncio.to_thread(upgrade, settings.database.url)
    ctx = await open_context(settings)
    try:
        assert isinstance(ctx.dispatcher, InProcessDispatcher)
        assert ctx.ends.engine is ctx.engine
        assert ctx.ends.notifier is ctx.notifier
        assert ctx.ends.follow_ups is FOLLOW_UPS
        assert ctx.limits.max_size == settings.limits.template_size
        async with in_process_worker(ctx) as runtime:
            assert runtime.ctx is ctx
            runner = runtime._runner
            assert runner is not None
            assert runner.steps.tools.http is ctx.http  # no client of its own
            assert runner.steps.tools.models is ctx.models
            assert runner.steps.tools.template_limits is ctx.limits
    finally:
        await close_context(ctx)
    assert ctx.http.is_closed


async def test_with_redis_the_context_dispatches_and_notifies_through_it() -> None:
    ctx = await open_context(make_settings(redis_url=REDIS_URL))
    try:
        assert isinstance(ctx.dispatcher, ArqDispatcher)
        assert isinstance(ctx.notifier, RedisNotifier)
        assert await ctx.dispatcher.ping()
    finally:
        await close_context(ctx)
