"""The retry policy through a misbehaving proxy in front of a real (embedded) service: a lost answer to a
submit is retried with the same Idempotency-Key and makes one job; 503 + Retry-After is waited out; 429 is
retried; a POST without a key is not sent twice; a server that does not listen is one clear ConnectionFailed;
a broken event stream says where to resume."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.client.conftest import Service, deployed_greeter
from tests.client.proxy import DROP_ANSWER, Answer, Cut, Proxy
from tests.servers import free_port
from wfs_client import ApiError, AsyncClient, Client, ConnectionFailed, JobEvent, RetryPolicy

QUICK = RetryPolicy(attempts=3, backoff_s=0.05, max_backoff_s=1.5)
SUBMITS = "POST /v1/workflows/"


@pytest.fixture(scope="module")
def greeter(embedded: Service) -> str:
    return deployed_greeter(embedded)


@pytest.fixture
def wfs(embedded: Service) -> Iterator[Client]:
    """A client straight to the service, to see what the proxied calls did."""
    with embedded.client() as client:
        yield client


def jobs_of(wfs: Client, slug: str) -> list[str]:
    return [item["id"] for item in wfs.list_jobs(workflow=slug, limit=100)["items"]]


def test_a_submit_whose_answer_is_lost_is_retried_with_its_key_and_makes_one_job(
    embedded: Service, greeter: str, wfs: Client
) -> None:
    before = jobs_of(wfs, greeter)
    with (
        Proxy(embedded.url, [DROP_ANSWER], matching=SUBMITS) as proxy,
        Client(proxy.url, embedded.token, retry=QUICK) as c,
    ):
        job = c.submit_async(greeter, "current", {"inputs": {"name": "Ada"}})

    assert [seen.behaviour for seen in proxy.seen] == ["drop-answer", "forward"]
    keys = {seen.headers["Idempotency-Key"] for seen in proxy.seen}
    assert len(keys) == 1
    assert [j for j in jobs_of(wfs, greeter) if j not in before] == [job["id"]]


async def test_the_async_client_retries_a_lost_submit_with_its_key(
    embedded: Service, greeter: str, wfs: Client
) -> None:
    before = jobs_of(wfs, greeter)
    with Proxy(embedded.url, [DROP_ANSWER], matching=SUBMITS) as proxy:
        async with AsyncClient(proxy.url, embedded.token, retry=QUICK) as c:
            job = await c.submit_async(greeter, "current", {"inputs": {"name": "Bo"}}, idempotency_key="ci-run-7")

    assert [seen.headers["Idempotency-Key"] for seen in proxy.seen] == ["ci-run-7", "ci-run-7"]
    assert [j for j in jobs_of(wfs, greeter) if j not in before] == [job["id"]]


def test_503_with_retry_after_is_waited_out(embedded: Service) -> None:
    busy = Answer(503, {"Retry-After": "1", "Content-Type": "application/problem+json"}, b'{"code": "busy"}')
    with Proxy(embedded.url, [busy]) as proxy, Client(proxy.url, embedded.token, retry=QUICK) as c:
        started = time.monotonic()
        workflows = c.list_workflows()
        took = time.monotonic() - started

    assert "items" in workflows
    waited = proxy.seen[1].at - proxy.seen[0].at
    assert 0.95 <= waited < 1.5, waited
    assert took < 2.0


def test_a_long_retry_after_is_capped_at_max_backoff(embedded: Service) -> None:
    policy = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.3)
    with Proxy(embedded.url, [Answer(503, {"Retry-After": "3600"})]) as proxy, Client(proxy.url, retry=policy) as c:
        c.get_health()
    waited = proxy.seen[1].at - proxy.seen[0].at
    assert 0.28 <= waited < 0.8, waited


def test_a_retry_after_date_is_honoured_instead_of_the_backoff(embedded: Service) -> None:
    """A date already past means at once, where the policy's own backoff would wait 2.5 s or more."""
    policy = RetryPolicy(attempts=2, backoff_s=5.0, max_backoff_s=10.0)
    past = Answer(503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with Proxy(embedded.url, [past]) as proxy, Client(proxy.url, retry=policy) as c:
        c.get_health()
    assert proxy.seen[1].at - proxy.seen[0].at < 0.5


def test_429_without_retry_after_is_retried_even_for_a_post_without_a_key(
    embedded: Service, greeter: str, wfs: Client
) -> None:
    job = wfs.submit_async(greeter, "current", {"inputs": {"name": "Cy"}})
    waiting = wfs.duplicate_job(job["id"], {"start": False})
    with Proxy(embedded.url, [Answer(429)]) as proxy, Client(proxy.url, embedded.token, retry=QUICK) as c:
        canceled = c.cancel_job(waiting["id"])

    assert canceled["status"] == "canceled"
    assert [(seen.method, seen.behaviour) for seen in proxy.seen] == [("POST", "answer-429"), ("POST", "forward")]


def test_a_post_without_a_key_is_not_sent_again_after_its_answer_is_lost(
    embedded: Service, greeter: str, wfs: Client
) -> None:
    job = wfs.submit_async(greeter, "current", {"inputs": {"name": "Di"}})
    waiting = wfs.duplicate_job(job["id"], {"start": False})
    proxy = Proxy(embedded.url, [DROP_ANSWER])
    with proxy, Client(proxy.url, embedded.token, retry=QUICK) as c, pytest.raises(ConnectionFailed) as raised:
        c.cancel_job(waiting["id"])

    assert [seen.behaviour for seen in proxy.seen] == ["drop-answer"]
    assert wfs.get_job(waiting["id"])["status"] == "canceled"  # it was done: sending it again would not be safe
    message = str(raised.value)
    assert "\n" not in message
    assert f"POST {proxy.url}/v1/jobs/{waiting['id']}/cancel" in message
    assert "not retried" in message
    assert raised.value.attempts == 1


def test_a_get_whose_answer_is_lost_is_retried(embedded: Service, greeter: str) -> None:
    with Proxy(embedded.url, [DROP_ANSWER, DROP_ANSWER]) as proxy, Client(proxy.url, embedded.token, retry=QUICK) as c:
        workflow = c.get_workflow(greeter)
    assert workflow["slug"] == greeter
    assert [seen.behaviour for seen in proxy.seen] == ["drop-answer", "drop-answer", "forward"]


def test_a_502_is_retried_for_a_get_and_not_for_a_post_without_a_key(embedded: Service) -> None:
    gateway = Answer(502, {"Content-Type": "text/html"}, b"<html><body>\n<h1>Bad gateway</h1>\n</body></html>")
    with Proxy(embedded.url, [gateway]) as proxy, Client(proxy.url, embedded.token, retry=QUICK) as c:
        c.list_workflows()
    assert len(proxy.seen) == 2

    proxy = Proxy(embedded.url, [gateway])
    with proxy, Client(proxy.url, embedded.token, retry=QUICK) as c, pytest.raises(ApiError) as raised:
        c.request("POST", "/v1/workflows/nothing/validate")
    assert len(proxy.seen) == 1
    error = raised.value
    assert (error.status, error.code, error.errors) == (502, None, [])
    assert error.problem == {"detail": gateway.body.decode()}
    assert str(error) == "502 Bad Gateway: <html><body> <h1>Bad gateway</h1> </body></html>"


def test_statuses_that_never_clear_are_an_api_error_after_every_attempt(embedded: Service) -> None:
    busy = Answer(503, {"Content-Type": "application/problem+json"}, b'{"code": "overloaded", "detail": "try later"}')
    proxy = Proxy(embedded.url, [busy] * 3)
    with proxy, Client(proxy.url, retry=QUICK) as c, pytest.raises(ApiError) as raised:
        c.get_health()
    assert len(proxy.seen) == 3
    assert str(raised.value) == "503 overloaded: try later"


def test_a_server_that_does_not_listen_is_connection_failed_after_every_attempt() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retry=QUICK) as c, pytest.raises(ConnectionFailed) as raised:
        c.get_job("some-job")
    assert raised.value.attempts == 3
    assert str(raised.value).startswith(f"could not reach GET {url}/v1/jobs/some-job (after 3 attempts): ConnectError")
    assert "\n" not in str(raised.value)


def test_a_post_is_retried_when_the_server_does_not_listen_yet() -> None:
    """Nothing was sent, so even a POST without a key is tried `attempts` times."""
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retry=QUICK) as c, pytest.raises(ConnectionFailed) as raised:
        c.cancel_job("some-job")
    assert raised.value.attempts == 3


def test_a_broken_event_stream_says_where_to_resume(embedded: Service, greeter: str, wfs: Client) -> None:
    job = wfs.submit_async(greeter, "current", {"inputs": {"name": "Ed"}})
    events = list(wfs.iter_events(job["id"]))
    headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {embedded.token}"}
    raw = httpx.get(f"{embedded.url}/v1/jobs/{job['id']}/events", headers=headers).content
    into_the_second_event = raw.index(b"\n\n") + 12
    with Proxy(embedded.url, [Cut(into_the_second_event)]) as proxy, Client(proxy.url, embedded.token) as c:
        got: list[JobEvent] = []
        stream = c.iter_events(job["id"])
        got.append(next(stream))
        with pytest.raises(ConnectionFailed) as raised:
            next(stream)
        resumed = list(c.iter_events(job["id"], last_event_id=got[-1].id))

    assert f"resume with last_event_id='{got[-1].id}'" in str(raised.value)
    assert got + resumed == events
