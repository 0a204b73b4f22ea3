"""Signing in to the dashboard: a token exchanged for a session cookie, what ends a session, CSRF on every
action, and what the session may not do (open the API, be forged, redirect elsewhere)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, make_settings
from tests.ui.forms import csrf_of, dashboard, sign_in
from workflow_service.config import Settings
from workflow_service.models import UiSession
from workflow_service.ui.sessions import COOKIE

session_t: sa.Table = UiSession.__table__  # type: ignore[assignment]


async def new_user(api: httpx.AsyncClient, email: str, role: str = "member") -> dict[str, str]:
    created = await api.post("/v1/users", json={"email": email, "name": email.split("@")[0], "role": role})
    assert created.status_code == 201, created.text
    body: dict[str, str] = created.json()
    return body


def error_of(page: httpx.Response) -> str:
    found = re.search(r'id="sign-in-error">([^<]+)<', page.text)
    assert found is not None, page.text
    return found.group(1)


async def audit_actions(api: httpx.AsyncClient) -> list[str]:
    entries = (await api.get("/v1/audit-log", params={"limit": 100})).json()["items"]
    return [e["action"] for e in entries]


async def test_a_personal_token_opens_a_session_whose_cookie_is_http_only_and_scoped(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        user = await new_user(api, "ada@example.com", "admin")
        client = browser()
        answer = await sign_in(client, user["token"])
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/jobs"
        cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain http here; see the https test
        account = await client.get("/ui/account")
        assert account.status_code == 200
        assert "ada@example.com" in account.text
        assert user["token"] not in account.text  # the token is never shown back
        assert "auth.signed_in" in await audit_actions(api)


async def test_the_cookie_is_secure_when_the_service_is_served_over_https(engine: AsyncEngine) -> None:
    for settings, base_url in (
        (make_settings(), "https://testserver"),  # the request itself came over https
        (make_settings(public_url="https://wfs.example.com"), "https://wfs.example.com"),  # behind a TLS proxy
    ):
        async with dashboard(settings) as (browser, _api):
            client = browser(base_url)
            answer = await sign_in(client, TOKEN)
            cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}="))
            assert "Secure" in cookie
            assert (await client.get("/ui/account")).status_code == 200


async def test_the_operator_signs_in_to_a_named_workspace(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        owner = {"email": "owner@acme.example", "name": "Owner"}
        made = await api.post("/v1/workspaces", json={"slug": "acme", "name": "Acme", "owner": owner})
        assert made.status_code == 201, made.text
        client = browser()
        assert (await sign_in(client, TOKEN, "acme")).status_code == 303
        assert "<code>acme</code>" in (await client.get("/ui/account")).text
        missing = await sign_in(browser(), TOKEN, "nowhere")
        assert missing.status_code == 404
        assert "nowhere" in error_of(missing)


async def test_refused_tokens_say_why_and_open_nothing(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        key = await _api_key(api)
        revoked = await new_user(api, "gone@example.com")
        tokens = (await api.get(f"/v1/users/{revoked['id']}/tokens")).json()["items"]
        assert (await api.delete(f"/v1/users/{revoked['id']}/tokens/{tokens[0]['id']}")).status_code == 204
        cases = {
            revoked["token"]: "revoked",
            "": "paste a personal access token",
            "not-a-token": "not a personal access token",
            key: "API key",
            "wfs_pat_0123456789ab_" + "x" * 40: "not valid",
        }
        for token, reason in cases.items():
            client = browser()
            answer = await sign_in(client, token)
            assert answer.status_code == 401, (token, answer.status_code)
            assert reason in error_of(answer)
            assert COOKIE not in client.cookies
            assert (await client.get("/ui/account")).status_code == 303  # to the sign-in page
        assert "auth.sign_in_failed" in await audit_actions(api)


async def _api_key(api: httpx.AsyncClient) -> str:
    made = await api.post("/v1/workflows", json={"name": "Keyed", "definition": {"steps": [], "output": {}}})
    assert made.status_code == 201, made.text
    key = await api.post(f"/v1/workflows/{made.json()['slug']}/api-keys", json={"name": "ci"})
    assert key.status_code == 201, key.text
    value: str = key.json()["key"]
    return value


async def test_a_page_without_a_session_redirects_to_sign_in_and_back(settings: Settings) -> None:
    async with dashboard(settings) as (browser, _api):
        client = browser()
        answer = await client.get("/ui/account")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/sign-in?next=/ui/account"
        page = await client.get(answer.headers["location"])
        back = await client.post(
            "/ui/sign-in", data={"token": TOKEN, "csrf_token": csrf_of(page.text), "next": "/ui/account"}
        )
        assert back.headers["location"] == "/ui/account"
        script = await browser().get("/ui/notices", headers={"Accept": "application/json"})
        assert script.status_code == 401
        assert "sign in again" in script.json()["detail"]


async def test_sign_in_never_sends_the_browser_to_another_site(settings: Settings) -> None:
    async with dashboard(settings) as (browser, _api):
        for target in ("https://evil.example/", "//evil.example/ui/jobs", "/ui\\@evil.example", "/v1/jobs", "ui/jobs"):
            client = browser()
            page = await client.get("/ui/sign-in")
            answer = await client.post(
                "/ui/sign-in", data={"token": TOKEN, "csrf_token": csrf_of(page.text), "next": target}
            )
            assert answer.headers["location"] == "/ui/jobs", target


async def test_the_sign_in_form_needs_its_own_csrf_token(settings: Settings) -> None:
    async with dashboard(settings) as (browser, _api):
        client = browser()
        await client.get("/ui/sign-in")
        forged = await client.post("/ui/sign-in", data={"token": TOKEN, "csrf_token": "guess", "next": ""})
        assert forged.status_code == 403
        assert COOKIE not in client.cookies
        cross = browser()
        page = await cross.get("/ui/sign-in")
        answer = await cross.post(
            "/ui/sign-in",
            data={"token": TOKEN, "csrf_token": csrf_of(page.text), "next": ""},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status_code == 403
        assert COOKIE not in cross.cookies


async def test_actions_need_the_session_csrf_token_and_this_site_as_origin(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        user = await new_user(api, "grace@example.com")
        client = browser()
        await sign_in(client, user["token"])
        page = await client.get("/ui/account")
        csrf = csrf_of(page.text)
        for data, headers in (
            ({"name": "x"}, {}),
            ({"name": "x", "csrf_token": "wrong"}, {}),
            ({"name": "x", "csrf_token": csrf}, {"Origin": "https://evil.example"}),
        ):
            refused = await client.post("/ui/account/tokens", data=data, headers=headers)
            assert refused.status_code == 403
            assert "another site" in refused.text
        tokens = (await client.get("/ui/account")).text
        assert tokens.count("<code>wfs_pat_") == 1  # only the token signed in with: nothing was created
        posted = await client.post("/ui/account/tokens", data={"name": "laptop", "csrf_token": csrf})
        assert posted.status_code == 303
        made = await client.get(posted.headers["location"])
        assert "shown only once" in made.text
        assert re.search(r'<code id="new-token">wfs_pat_[0-9a-f]{12}_', made.text)
        assert made.headers["cache-control"] == "no-store"
        again = await client.get("/ui/account")
        assert "new-token" not in again.text  # shown once: a reload shows it no more, and makes no other
        by_header = await client.post(
            "/ui/account/tokens",
            data={"name": "by script"},
            headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"},
        )
        assert by_header.status_code == 303


async def test_a_bad_form_shows_the_api_problem_and_stores_nothing(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        user = await new_user(api, "lin@example.com")
        client = browser()
        await sign_in(client, user["token"])
        page = await client.get("/ui/account")
        answer = await client.post(
            "/ui/account/tokens", data={"name": "", "expires_in_days": "99999", "csrf_token": csrf_of(page.text)}
        )
        assert answer.status_code == 422
        assert "name" in answer.text
        assert "expires_in_days" in answer.text
        listed = (await client.get("/ui/account")).text
        assert listed.count("<code>wfs_pat_") == 1


async def test_sign_out_ends_the_session_and_is_recorded(settings: Settings, engine: AsyncEngine) -> None:
    async with dashboard(settings) as (browser, api):
        client = browser()
        await sign_in(client, TOKEN)
        cookie = client.cookies[COOKIE]
        page = await client.get("/ui/account")
        assert (await client.post("/ui/sign-out", data={})).status_code == 403  # no CSRF: still signed in
        assert (await client.get("/ui/account")).status_code == 200
        out = await client.post("/ui/sign-out", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert out.headers["location"] == "/ui/sign-in"
        replayed = browser()
        replayed.cookies.set(COOKIE, cookie)
        assert (await replayed.get("/ui/account")).status_code == 303
        async with engine.connect() as conn:
            assert (await conn.execute(sa.select(sa.func.count()).select_from(session_t))).scalar_one() == 0
        assert "auth.signed_out" in await audit_actions(api)


async def test_revoking_the_token_or_removing_the_user_ends_their_sessions(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        ada = await new_user(api, "ada@example.com")
        bob = await new_user(api, "bob@example.com")
        ada_browser, bob_browser = browser(), browser()
        await sign_in(ada_browser, ada["token"])
        await sign_in(bob_browser, bob["token"])
        tokens = (await api.get(f"/v1/users/{ada['id']}/tokens")).json()["items"]
        assert (await api.delete(f"/v1/users/{ada['id']}/tokens/{tokens[0]['id']}")).status_code == 204
        assert (await ada_browser.get("/ui/account")).status_code == 303
        assert (await bob_browser.get("/ui/account")).status_code == 200
        assert (await api.delete(f"/v1/users/{bob['id']}")).status_code in (200, 204)
        assert (await bob_browser.get("/ui/account")).status_code == 303


async def test_a_session_ends_when_it_expires_or_the_operator_token_changes(
    settings: Settings, engine: AsyncEngine
) -> None:
    async with dashboard(settings) as (browser, _api):
        old, late = browser(), browser()
        await sign_in(old, TOKEN)
        await sign_in(late, TOKEN)
        async with engine.begin() as conn:
            await conn.execute(
                session_t.update()
                .where(session_t.c.secret_hash == _hash(late.cookies[COOKIE]))
                .values(expires_at=sa.func.now() - timedelta(seconds=1))
            )
        assert (await late.get("/ui/account")).status_code == 303
        assert (await old.get("/ui/account")).status_code == 200
        cookie = old.cookies[COOKIE]
    async with dashboard(make_settings(admin_token=SecretStr("another-token"))) as (browser, _api):
        again = browser()
        again.cookies.set(COOKIE, cookie)
        assert (await again.get("/ui/account")).status_code == 303


def _hash(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode()).hexdigest()


async def test_the_session_cookie_opens_no_api_route(settings: Settings) -> None:
    async with dashboard(settings) as (browser, _api):
        client = browser()
        await sign_in(client, TOKEN)
        assert (await client.get("/v1/jobs")).status_code == 401
        forged = browser()
        forged.cookies.set(COOKIE, "made-up")
        assert (await forged.get("/ui/account")).status_code == 303


async def test_pages_act_as_the_signed_in_person_in_the_audit_log(settings: Settings) -> None:
    async with dashboard(settings) as (browser, api):
        user = await new_user(api, "kim@example.com")
        client = browser()
        await sign_in(client, user["token"])
        page = await client.get("/ui/account")
        await client.post("/ui/account/tokens", data={"name": "cli", "csrf_token": csrf_of(page.text)})
        entries = (await api.get("/v1/audit-log", params={"limit": 100})).json()["items"]
        made = next(e for e in entries if e["action"] == "token.created")
        assert made["actor"] == f"user:{user['id']}"
