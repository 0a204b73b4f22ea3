"""Chat model providers: `openai` (any OpenAI-compatible Chat Completions endpoint: OpenAI, vLLM,
Ollama, LiteLLM, ...) and `anthropic` (the Messages API).

Every call goes through the guarded outbound client. Errors are classified; transient ones (rate
limit, server error, timeout, connection) are retried with backoff, honouring Retry-After. The exact
request sent (without credentials) and the raw response are returned for the step record.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from workflow_service.core.http import OutboundError, send_capped
from workflow_service.engine.steps.base import StepFailure

DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
ANTHROPIC_VERSION = "2023-06-01"
MAX_RETRY_AFTER_S = 30.0


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Where and how to reach a provider: settings, overridden by the workflow's environment."""

    base_url: str
    api_key: str | None


@dataclass(slots=True)
class ModelCall:
    provider: str
    model: str
    system: str | None
    prompt: str
    temperature: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False


@dataclass(slots=True)
class ModelAnswer:
    text: str
    model: str
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: float
    request: dict[str, Any]
    response: Any
    attempts: int
    errors: list[str] = field(default_factory=list)


def resolve(provider: str, settings_values: Mapping[str, str | None], env: Mapping[str, Any]) -> ProviderConfig:
    """The provider's base URL and key: the workflow's `<PROVIDER>_BASE_URL`/`<PROVIDER>_API_KEY`
    environment variables win over the service settings."""
    prefix = provider.upper()
    base = env.get(f"{prefix}_BASE_URL") or settings_values.get(f"{provider}_base_url") or DEFAULT_BASE_URLS[provider]
    key = env.get(f"{prefix}_API_KEY") or settings_values.get(f"{provider}_api_key")
    return ProviderConfig(base_url=str(base).rstrip("/"), api_key=str(key) if key else None)


def _openai_request(call: ModelCall, config: ProviderConfig) -> tuple[str, dict[str, str], dict[str, Any]]:
    messages = ([{"role": "system", "content": call.system}] if call.system else []) + [
        {"role": "user", "content": call.prompt}
    ]
    body: dict[str, Any] = {"model": call.model, "messages": messages}
    if call.temperature is not None:
        body["temperature"] = call.temperature
    if call.max_tokens is not None:
        body["max_tokens"] = call.max_tokens
    if call.json_mode:
        body["response_format"] = {"type": "json_object"}
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return f"{config.base_url}/chat/completions", headers, body


def _anthropic_request(call: ModelCall, config: ProviderConfig) -> tuple[str, dict[str, str], dict[str, Any]]:
    body: dict[str, Any] = {
        "model": call.model,
        "max_tokens": call.max_tokens or 1024,  # required by the Messages API
        "messages": [{"role": "user", "content": call.prompt}],
    }
    system = call.system
    if call.json_mode:
        note = "Answer with one JSON value only, no prose and no code fences."
        system = f"{system}\n\n{note}" if system else note
    if system:
        body["system"] = system
    if call.temperature is not None:
        body["temperature"] = call.temperature
    headers = {"anthropic-version": ANTHROPIC_VERSION}
    if config.api_key:
        headers["x-api-key"] = config.api_key
    return f"{config.base_url}/v1/messages", headers, body


def _openai_answer(data: Any) -> tuple[str, str | None, int | None, int | None]:
    choice = data["choices"][0]["message"]
    usage = data.get("usage") or {}
    return choice.get("content") or "", data.get("model"), usage.get("prompt_tokens"), usage.get("completion_tokens")


def _anthropic_answer(data: Any) -> tuple[str, str | None, int | None, int | None]:
    text = "".join(block.get("text", "") for block in data.get("content", []) if block.get("type") == "text")
    usage = data.get("usage") or {}
    return text, data.get("model"), usage.get("input_tokens"), usage.get("output_tokens")


_REQUESTS = {"openai": _openai_request, "anthropic": _anthropic_request}
_ANSWERS = {"openai": _openai_answer, "anthropic": _anthropic_answer}


class _Transient(Exception):
    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value else None
    except ValueError:
        return None


def _classify(response: httpx.Response) -> StepFailure | _Transient:
    status, snippet = response.status_code, response.text[:500]
    if status == 429:
        return _Transient("llm_rate_limited", f"rate limited (429): {snippet}", _retry_after(response))
    if status >= 500:
        return _Transient("llm_server_error", f"the provider answered {status}: {snippet}", _retry_after(response))
    if status in (401, 403):
        return StepFailure("llm_auth_error", f"the provider refused the credentials ({status}): {snippet}")
    return StepFailure("llm_bad_request", f"the provider refused the request ({status}): {snippet}")


@dataclass(frozen=True, slots=True)
class CallPolicy:
    """How a model call is made: each request's time limit, how many tries, how large an answer may
    be, and the wait before the second try (doubled after each)."""

    timeout_s: float
    max_attempts: int
    max_response_bytes: int
    backoff_s: float = 0.5


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The request every try sends, built once."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    content: bytes


async def complete(http: httpx.AsyncClient, call: ModelCall, config: ProviderConfig, policy: CallPolicy) -> ModelAnswer:
    """Call the model, retrying transient failures; raise StepFailure with a classified code."""
    url, headers, body = _REQUESTS[call.provider](call, config)
    prepared = _Prepared(url, {**headers, "Content-Type": "application/json"}, body, orjson.dumps(body))
    errors: list[str] = []
    started = time.perf_counter()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            data, (text, model, tokens_in, tokens_out) = await _try(http, call, prepared, policy)
        except _Transient as exc:
            failure = exc
        else:
            return ModelAnswer(
                text=text,
                model=model or call.model,
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                latency_ms=(time.perf_counter() - started) * 1000,
                request={"url": url, "body": body},
                response=data,
                attempts=attempt,
                errors=errors,
            )
        errors.append(f"attempt {attempt}: {failure.message}")
        if attempt == policy.max_attempts:
            raise StepFailure(failure.code, f"{failure.message} (after {attempt} attempts)")
        delay = policy.backoff_s * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)
        await asyncio.sleep(delay if failure.retry_after is None else max(delay, failure.retry_after))
    raise AssertionError("unreachable")


async def _try(
    http: httpx.AsyncClient, call: ModelCall, prepared: _Prepared, policy: CallPolicy
) -> tuple[Any, tuple[str, str | None, int | None, int | None]]:
    """One request: the provider's JSON and the answer read from it. Raises _Transient for what is
    worth another try, StepFailure for the rest."""
    try:
        request = http.build_request(
            "POST", prepared.url, content=prepared.content, timeout=policy.timeout_s, headers=prepared.headers
        )
        response = await send_capped(http, request, policy.max_response_bytes)
    except httpx.TimeoutException as exc:
        raise _Transient("llm_timeout", f"no answer within {policy.timeout_s} s") from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
        raise _Transient("llm_connect_error", f"cannot reach {prepared.url}: {exc}") from exc
    except OutboundError as exc:
        raise StepFailure(exc.code, str(exc)) from exc
    except httpx.HTTPError as exc:
        raise StepFailure("llm_error", f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise _classify(response)
    try:
        data = orjson.loads(response.content)
        return data, _ANSWERS[call.provider](data)
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise StepFailure(
            "llm_bad_response", f"the provider's answer is not a {call.provider} response: {exc}"
        ) from exc
