"""Every 202 tells the client where the job is (an absolute Location) and when to ask for it again
(Retry-After): async and push at once, sync when its wait runs out."""

from __future__ import annotations

import httpx

from tests.conftest import BASE_URL, WorkerFactory
from tests.deliveries.conftest import enable_push
from tests.invocation.conftest import ADA, GREETER, deploy, invoke
from tests.servers import EchoServer


async def test_every_202_says_where_the_job_is_and_when_to_ask_again(
    client: httpx.AsyncClient, echo_server: EchoServer, start_worker: WorkerFactory
) -> None:
    await deploy(client, "greeter", GREETER)
    await enable_push(client, "greeter", f"{echo_server.url}/hook")
    for mode in ("async", "push"):
        accepted = await invoke(client, "greeter", mode, ADA)
        assert accepted.status_code == 202, accepted.text
        assert accepted.headers["Location"] == f"{BASE_URL}/v1/jobs/{accepted.json()['id']}"
        assert accepted.headers["Retry-After"] == "1"
    waited = await invoke(client, "greeter", "sync", {**ADA, "pool": "nobody"}, headers={"Prefer": "wait=0"})
    assert waited.status_code == 202, waited.text
    assert waited.headers["Location"] == f"{BASE_URL}/v1/jobs/{waited.json()['id']}"
    assert waited.headers["Retry-After"] == "1"
    await start_worker()
    ended = await invoke(client, "greeter", "sync", ADA)
    assert ended.status_code == 200, ended.text
    assert "Retry-After" not in ended.headers
