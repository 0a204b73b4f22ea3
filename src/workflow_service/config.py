"""Settings, read from `WFS_*` environment variables (and an optional `.env` file).

`Settings` keeps one flat field per variable (`lease_s` reads WFS_LEASE_S): pydantic-settings fills a
nested model only from `WFS_<SECTION>__<FIELD>` names or a JSON value, which would rename every variable
that deployments, the docs and the tests set, and the keyword arguments the tests build settings with.
What the code reads is grouped instead: `database`, `jobs`, `worker`, `outbound`, `limits`, `models`,
`delivery`, `follow` and `oidc` are frozen sections built once from the validated fields, when the settings are
made and again by `model_copy` (which pydantic does not validate, and whose copy would otherwise keep the
old sections).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from workflow_service.core.secrets import parse_keys
from workflow_service.observability.settings import ObservabilityFields


class Price(BaseModel):
    """What a model costs, in credits per 1000 tokens (WFS_PRICING)."""

    model_config = ConfigDict(extra="forbid")

    input_per_1k: float = Field(ge=0)
    output_per_1k: float = Field(ge=0)


@dataclass(frozen=True, slots=True)
class DatabaseSection:
    url: str
    """WFS_DATABASE_URL, or the embedded SQLite file under WFS_DATA_DIR."""
    pool_size: int


@dataclass(frozen=True, slots=True)
class JobSection:
    max_attempts: int
    lease: timedelta
    requeue_after: timedelta
    agent_offline_after: timedelta


@dataclass(frozen=True, slots=True)
class WorkerSection:
    pools: tuple[str, ...]
    concurrency: int
    poll_delay_s: float
    heartbeat_s: float
    reconcile_interval_s: float


@dataclass(frozen=True, slots=True)
class OutboundSection:
    allow_private_networks: bool
    allowlist: tuple[str, ...]
    max_response_bytes: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class LimitSection:
    body_bytes: int
    step_output_bytes: int
    template_time_s: float
    template_iterations: int
    template_size: int


@dataclass(frozen=True, slots=True)
class ModelProviders:
    openai_base_url: str | None
    openai_api_key: SecretStr | None
    anthropic_base_url: str | None
    anthropic_api_key: SecretStr | None


@dataclass(frozen=True, slots=True)
class ModelSection:
    providers: ModelProviders
    timeout_s: float
    max_attempts: int
    backoff_s: float
    pricing: Mapping[str, Price]


@dataclass(frozen=True, slots=True)
class DeliverySection:
    schedule_scale: float
    timeout_s: float
    poll_s: float
    concurrency: int
    concurrency_per_receiver: int


@dataclass(frozen=True, slots=True)
class FollowSection:
    """Following a job: the long poll of GET /v1/jobs/{id} and the job's event stream."""

    max_wait_s: int
    keepalive_s: float
    poll_s: float


# Asymmetric only: `none` verifies nothing, and HS* would let anyone holding the provider's public key sign.
OIDC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


@dataclass(frozen=True, slots=True)
class OidcSection:
    issuer: str | None
    jwks_url: str | None
    audience: str | None
    algorithms: tuple[str, ...]
    email_claim: str
    leeway_s: float
    jwks_ttl_s: float


@dataclass(frozen=True, slots=True)
class _Sections:
    database: DatabaseSection
    jobs: JobSection
    worker: WorkerSection
    outbound: OutboundSection
    limits: LimitSection
    models: ModelSection
    delivery: DeliverySection
    follow: FollowSection
    oidc: OidcSection


class Settings(ObservabilityFields):
    """Everything the service can be configured with. See the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="WFS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".data"), description="Where the embedded SQLite database lives.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: a SQLite file under WFS_DATA_DIR."
    )
    redis_url: str | None = Field(None, description="Redis URL; unset means the in-process dispatcher.")
    admin_token: SecretStr | None = Field(None, description="Bearer token for /v1; required outside dev.")
    secret_key: SecretStr | None = Field(
        None,
        description="Fernet keys that encrypt secrets at rest (secure env variables, push tokens and signing "
        "secrets), comma-separated, newest first: rotate by prepending a new key, running "
        "`workflow-service rotate-secrets`, then dropping the old key. Without it secure variables are refused "
        "(`dev` makes one under WFS_DATA_DIR).",
    )
    public_url: str | None = Field(
        None,
        description="Base URL of the absolute links in responses (endpoints, Location), e.g. the address clients "
        "reach through a proxy; default: the request's.",
    )

    allow_private_networks: bool = False
    outbound_allowlist: Annotated[list[str], NoDecode] = Field(default_factory=list)
    http_max_response_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    http_default_timeout_s: float = Field(30.0, gt=0)
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Largest request body the API accepts (JSON or YAML); larger ones get 413 before they are read.",
    )
    trigger_max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest event body a trigger takes.")
    max_step_output_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="Largest step output (as JSON) a job keeps; a larger one fails the step with `output_too_large`. "
        "A step record's rendered input and model request/response details above it are stored truncated.",
    )
    template_time_limit_s: float = Field(
        2.0, gt=0, le=600, description="How long one render of a step's templates may take (`template_limit`)."
    )
    template_max_iterations: int = Field(
        100_000, ge=1, description="Loop iterations, calls and filter applications one render may make."
    )
    template_max_size: int = Field(
        1_000_000, ge=1000, description="Characters or items of any value a template builds, and of its output."
    )

    lease_s: float = Field(15.0, gt=0, description="How long a claim holds a job without a heartbeat.")
    heartbeat_s: float = Field(5.0, gt=0, description="How often a worker extends its leases.")
    reconcile_interval_s: float = Field(2.0, gt=0)
    retention_sweep_s: float = Field(3600.0, gt=0, description="Seconds between each worker's retention sweeps.")
    schedule_catchup_s: int = Field(3600, ge=0, description="How late a missed scheduled time may still run.")
    requeue_after_s: float = Field(10.0, gt=0, description="Re-enqueue a pending job not claimed for this long.")
    agent_offline_after_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1, description="Claims a job gets before a lost lease fails it.")

    openai_base_url: str | None = Field(None, description="OpenAI-compatible API base (default api.openai.com/v1).")
    openai_api_key: SecretStr | None = None
    anthropic_base_url: str | None = Field(None, description="Anthropic API base (default api.anthropic.com).")
    anthropic_api_key: SecretStr | None = None
    llm_timeout_s: float = Field(
        120.0, gt=0, description="Longest a model call may take (a step's timeout_s may lower it)."
    )
    llm_max_attempts: int = Field(3, ge=1, le=10, description="Tries per model call for transient errors.")
    llm_backoff_s: float = Field(0.5, ge=0, description="First retry delay of a model call; doubles each time.")
    pricing: dict[str, Price] = Field(
        default_factory=dict,
        description='Credits per 1000 tokens by model, as JSON: {"openai/gpt-4o": {"input_per_1k": 2.5, '
        '"output_per_1k": 10}}. Keys are `provider/model`, a bare model name, or `*` (any other model); a model '
        "with no entry has cost null.",
    )

    delivery_schedule_scale: float = Field(
        1.0, gt=0, description="Multiplies the callback retry delays (tests run the schedule in seconds)."
    )
    delivery_timeout_s: float = Field(15.0, gt=0, description="How long a callback may take to answer 2xx.")
    delivery_poll_s: float = Field(0.5, gt=0, description="How often workers look for due callbacks.")
    delivery_concurrency: int = Field(
        50, ge=1, description="Callbacks a worker sends at once; each is sent on its own, never waiting for another."
    )
    delivery_concurrency_per_receiver: int = Field(
        10,
        ge=1,
        description="Callbacks a worker sends at once to one receiver (the callback URL's scheme, host and port), "
        "so a slow receiver cannot take every slot.",
    )

    long_poll_max_s: int = Field(
        60, ge=1, le=600, description="Longest `Prefer: wait=N` on GET /v1/jobs/{id} waits; a longer N is cut to it."
    )
    events_keepalive_s: float = Field(
        15.0, gt=0, description="How often a quiet job event stream sends a `: keep-alive` comment, so proxies keep it."
    )
    follow_poll_s: float = Field(
        2.0,
        gt=0,
        description="How often a long poll or an event stream reads the job again when no notice came (a lost "
        "notice costs at most this).",
    )

    worker_concurrency: int = Field(32, ge=1)
    worker_poll_delay_s: float = Field(0.005, gt=0, description="arq queue poll interval.")
    worker_pools: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["default"])

    db_pool_size: int = Field(
        20, ge=1, description="Database connections each process keeps; more concurrent requests wait for one."
    )
    log_level: str = "INFO"

    oidc_issuer: str | None = Field(None, description="The identity provider's `iss`; unset: bearer JWTs are refused.")
    oidc_jwks_url: str | None = Field(None, description="Its JWKS URL; default: the discovery document's `jwks_uri`.")
    oidc_audience: str | None = Field(
        None, validate_default=True, description="The `aud` tokens must name; required with WFS_OIDC_ISSUER."
    )
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"], description="Algorithms accepted, comma-separated; asymmetric only."
    )
    oidc_email_claim: str = Field("email", min_length=1, description="The claim read as the user's email.")
    oidc_leeway_s: float = Field(30.0, ge=0, le=600, description="Clock skew allowed on `exp`, `nbf` and `iat`.")
    oidc_jwks_ttl_s: float = Field(300.0, gt=0, description="How long fetched signing keys are used before refetching.")

    @field_validator("outbound_allowlist", "worker_pools", "oidc_algorithms", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("secret_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())  # a ValueError naming the bad key, never showing it
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        refused = [name for name in value if name not in OIDC_ALGORITHMS]
        if refused or not value:
            allowed = ", ".join(sorted(OIDC_ALGORITHMS))
            raise ValueError(f"WFS_OIDC_ALGORITHMS: {refused or 'none given'} refused; accepted: {allowed}")
        return value

    @field_validator("oidc_audience")  # of the field, not the model: a model's error would show every setting
    @classmethod
    def _oidc_audience(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("oidc_issuer") and not value:
            raise ValueError("WFS_OIDC_AUDIENCE is required with WFS_OIDC_ISSUER: the `aud` tokens must be issued for")
        return value

    _sections: _Sections = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        self._sections = _sections(self)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied._sections = _sections(copied)
        return copied

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file."""
        return self._sections.database.url

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: jobs are dispatched in-process."""
        return not self.redis_url

    @property
    def database(self) -> DatabaseSection:
        return self._sections.database

    @property
    def jobs(self) -> JobSection:
        """Attempts and leases: what the api, the runner and the reconciler agree on."""
        return self._sections.jobs

    @property
    def worker(self) -> WorkerSection:
        return self._sections.worker

    @property
    def outbound(self) -> OutboundSection:
        """The guarded client's policy and limits (steps, callbacks, model calls)."""
        return self._sections.outbound

    @property
    def limits(self) -> LimitSection:
        return self._sections.limits

    @property
    def models(self) -> ModelSection:
        return self._sections.models

    @property
    def delivery(self) -> DeliverySection:
        return self._sections.delivery

    @property
    def follow(self) -> FollowSection:
        return self._sections.follow

    @property
    def oidc(self) -> OidcSection:
        return self._sections.oidc


def _sections(s: Settings) -> _Sections:
    database_url = s.database_url or f"sqlite+aiosqlite:///{(s.data_dir / 'workflow-service.db').resolve()}"
    return _Sections(
        database=DatabaseSection(database_url, s.db_pool_size),
        jobs=JobSection(
            s.max_attempts,
            timedelta(seconds=s.lease_s),
            timedelta(seconds=s.requeue_after_s),
            timedelta(seconds=s.agent_offline_after_s),
        ),
        worker=WorkerSection(
            tuple(s.worker_pools), s.worker_concurrency, s.worker_poll_delay_s, s.heartbeat_s, s.reconcile_interval_s
        ),
        outbound=OutboundSection(
            s.allow_private_networks, tuple(s.outbound_allowlist), s.http_max_response_bytes, s.http_default_timeout_s
        ),
        limits=LimitSection(
            s.max_body_bytes,
            s.max_step_output_bytes,
            s.template_time_limit_s,
            s.template_max_iterations,
            s.template_max_size,
        ),
        models=ModelSection(
            ModelProviders(s.openai_base_url, s.openai_api_key, s.anthropic_base_url, s.anthropic_api_key),
            s.llm_timeout_s,
            s.llm_max_attempts,
            s.llm_backoff_s,
            s.pricing,
        ),
        delivery=DeliverySection(
            s.delivery_schedule_scale,
            s.delivery_timeout_s,
            s.delivery_poll_s,
            s.delivery_concurrency,
            s.delivery_concurrency_per_receiver,
        ),
        follow=FollowSection(s.long_poll_max_s, s.events_keepalive_s, s.follow_poll_s),
        oidc=OidcSection(
            s.oidc_issuer,
            s.oidc_jwks_url,
            s.oidc_audience,
            tuple(s.oidc_algorithms),
            s.oidc_email_claim,
            s.oidc_leeway_s,
            s.oidc_jwks_ttl_s,
        ),
    )
