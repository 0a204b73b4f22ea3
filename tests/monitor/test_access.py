"""Who may read the monitor, on PostgreSQL and in the embedded mode (SQLite): a workflow's viewers may; an API
key may not (it reads only the jobs it submitted); a member not invited, and another workspace, find nothing,
word for word as for a missing workflow; and another workspace's runs never count in this one's figures."""

from __future__ import annotations

import uuid

from tests.apikeys.conftest import issue_key
from tests.jobs.conftest import GREETER, deploy_workflow
from tests.monitor.conftest import BASE, Backend, Run, at, store_runs, window
from tests.people.conftest import add_user, create_workspace
from tests.workflows.conftest import assert_problem

ROUTES = ("monitor", "runs", "model-runs")


async def test_viewers_read_it_keys_may_not_and_other_workspaces_find_nothing(backend: Backend) -> None:
    admin = backend.client
    workflow = await deploy_workflow(admin, "watched", GREETER)
    await store_runs(backend.engine, "watched", [Run(at(1), response_s=2, wait_s=1)])
    viewer = await add_user(admin, "vi@a.test")
    shared = await admin.put(f"/v1/workflows/watched/members/{viewer['id']}", json={"role": "viewer"})
    assert shared.status_code == 201, shared.text
    uninvited = await add_user(admin, "un@a.test")
    key = await issue_key(admin, "watched")
    other = await create_workspace(admin, "globex")
    rival = backend.connect(other["owner_token"])
    await deploy_workflow(rival, "watched", GREETER)  # the same slug, in the other workspace

    query = window(BASE, at(60))
    for route in ROUTES:
        url = f"/v1/workflows/watched/{route}"
        as_viewer = await backend.connect(viewer["token"]).get(url, params=query)
        assert as_viewer.status_code == 200, as_viewer.text
        assert_problem(await backend.connect(key["key"]).get(url, params=query), 403, "forbidden")
        for stranger, ref in ((backend.connect(uninvited["token"]), "watched"), (rival, workflow["id"])):
            hidden = await stranger.get(f"/v1/workflows/{ref}/{route}", params=query)
            nowhere = str(uuid.uuid4())
            missing = await stranger.get(f"/v1/workflows/{nowhere}/{route}", params=query)
            assert_problem(hidden, 404, "not_found")
            assert_problem(missing, 404, "not_found")
            assert hidden.json()["detail"].replace(ref, "?") == missing.json()["detail"].replace(nowhere, "?")
    summary = (await backend.connect(viewer["token"]).get("/v1/workflows/watched/monitor", params=query)).json()
    assert summary["summary"]["total"] == 1
    rivals = (await rival.get("/v1/workflows/watched/monitor", params=query)).json()
    assert rivals["summary"]["total"] == 0  # B's `watched` has no runs; A's are not B's
