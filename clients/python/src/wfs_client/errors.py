"""The errors of the client: the service said no (ApiError, its problem+json), or could not be reached
(ConnectionFailed). Each prints as one line, fit for a CI log."""

from __future__ import annotations

from typing import Any

import httpx

DETAIL_CHARS = 300
"""How much of an answer that is not problem+json (a proxy's HTML page) an error quotes."""


def one_line(text: str) -> str:
    return " ".join(text.split())


class WfsError(Exception):
    """Every error the client raises."""


class ApiError(WfsError):
    """The service answered with an error status. `problem` is its problem+json body (`{"detail": <text>}`
    when the body is not JSON); `code`, `detail` and `errors` are read from it."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status: int = response.status_code
        self.problem: dict[str, Any] = _problem(response)
        code = self.problem.get("code")
        self.code: str | None = code if isinstance(code, str) else None
        detail = self.problem.get("detail") or self.problem.get("title") or response.reason_phrase
        self.detail: str = one_line(str(detail))[:DETAIL_CHARS]
        errors = self.problem.get("errors")
        self.errors: list[dict[str, Any]] = (
            [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        )
        super().__init__(self._message())

    def _message(self) -> str:
        head = f"{self.status} {self.code or self.response.reason_phrase}".strip()
        found = "; ".join(f"{e.get('path', '?')}: {e.get('message', '')}" for e in self.errors)
        more = f" ({found})" if found and found not in self.detail else ""
        return one_line(f"{head}: {self.detail}{more}")


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text}
    return body if isinstance(body, dict) else {"detail": response.text}


class ConnectionFailed(WfsError):
    """The service could not be reached, or the connection broke, after every attempt the retry policy
    allowed (`attempts`); `url` is what was asked and `cause` the last transport error."""

    def __init__(self, url: str, cause: str, attempts: int, why_not_retried: str = "") -> None:
        self.url, self.cause, self.attempts = url, one_line(cause), attempts
        tries = f"after {attempts} attempts" if attempts > 1 else "after 1 attempt"
        super().__init__(one_line(f"could not reach {url} ({tries}{why_not_retried}): {self.cause}"))
