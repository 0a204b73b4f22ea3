"""The metrics and tracing settings (WFS_METRICS*, WFS_TRACING), a part of `config.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

MetricsAccess = Literal["open", "token", "off"]
TracingExport = Literal["otlp", "console", "off"]


class ObservabilityFields(BaseSettings):
    """The fields `Settings` inherits for metrics and tracing (docs/metrics.md)."""

    metrics: MetricsAccess = Field(
        "token",
        description="Who may read GET /metrics: `token` (WFS_METRICS_TOKEN or the operator token), `open` "
        "(anyone who reaches it), `off` (404, nothing served).",
    )
    metrics_token: SecretStr | None = Field(
        None, description="A bearer token that may read /metrics and nothing else (for the scraper)."
    )
    metrics_dir: Path | None = Field(
        None,
        description="A directory the processes of one host share, so that one scrape adds their metrics up "
        "(Prometheus multiprocess mode); unset: each process serves its own.",
    )
    metrics_cache_s: float = Field(
        5.0, ge=0, description="How long the figures read from the database (jobs by status, agents) are reused."
    )
    tracing: TracingExport = Field(
        "off",
        description="OpenTelemetry traces: `otlp` (exported per the OTEL_EXPORTER_OTLP_* variables), `console` "
        "(printed), `off`.",
    )
