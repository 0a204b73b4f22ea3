"""Every page, for every role: no server error, every link the dashboard offers opens, and a page offers only
the actions the person may take (a viewer's pages post nothing but their own account's forms).

The dashboard is crawled as each person would click through it (links under /ui, breadth first), in a
workspace with a deployed workflow that ran jobs, a schedule, a trigger, an environment variable and a key."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TOKEN, WorkerFactory, make_settings, wait_for_job
from tests.ui.forms import dashboard, sign_in
from workflow_service.config import Settings

DEFINITION = {
    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    "variables": {"greeting": "Hello"},
    "steps": [
        {"id": "greet", "type": "transform", "output": {"text": "{{ vars.greeting }}, {{ inputs.name }}!"}},
        {"id": "shout", "type": "transform", "output": {"text": "{{ steps.greet.output.text | upper }}"}},
    ],
    "output": {"greeting": "{{ steps.shout.output.text }}"},
}
MAX_PAGES = 120
VIEWER_ACTIONS = re.compile(r"/ui/(sign-out|account/tokens(/[^/]+/revoke)?|workflows(/import)?)")
"""The only forms a viewer's pages may hold: signing out, their own personal access tokens, and creating (or
importing) a workflow of their own, which every member of a workspace may. Nothing on the workflow they view."""


@pytest.fixture
def settings(engine: AsyncEngine) -> Settings:
    """With a secret key: the workflow has a secure environment variable."""
    return make_settings(secret_key=SecretStr(Fernet.generate_key().decode()))


class _Page(HTMLParser):
    """The links and post forms of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(values["href"] or "")
        elif tag == "form" and (values.get("method") or "get").lower() == "post":
            self.forms.append(values.get("action") or "")


@dataclass
class Crawl:
    status: dict[str, int] = field(default_factory=dict)
    forms: dict[str, set[str]] = field(default_factory=dict)
    """Each post form's action, with the pages that hold it."""


def _key(url: str) -> str:
    """Pages that differ only in their query's values are one page to the crawl (a sort, a filter, a cursor)."""
    parts = urlsplit(url)
    names = sorted({name for name, _ in parse_qsl(parts.query)})
    return parts.path + ("?" + "&".join(names) if names else "")


async def crawl(client: httpx.AsyncClient, starts: Iterable[str]) -> Crawl:
    found = Crawl()
    queue = list(starts)
    seen = {_key(url) for url in queue}
    while queue and len(found.status) < MAX_PAGES:
        url = queue.pop(0)
        answer = await client.get(url)
        found.status[url] = answer.status_code
        if "text/html" not in answer.headers.get("content-type", ""):
            continue
        page = _Page()
        page.feed(answer.text)
        for action in page.forms:
            found.forms.setdefault(urlsplit(urljoin(url, action)).path, set()).add(url)
        for href in page.links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc not in ("", "testserver") or not parts.path.startswith("/ui/"):
                continue
            if parts.path.startswith("/ui/static/") or _key(target) in seen:
                continue
            seen.add(_key(target))
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


@dataclass
class World:
    workflow: str
    other: str
    job: str
    people: dict[str, str]
    """Each role's personal access token (the operator's is TOKEN)."""


async def make_world(api: httpx.AsyncClient) -> World:
    made = await api.post("/v1/workflows", json={"name": "Greeter", "definition": DEFINITION})
    assert made.status_code == 201, made.text
    slug = made.json()["slug"]
    other = (await api.post("/v1/workflows", json={"name": "Hidden", "definition": DEFINITION})).json()["slug"]
    for ref in (slug, other):
        assert (await api.post(f"/v1/workflows/{ref}/deploy")).status_code in (200, 201)
    ran = await api.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": {"name": "Ada"}})
    assert ran.status_code == 202, ran.text
    job = ran.json()["id"]
    await wait_for_job(api, job)
    await api.post(f"/v1/workflows/{slug}/versions/current/async", json={"inputs": {"name": 7}})
    setup = [
        await api.put(f"/v1/workflows/{slug}/env/REGION", json={"value": "eu", "notes": "where it runs"}),
        await api.put(f"/v1/workflows/{slug}/env/TOKEN", json={"value": "s3cret", "secure": True}),
        await api.post(f"/v1/workflows/{slug}/api-keys", json={"name": "ci"}),
        await api.post(
            f"/v1/workflows/{slug}/schedules",
            json={"name": "daily", "cron": "0 9 * * *", "timezone": "UTC", "inputs": {"name": "cron"}},
        ),
        await api.post(f"/v1/workflows/{slug}/triggers", json={"type": "webhook", "name": "hook"}),
    ]
    for answer in setup:
        assert answer.status_code < 300, answer.text
    people: dict[str, str] = {}
    for ws_role in ("owner", "admin"):
        user = (
            await api.post("/v1/users", json={"email": f"ws-{ws_role}@example.com", "name": ws_role, "role": ws_role})
        ).json()
        people[f"workspace {ws_role}"] = user["token"]
    for role in ("viewer", "runner", "editor", "owner", None):
        name = role or "uninvited"
        member = (await api.post("/v1/users", json={"email": f"{name}@example.com", "name": name})).json()
        if role is not None:
            shared = await api.put(f"/v1/workflows/{slug}/members/{member['id']}", json={"role": role})
            assert shared.status_code in (200, 201), shared.text
        people[name] = member["token"]
    return World(slug, other, job, people)


def starts(world: World) -> list[str]:
    pages = ["/ui/jobs", "/ui/workflows", "/ui/account", "/ui/audit", "/ui/people", f"/ui/jobs/{world.job}"]
    sections = ("", "/endpoint", "/keys", "/configuration", "/sharing", "/automation", "/monitor", "/audit")
    return pages + [f"/ui/workflows/{world.workflow}{section}" for section in sections]


ROLES = ["operator", "workspace owner", "workspace admin", "owner", "editor", "runner", "viewer", "uninvited"]


@pytest.mark.parametrize("role", ROLES)
async def test_every_page_opens_for_every_role(settings: Settings, start_worker: WorkerFactory, role: str) -> None:
    await start_worker()
    async with dashboard(settings) as (browser, api):
        world = await make_world(api)
        client = browser()
        answer = await sign_in(client, TOKEN if role == "operator" else world.people[role])
        assert answer.status_code == 303, answer.text
        found = await crawl(client, starts(world))
        errors = {url: status for url, status in found.status.items() if status >= 500}
        assert not errors, errors
        starting = set(starts(world))
        # A page the dashboard links to opens (a start page may be one the role may not see: 403/404, never 5xx).
        broken = {url: s for url, s in found.status.items() if url not in starting and s not in (200, 303)}
        assert not broken, broken
        assert len(found.status) > len(starting), "the crawl found no links"
        if role in ("uninvited", "viewer", "runner", "editor", "owner"):
            assert not any(world.other in url for url in found.status), "a workflow not shared shows"
        if role == "uninvited":
            assert not any(world.workflow in url for url in found.status if url not in starting)
        if role == "viewer":
            offered = {action for action in found.forms if not VIEWER_ACTIONS.fullmatch(action)}
            assert not offered, {action: sorted(found.forms[action]) for action in offered}
