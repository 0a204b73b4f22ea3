"""Settings, read from `WFS_*` environment variables (and an optional `.env` file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be configured with. See the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="WFS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where the embedded SQLite database lives.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: a SQLite file under WFS_DATA_DIR."
    )
    redis_url: str | None = Field(None, description="Redis URL; unset means the in-process dispatcher.")
    admin_token: SecretStr | None = Field(None, description="Bearer token for /v1; required outside dev.")
    public_url: str | None = Field(None, description="Base URL used in links; default: the request's.")

    allow_private_networks: bool = False
    outbound_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http_max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    http_default_timeout_s: float = Field(30.0, gt=0)

    lease_s: float = Field(15.0, gt=0, description="How long a claim holds a job without a heartbeat.")
    heartbeat_s: float = Field(5.0, gt=0, description="How often a worker extends its leases.")
    reconcile_interval_s: float = Field(2.0, gt=0)
    requeue_after_s: float = Field(10.0, gt=0, description="Re-enqueue a pending job not claimed for this long.")
    agent_offline_after_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1, description="Claims a job gets before a lost lease fails it.")

    delivery_schedule_scale: float = Field(
        1.0, gt=0, description="Multiplies the callback retry delays (tests run the schedule in seconds)."
    )
    delivery_timeout_s: float = Field(15.0, gt=0, description="How long a callback may take to answer 2xx.")
    delivery_poll_s: float = Field(0.5, gt=0, description="How often workers look for due callbacks.")

    worker_concurrency: int = Field(32, ge=1)
    worker_poll_delay_s: float = Field(0.005, gt=0, description="arq queue poll interval.")
    worker_pools: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])

    db_pool_size: int = Field(10, ge=1)
    log_level: str = "INFO"

    @field_validator("outbound_allowlist", "worker_pools", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'workflow-service.db').resolve()}"

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: jobs are dispatched in-process."""
        return not self.redis_url
