"""A secret just made (a trigger's signing secret, a new user's token), shown once on the page the form redirects
to. The form answers with a redirect (so that reloading the page shows it again without repeating the request that
made it: a second trigger, a refused second user), and the secret travels to that page in a cookie of its own:
HTTP-only, same-site strict, for that page's path only, living a minute, deleted by the page that shows it."""

from __future__ import annotations

from typing import Any

from starlette.responses import RedirectResponse, Response

from workflow_service.ui.context import Ui, from_cookie, is_secure, to_cookie

ONCE_COOKIE = "wfs_once"
LIFETIME_S = 60


def redirect_showing(ui: Ui, path: str, value: dict[str, str | bool]) -> RedirectResponse:
    """303 to `path` (under /ui), whose page shows `value` the next time it is opened, and then never again."""
    response = ui.redirect(path)
    response.set_cookie(
        ONCE_COOKIE,
        to_cookie(dict(value)),
        path=ui.url(path),
        max_age=LIFETIME_S,
        httponly=True,
        secure=is_secure(ui.request),
        samesite="strict",
    )
    return response


def shown_once(ui: Ui, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """What `redirect_showing` carried to this page, if it has every one of `keys` (None otherwise)."""
    value = from_cookie(ui.request.cookies.get(ONCE_COOKIE))
    if value is None or any(not isinstance(value.get(key), str | bool) for key in keys):
        return None
    return {key: value[key] for key in keys}


def forget(ui: Ui, response: Response, path: str) -> Response:
    """Delete the cookie of the page at `path` from the browser, once the page has shown what it carried."""
    if ONCE_COOKIE in ui.request.cookies:
        response.delete_cookie(
            ONCE_COOKIE, path=ui.url(path), httponly=True, secure=is_secure(ui.request), samesite="strict"
        )
    return response
