"""FastAPI's native OpenTelemetry stays as FastAPI sets it when the operator configured OpenTelemetry, and is
off otherwise (it would otherwise ask the global providers on every request)."""

from __future__ import annotations

import os

import pytest

from workflow_service.app import create_app, native_telemetry
from workflow_service.config import Settings


def test_off_when_opentelemetry_is_not_configured() -> None:
    assert native_telemetry({"PATH": "/usr/bin", "WFS_ADMIN_TOKEN": "x"}) == {
        "tracing": False,
        "metrics": False,
        "logs": False,
    }


def test_fastapi_defaults_when_the_operator_configured_it_or_tracing_is_on() -> None:
    for config in (
        native_telemetry({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}),
        native_telemetry({"FASTAPI_OTEL_AUTO_CONFIGURE": "true"}),
        native_telemetry({}, "otlp"),
    ):
        assert set(config) == {"exclude"}  # the rest as FastAPI sets it
        exclude = config["exclude"]
        assert exclude is not None
        # scrapes and probes get no span; everything else does
        assert [p for p in ("/metrics", "/healthz", "/readyz", "/v1/jobs", "/docs") if exclude({"path": p})] == [
            "/metrics",
            "/healthz",
            "/readyz",
        ]


def test_the_app_takes_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(("OTEL_", "FASTAPI_OTEL_"))]:
        monkeypatch.delenv(name)
    app = create_app(Settings(admin_token="t" * 32, database_url="sqlite+aiosqlite:///:memory:"))
    assert app._telemetry["tracing"] is False
    assert app._native_telemetry.enabled() is False
