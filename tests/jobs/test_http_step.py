"""`http` steps against a real echo server, and the outbound guard that every request goes through."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import WorkerFactory, wait_for_job
from tests.jobs.conftest import deploy_workflow, submit
from tests.servers import EchoServer
from workflow_service.core.http import (
    GuardedTransport,
    IPAddress,
    OutboundError,
    OutboundPolicy,
    check_url,
    is_public,
    make_client,
    send_capped,
)

BASE_INPUTS = {"type": "object", "properties": {"base": {"type": "string"}}, "required": ["base"]}


async def run_steps(
    client: httpx.AsyncClient,
    start_worker: WorkerFactory,
    echo_server: EchoServer,
    steps: list[dict[str, Any]],
    inputs: dict[str, Any] | None = None,
    output: Any = None,
    **worker_settings: Any,
) -> dict[str, Any]:
    """Deploy a workflow of `steps`, run one job on a worker and return the finished job."""
    definition: dict[str, Any] = {"input_schema": {"type": "object"}, "steps": steps}
    if output is not None:
        definition["output"] = output
    await deploy_workflow(client, "caller", definition)
    await start_worker(**worker_settings)
    job = await submit(client, "caller", {"base": echo_server.url, **(inputs or {})})
    return await wait_for_job(client, job["id"])


def get(step_id: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "http", "url": "{{ inputs.base }}" + path, **extra}


async def test_json_body_and_headers_are_rendered_from_templates(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    step = get(
        "call",
        "/things?x=1",
        method="POST",
        headers={"X-Who": "{{ inputs.name }}", "X-Count": "{{ inputs.count }}"},
        query={"page": "{{ inputs.count }}"},
        json={"greeting": "hi {{ inputs.name }}", "count": "{{ inputs.count }}", "tags": ["{{ inputs.name | upper }}"]},
    )
    job = await run_steps(client, start_worker, echo_server, [step], {"name": "Ada", "count": 3})
    assert job["status"] == "completed", job
    [request] = echo_server.requests
    assert request.method == "POST"
    assert request.path == "/things?x=1&page=3"
    assert request.headers["X-Who"] == "Ada"
    assert request.headers["X-Count"] == "3"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"greeting": "hi Ada", "count": 3, "tags": ["ADA"]}

    [record] = job["steps"]
    assert record["status"] == "completed"
    assert record["input"]["json_body"] == {"greeting": "hi Ada", "count": 3, "tags": ["ADA"]}
    assert record["input"]["url"] == f"{echo_server.url}/things?x=1"


async def test_every_request_carries_the_idempotency_key(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("first", "/a"), get("second", "/b", method="PUT", body="raw text")]
    job = await run_steps(client, start_worker, echo_server, steps)
    assert job["status"] == "completed", job
    keys = [r.headers["Idempotency-Key"] for r in echo_server.requests]
    assert keys == [f"{job['id']}:first", f"{job['id']}:second"]
    assert echo_server.requests[1].body == b"raw text"


async def test_a_json_response_is_parsed_and_text_stays_text(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("data", "/echo"), get("words", "/text")]
    output = {
        "method": "{{ steps.data.output.body.method }}",
        "status": "{{ steps.data.output.status_code }}",
        "text": "{{ steps.words.output.body }}",
    }
    job = await run_steps(client, start_worker, echo_server, steps, output=output)
    assert job["status"] == "completed", job
    assert job["output"] == {"method": "GET", "status": 200, "text": "plain words"}
    data, words = (s["output"] for s in job["steps"])
    assert isinstance(data["body"], dict)
    assert data["body"]["path"] == "/echo"
    assert data["headers"]["content-type"] == "application/json"
    assert words["body"] == "plain words"
    assert words["headers"]["content-type"] == "text/plain"


async def test_an_error_status_fails_the_job_with_http_status(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("ok", "/echo"), get("broken", "/status/404"), get("never", "/never")]
    job = await run_steps(client, start_worker, echo_server, steps)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "http_status"
    assert job["error"]["step"] == "broken"
    assert "404" in job["error"]["message"]
    assert [(s["id"], s["status"]) for s in job["steps"]] == [("ok", "completed"), ("broken", "failed")]
    failed = job["steps"][1]
    assert failed["error"]["code"] == "http_status"
    assert failed["output"]["status_code"] == 404  # the response is kept for debugging
    assert [r.path for r in echo_server.requests] == ["/echo", "/status/404"]


async def test_fail_on_status_false_keeps_going(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("lookup", "/status/404", fail_on_status=False), get("after", "/after")]
    output = {"lookup": "{{ steps.lookup.output.status_code }}", "after": "{{ steps.after.output.status_code }}"}
    job = await run_steps(client, start_worker, echo_server, steps, output=output)
    assert job["status"] == "completed", job
    assert job["output"] == {"lookup": 404, "after": 200}
    assert [s["status"] for s in job["steps"]] == ["completed", "completed"]


async def test_a_transient_status_is_retried_briefly_then_fails(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    job = await run_steps(client, start_worker, echo_server, [get("flaky", "/status/503")])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "http_status"
    assert [r.path for r in echo_server.requests] == ["/status/503"] * 3
    keys = {r.headers["Idempotency-Key"] for r in echo_server.requests}
    assert keys == {f"{job['id']}:flaky"}


@pytest.mark.parametrize("fail_on_status", [True, False])
async def test_a_redirect_is_not_followed(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, fail_on_status: bool
) -> None:
    steps = [get("hop", "/redirect", fail_on_status=fail_on_status)]
    job = await run_steps(client, start_worker, echo_server, steps)
    assert job["status"] == "completed", job
    assert job["output"]["status_code"] == 302
    assert job["output"]["headers"]["location"] == "/echo"
    assert [r.path for r in echo_server.requests] == ["/redirect"]


async def test_a_response_over_the_size_cap_fails_with_response_too_large(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("small", "/big/1024"), get("large", "/big/4096")]
    job = await run_steps(client, start_worker, echo_server, steps, http_max_response_bytes=2048)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "response_too_large"
    assert job["error"]["step"] == "large"
    small, large = job["steps"]
    assert small["status"] == "completed"
    assert small["output"]["body"] == "x" * 1024
    assert (large["status"], large["error"]["code"]) == ("failed", "response_too_large")


async def test_a_step_timeout_fails_with_step_timeout(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    steps = [get("slow", "/slow/1", timeout_s=0.2)]
    job = await run_steps(client, start_worker, echo_server, steps)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "step_timeout"
    assert job["error"]["step"] == "slow"
    assert job["steps"][0]["status"] == "failed"
    assert job["duration"] < 1.0


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_destinations_are_refused_without_an_allowlist(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer, host: str
) -> None:
    port = echo_server.url.rsplit(":", 1)[1]
    steps = [{"id": "sneaky", "type": "http", "url": f"http://{host}:{port}/secret"}]
    job = await run_steps(client, start_worker, echo_server, steps, outbound_allowlist=[], allow_private_networks=False)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "outbound_refused"
    assert job["error"]["step"] == "sneaky"
    assert echo_server.requests == []


async def test_an_unreachable_host_fails_with_a_connect_error(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    echo_server.stop()  # nothing listens on its port any more
    job = await run_steps(client, start_worker, echo_server, [get("gone", "/x")])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "http_connect_error"


# --- the outbound guard, as units --------------------------------------------------------------------

NON_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "10.255.255.255",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "224.0.0.1",
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.0.10", "169.254.169.254", "::1"])
async def test_the_default_policy_refuses_non_public_literals(address: str) -> None:
    policy = OutboundPolicy.from_settings(False, [])
    with pytest.raises(OutboundError) as info:
        await policy.resolve(address, 80)
    assert info.value.code == "outbound_refused"
    assert address in str(info.value)


async def test_the_default_policy_refuses_names_that_resolve_privately() -> None:
    policy = OutboundPolicy.from_settings(False, [])
    with pytest.raises(OutboundError) as info:
        await policy.resolve("localhost", 80)
    assert info.value.code == "outbound_refused"
    assert await policy.resolve("8.8.8.8", 443) == ipaddress.ip_address("8.8.8.8")


async def test_allowlist_entries_are_addresses_networks_or_host_names() -> None:
    policy = OutboundPolicy.from_settings(False, ["127.0.0.1", "10.0.0.0/8", "LocalHost.", "fd00::/8"])
    loopback: IPAddress = ipaddress.ip_address("127.0.0.1")
    assert policy.address_allowed("127.0.0.1", loopback)
    assert policy.address_allowed("10.9.8.7", ipaddress.ip_address("10.9.8.7"))
    assert policy.address_allowed("fd00::5", ipaddress.ip_address("fd00::5"))
    assert policy.address_allowed("localhost", loopback)
    assert not policy.address_allowed("127.0.0.2", ipaddress.ip_address("127.0.0.2"))
    assert not policy.address_allowed("192.168.0.1", ipaddress.ip_address("192.168.0.1"))
    other_loopback = ipaddress.ip_address("127.0.0.2")
    assert not policy.address_allowed("evil.example", other_loopback)  # a name is allowed, not its address
    assert await policy.resolve("localhost", 80) == loopback
    everything = OutboundPolicy.from_settings(True, [])
    assert everything.address_allowed("169.254.169.254", ipaddress.ip_address("169.254.169.254"))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/file", "invalid_url"),
        ("file:///etc/passwd", "invalid_url"),
        ("/relative", "invalid_url"),
        ("http://127.0.0.1:8080/", "outbound_refused"),
        ("http://[::1]/", "outbound_refused"),
        ("http://169.254.169.254/latest/meta-data", "outbound_refused"),
    ],
)
async def test_check_url(url: str, code: str) -> None:
    with pytest.raises(OutboundError) as info:
        await check_url(OutboundPolicy(), url)
    assert info.value.code == code


async def test_the_guarded_client_refuses_before_connecting(echo_server: EchoServer) -> None:
    async with make_client(OutboundPolicy()) as guarded:
        with pytest.raises(OutboundError) as info:
            await guarded.get(f"{echo_server.url}/x")
    assert info.value.code == "outbound_refused"
    assert echo_server.requests == []
    allowed = OutboundPolicy.from_settings(False, ["127.0.0.1"])
    async with make_client(allowed) as guarded:
        response = await guarded.get(f"{echo_server.url}/redirect")
    assert response.status_code == 302  # not followed
    assert [r.path for r in echo_server.requests] == ["/redirect"]
    assert echo_server.requests[0].headers["User-Agent"] == "workflow-service"


async def test_the_guarded_transport_connects_to_the_address_it_checked(echo_server: EchoServer) -> None:
    port = echo_server.url.rsplit(":", 1)[1]
    transport = GuardedTransport(OutboundPolicy.from_settings(False, ["localhost"]))
    async with httpx.AsyncClient(transport=transport) as guarded:
        response = await guarded.get(f"http://localhost:{port}/where")
    assert response.status_code == 200
    assert response.json()["path"] == "/where"
    assert echo_server.requests[0].headers["Host"] == f"localhost:{port}"  # the Host header keeps the name


async def test_send_capped_caps_a_body_without_content_length() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 512

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        request = mock.build_request("GET", "http://upstream.test/stream")
        with pytest.raises(OutboundError) as info:
            await send_capped(mock, request, 2048)
        assert info.value.code == "response_too_large"
        response = await send_capped(mock, mock.build_request("GET", "http://upstream.test/stream"), 5120)
    assert response.content == b"y" * 5120
    assert "transfer-encoding" not in response.headers


async def test_the_job_timeout_interrupts_a_running_step(
    client: httpx.AsyncClient, start_worker: WorkerFactory, echo_server: EchoServer
) -> None:
    # The second step waits until the echo server stops; the first has a second to answer, loaded machine or not.
    definition = {"timeout_s": 1.0, "steps": [get("first", "/fast"), get("slow", "/hold")]}
    await deploy_workflow(client, "caller", definition)
    await start_worker()
    job = await wait_for_job(client, (await submit(client, "caller", {"base": echo_server.url}))["id"])
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "job_timeout"
    assert job["error"]["step"] == "slow"
    assert [(s["id"], s["status"]) for s in job["steps"]] == [("first", "completed"), ("slow", "failed")]
    assert job["steps"][1]["error"]["code"] == "job_timeout"
