"""`http`: one request through the guarded outbound client.

Output: `{status_code, headers, body}`, body parsed as JSON when the response says it is JSON.
Every request carries `Idempotency-Key: {job_id}:{step_id}` so a retried step is recognisable.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import orjson
from pydantic import Field, model_validator
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from workflow_service.core.http import OutboundError, send_capped
from workflow_service.engine.steps.base import StepConfig, StepFailure, StepRuntime, StepType


class HttpConfig(StepConfig):
    """An `http` step: one request; its output is `{status_code, headers, body}`."""

    type: Literal["http"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    json_body: Any = Field(None, alias="json", description="A JSON body (templates allowed).")
    body: str | None = Field(None, description="A raw text body; exclusive with `json`.")
    fail_on_status: bool = Field(True, description="Fail the step when the response status is >= 400.")

    @model_validator(mode="after")
    def _one_body(self) -> HttpConfig:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either `json` or `body`, not both")
        return self


class _Transient(Exception):
    def __init__(self, response: httpx.Response | None, cause: Exception | None) -> None:
        super().__init__(str(cause) if cause else f"HTTP {response.status_code if response else '?'}")
        self.response, self.cause = response, cause


_TRANSIENT_STATUS = frozenset({502, 503, 504})


async def run(config: StepConfig, rendered: dict[str, Any], runtime: StepRuntime) -> Any:
    assert isinstance(config, HttpConfig)
    url = rendered["url"]
    if not isinstance(url, str):
        raise StepFailure("invalid_request", f"url must render to a string, got {type(url).__name__}")
    timeout = config.timeout_s or runtime.default_timeout_s
    request = _request(config, rendered, runtime, timeout)
    response = await _send(runtime, request, f"{config.method} {url}", timeout)
    output = {"status_code": response.status_code, "headers": dict(response.headers), "body": _parse_body(response)}
    if config.fail_on_status and response.status_code >= 400:
        snippet = response.text[:500]
        raise StepFailure(
            "http_status", f"{config.method} {url} answered {response.status_code}: {snippet}", output=output
        )
    return output


def _request(config: HttpConfig, rendered: dict[str, Any], runtime: StepRuntime, timeout_s: float) -> httpx.Request:
    """The request the rendered fields describe, with its idempotency key; `invalid_request` if it cannot be built."""
    headers = {str(k): str(v) for k, v in (rendered["headers"] or {}).items()}
    headers.setdefault("Idempotency-Key", f"{runtime.job_id}:{runtime.step_id}")
    content: bytes | None = None
    if rendered["json_body"] is not None:
        content = orjson.dumps(rendered["json_body"], default=str)
        headers.setdefault("Content-Type", "application/json")
    elif rendered["body"] is not None:
        content = str(rendered["body"]).encode()
    try:
        # Merge `query` into the URL's own query string (httpx's `params=` would replace it).
        target = (
            httpx.URL(rendered["url"]).copy_merge_params(rendered["query"]) if rendered["query"] else rendered["url"]
        )
        return runtime.http.build_request(config.method, target, headers=headers, content=content, timeout=timeout_s)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
        raise StepFailure("invalid_request", f"cannot build the request: {exc}") from exc


async def _send(runtime: StepRuntime, request: httpx.Request, what: str, timeout_s: float) -> httpx.Response:
    """The response, after up to three tries when the connection fails or the server is unavailable
    (the last such response is returned); `what` (method and URL) names the request in errors."""
    try:
        async for try_ in AsyncRetrying(
            stop=stop_after_attempt(3),
            reraise=True,
            wait=wait_exponential(multiplier=0.2, max=1.0),
            retry=retry_if_exception_type(_Transient),
        ):
            with try_:
                return await _attempt(runtime, request)
    except _Transient as exc:
        if exc.response is None:
            raise StepFailure("http_connect_error", f"{what}: {exc.cause}") from exc
        return exc.response
    except OutboundError as exc:
        raise StepFailure(exc.code, str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise StepFailure("step_timeout", f"{what} did not answer within {timeout_s} s") from exc
    except httpx.HTTPError as exc:
        raise StepFailure("http_error", f"{what}: {exc}") from exc
    raise AssertionError("unreachable: the last try returns or raises")


async def _attempt(runtime: StepRuntime, request: httpx.Request) -> httpx.Response:
    try:
        response = await send_capped(runtime.http, request, runtime.max_response_bytes)
    except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
        raise _Transient(None, exc) from exc
    if response.status_code in _TRANSIENT_STATUS:
        raise _Transient(response, None)
    return response


def _parse_body(response: httpx.Response) -> Any:
    ctype = response.headers.get("content-type", "")
    if "json" in ctype and response.content:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
    return response.text


STEP = StepType(
    name="http",
    config=HttpConfig,
    template_fields=("url", "headers", "query", "json_body", "body"),
    pure=False,
    run=run,
)
