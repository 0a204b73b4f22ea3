"""Every response carries `X-Request-Id`: the client's when it is a short token, else a fresh one."""

from __future__ import annotations

import httpx
import pytest


async def test_a_given_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workflows", headers={"X-Request-Id": "ci-build-42.step:3"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "ci-build-42.step:3"


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 101, "semi;colon", "é"])
async def test_an_absent_or_unfit_request_id_is_replaced_by_a_fresh_one(
    client: httpx.AsyncClient, given: str | None
) -> None:
    headers = {} if given is None else {b"X-Request-Id": given.encode()}
    ids = set()
    for _ in range(2):
        response = await client.get("/v1/workflows", headers=headers)
        assert response.status_code == 200
        ids.add(response.headers["X-Request-Id"])
    assert len(ids) == 2  # one each
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


async def test_refused_requests_carry_one_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/workflows", headers={"Authorization": "Bearer wrong", "X-Request-Id": "r-1"})
    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == "r-1"
