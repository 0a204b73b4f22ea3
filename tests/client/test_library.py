"""The typed client against a real service, in both modes (serve + worker on PostgreSQL and Redis, and the
embedded `workflow-service dev`): a workflow created, deployed and run, its job followed by its event stream
to the end, its output read, jobs listed and canceled, and the service's errors as ApiError."""

from __future__ import annotations

import pytest

from tests.client.conftest import GREETER, Service, deployed_greeter
from wfs_client import ApiError, AsyncClient, Client, JobEvent, __version__, models

FINAL_STATUSES = ["pending", "claimed", "running", "validating", "uploading", "completed"]


def statuses(events: list[JobEvent]) -> list[str]:
    return [e.data["to_status"] for e in events if e.event == "status"]


def test_a_workflow_is_deployed_run_and_followed_to_its_output(service: Service) -> None:
    slug = deployed_greeter(service)
    with service.client() as wfs:
        job = wfs.submit_async(slug, "current", {"inputs": {"name": "Ada"}, "name": "first"})
        assert job["status"] in ("pending", "claimed", "running", "completed"), job

        events = list(wfs.iter_events(job["id"]))
        finished = wfs.get_job(job["id"], steps=True)

    assert statuses(events) == FINAL_STATUSES, service.output()
    assert [(e.event, e.data["step"]) for e in events if e.event.startswith("step.")] == [
        ("step.started", "greet"),
        ("step.ended", "greet"),
    ]
    assert all(e.id for e in events)
    assert finished["status"] == "completed"
    assert finished["output"] == {"greeting": "Hello, Ada!"}
    assert [step["id"] for step in finished["steps"] or []] == ["greet"]


def test_the_stream_resumes_after_an_event_and_is_empty_after_the_last(service: Service) -> None:
    slug = deployed_greeter(service)
    with service.client() as wfs:
        job = wfs.submit_async(slug, "current", {"inputs": {"name": "Bo"}})
        events = list(wfs.iter_events(job["id"]))
        rest = list(wfs.iter_events(job["id"], last_event_id=events[2].id))
        after_the_end = list(wfs.iter_events(job["id"], last_event_id=events[-1].id))

    assert rest == events[3:]
    assert after_the_end == []


def test_jobs_are_listed_with_query_parameters(service: Service) -> None:
    slug = deployed_greeter(service)
    with service.client() as wfs:
        ids = [wfs.submit_async(slug, "current", {"inputs": {"name": n}})["id"] for n in ("a", "b", "c")]
        for job_id in ids:
            list(wfs.iter_events(job_id))
        page = wfs.list_jobs(workflow=slug, status=["completed"], limit=2, sort="created")
        failed = wfs.list_jobs(workflow=slug, status=["failed"])

    assert [item["id"] for item in page["items"]] == ids[:2]
    assert page["next_cursor"] is not None
    assert failed["items"] == []


def test_a_job_is_canceled(service: Service) -> None:
    slug = deployed_greeter(service)
    with service.client() as wfs:
        source = wfs.submit_async(slug, "current", {"inputs": {"name": "Cy"}})
        waiting = wfs.duplicate_job(source["id"], {"start": False})
        canceled = wfs.cancel_job(waiting["id"])
        events = list(wfs.iter_events(waiting["id"]))

    assert waiting["status"] == "new"
    assert canceled["status"] == "canceled"
    assert statuses(events)[-1] == "canceled"


def test_bad_input_is_an_api_error_with_its_code_and_errors(service: Service) -> None:
    slug = deployed_greeter(service)
    with service.client() as wfs, pytest.raises(ApiError) as raised:
        wfs.submit_async(slug, "current", {"inputs": {}})

    error = raised.value
    assert (error.status, error.code) == (422, "invalid_input")
    assert error.errors == [{"path": "$.inputs.name", "message": "'name' is a required property"}]
    assert error.problem["status"] == 422
    assert error.response.headers["Content-Type"].startswith("application/problem+json")
    assert str(error).startswith("422 invalid_input: ")
    assert "$.inputs.name: 'name' is a required property" in str(error)
    assert "\n" not in str(error)


def test_an_unknown_job_and_a_bad_token_are_api_errors(service: Service) -> None:
    with service.client() as wfs, pytest.raises(ApiError) as missing:
        wfs.get_job("00000000-0000-0000-0000-000000000000")
    with service.client() as wfs, pytest.raises(ApiError) as no_stream:
        list(wfs.iter_events("00000000-0000-0000-0000-000000000000"))
    with Client(service.url, "not-a-token") as stranger, pytest.raises(ApiError) as refused:
        stranger.list_workflows()

    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert (no_stream.value.status, no_stream.value.code) == (404, "not_found")
    assert refused.value.status == 401
    assert str(refused.value).startswith("401 ")


def test_request_sends_what_the_generated_methods_cannot(service: Service) -> None:
    """A YAML body, through the low-level request(); the answer is the parsed JSON, and None for a 204."""
    yaml = "name: From YAML\ndefinition:\n  steps:\n    - {id: one, type: transform, output: {x: 1}}\n"
    with service.client() as wfs:
        created = wfs.request("POST", "/v1/workflows", content=yaml.encode(), content_type="application/yaml")
        read = wfs.request("GET", f"/v1/workflows/{created['slug']}")
        deleted = wfs.request("DELETE", f"/v1/workflows/{created['slug']}")
        with pytest.raises(ApiError) as gone:
            wfs.get_workflow(created["slug"])

    assert read["name"] == "From YAML"
    assert deleted is None
    assert gone.value.status == 404


def test_the_user_agent_and_the_version_are_sent(service: Service) -> None:
    with service.client(user_agent="ci-runner/1.0") as wfs:
        health = wfs.get_health()
        sent = wfs.request("GET", "/readyz")
    assert health["status"] == "ok"
    assert sent["status"] == "ok"
    assert __version__ == "0.1.0"


async def test_the_async_client_runs_follows_lists_and_cancels(service: Service) -> None:
    slug = deployed_greeter(service, "async greeter")
    async with AsyncClient(service.url, service.token) as wfs:
        job = await wfs.submit_async(slug, "current", {"inputs": {"name": "Di"}})
        events = [event async for event in wfs.iter_events(job["id"])]
        finished = await wfs.get_job(job["id"], steps=False)
        listed = await wfs.list_jobs(workflow=slug)
        waiting = await wfs.duplicate_job(job["id"], {"start": False})
        canceled = await wfs.cancel_job(waiting["id"])
        after_the_end = [event async for event in wfs.iter_events(job["id"], last_event_id=events[-1].id)]
        with pytest.raises(ApiError) as raised:
            await wfs.submit_async(slug, "current", {"inputs": {"name": 7}})

    assert statuses(events) == FINAL_STATUSES
    assert finished["output"] == {"greeting": "Hello, Di!"}
    assert finished["steps"] is None
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    assert canceled["status"] == "canceled"
    assert after_the_end == []
    assert (raised.value.status, raised.value.code) == (422, "invalid_input")
    assert raised.value.errors[0]["path"] == "$.inputs.name"


def test_the_models_type_what_the_service_answers(service: Service) -> None:
    """The TypedDicts are dicts at run time: a response has each required key of its model."""
    slug = deployed_greeter(service)
    with service.client() as wfs:
        workflow: models.WorkflowRead = wfs.get_workflow(slug)
        versions: models.VersionList = wfs.list_versions(slug)
    assert models.WorkflowRead.__required_keys__ <= workflow.keys()
    assert all(models.VersionSummary.__required_keys__ <= v.keys() for v in versions["items"])
    assert workflow["draft"]["steps"] == GREETER["steps"]
    assert workflow["current_version"] == 1
