"""A job's page at /ui/jobs/{id} in each of its states: new, running, completed, failed, canceled; what it shows
(options, variables and where they are used, inputs for the creator only, output, step outputs with the exact
prompt and answer of a model call, status history) and its files; and who may see it."""

from __future__ import annotations

import re

from pydantic import SecretStr

from tests.conftest import TOKEN, WorkerFactory, wait_for_job
from tests.llm.conftest import ModelServer
from tests.ui.forms import dashboard, sign_in
from tests.ui.jobs_helpers import deploy, forms_to, person, section, submit, text_of
from workflow_service.config import Settings

FAILING = {"steps": [{"id": "boom", "type": "transform", "output": "{{ inputs.missing.deeper }}"}]}


async def test_a_completed_job_shows_its_output_steps_variables_history_and_files(
    settings: Settings, start_worker: WorkerFactory
) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        await start_worker()
        job = await submit(ada.api, "greeter", "Greeting", variables={"greeting": "Hi"})
        await wait_for_job(ada.api, job["id"])

        page = await ada.browser.get(f"/ui/jobs/{job['id']}")
        assert page.status_code == 200
        words = text_of(page.text)
        assert 'data-status="completed"' in section(page.text, "job-output") or "Completed" in words
        assert "Hi, Ada! x2" in section(page.text, "job-output")
        assert 'value="Greeting"' in page.text  # the editable name
        assert forms_to(page.text, "/rerun")
        assert forms_to(page.text, "/delete")
        assert not forms_to(page.text, "/cancel")
        assert not forms_to(page.text, "/start")
        # Variables: the default, the job's value, the override marked in words, and the steps that read it.
        variables = section(page.text, "variables-h")
        row = variables[variables.index("<code>greeting</code>") :].split("</tr>")[0]
        assert "overridden" in row
        assert '<code>"Hello"</code>' in row
        assert '<code>"Hi"</code>' in row
        assert "#step-greet" in row
        punctuation = variables[variables.index("<code>punctuation</code>") :].split("</tr>")[0]
        assert "overridden" not in punctuation
        assert "#step-greet" in punctuation
        assert "#step-shout" not in punctuation
        assert "&#34;count&#34;: 2" in section(page.text, "inputs-h")
        steps = section(page.text, "job-steps")
        assert steps.index('id="step-greet"') < steps.index('id="step-shout"')
        assert "1. greet" in text_of(steps)
        assert "2. shout" in text_of(steps)
        assert "Started" in steps
        assert "Duration" in steps
        assert "UTC" in steps
        assert len(forms_to(page.text, "/run-from-step")) == 2
        history = text_of(section(page.text, "job-history"))
        assert history.count("UTC") >= 3
        assert "Enqueued" in history
        assert "Completed" in history
        assert 'href="/ui/workflows/greeter"' in page.text

        for fmt, kind in (("txt", "text/plain"), ("json", "application/json"), ("md", "text/markdown")):
            file = await ada.browser.get(f"/ui/jobs/{job['id']}/output?format={fmt}")
            assert file.status_code == 200
            assert file.headers["content-type"].startswith(kind)
            assert file.headers["content-disposition"].startswith("attachment;")
            assert f".{fmt}" in file.headers["content-disposition"]
            assert "Hi, Ada! x2" in file.text
        pdf = await ada.browser.get(f"/ui/jobs/{job['id']}/output?format=pdf")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")
        step = await ada.browser.get(f"/ui/jobs/{job['id']}/steps/greet/output?format=txt")
        assert step.status_code == 200
        assert step.text.strip() == "Hi, Ada!"
        assert (await ada.browser.get(f"/ui/jobs/{job['id']}/output?format=exe")).status_code == 422
        missing = await ada.browser.get(f"/ui/jobs/{job['id']}/steps/nope/output?format=txt")
        assert missing.status_code == 404
        assert "<html" in missing.text


async def test_a_new_job_asks_to_start_and_its_variables_can_change(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        source = await submit(ada.api, "greeter", "source")
        made = await ada.api.post(f"/v1/jobs/{source['id']}/duplicate", json={"name": "waiting", "start": False})
        new = made.json()
        page = await ada.browser.get(f"/ui/jobs/{new['id']}")
        assert "This job has not started." in text_of(section(page.text, "job-output"))
        assert forms_to(page.text, "/start")
        assert forms_to(page.text, "/variables")
        assert 'data-following="1"' in page.text
        assert f'data-events="/ui/jobs/{new["id"]}/events"' in page.text


async def test_a_failed_job_shows_its_error_at_its_step(settings: Settings, start_worker: WorkerFactory) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "fails", FAILING)
        await start_worker()
        failed = await submit(api, "fails", "broken")
        await wait_for_job(api, failed["id"])
        ops = new_browser()
        await sign_in(ops, TOKEN)
        page = await ops.get(f"/ui/jobs/{failed['id']}")
        output = text_of(section(page.text, "job-output"))
        assert "Output Failed at step “boom”:" in output
        assert "template_error" in output


async def test_a_running_job_shows_its_progress_and_cancel(settings: Settings) -> None:
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "greeter")
        ada = await person(new_browser, api, "ada@example.com", greeter="runner")
        job = await submit(ada.api, "greeter", "queued")
        page = await ada.browser.get(f"/ui/jobs/{job['id']}")
        assert '<progress max="2" value="0"' in page.text
        assert "Enqueued: 0 of 2 steps done" in text_of(page.text)
        assert forms_to(page.text, "/cancel")
        assert not forms_to(page.text, "/rerun")
        assert "Save to file" not in section(page.text, "job-output")
        canceled = await ada.api.post(f"/v1/jobs/{job['id']}/cancel")
        assert canceled.status_code == 200
        page = await ada.browser.get(f"/ui/jobs/{job['id']}")
        assert "This job was canceled" in text_of(section(page.text, "job-output"))
        assert forms_to(page.text, "/rerun")


async def test_inputs_and_prompts_are_the_creators_and_others_jobs_are_not_found(
    settings: Settings, start_worker: WorkerFactory, model_server: ModelServer
) -> None:
    definition = {
        "model": {"provider": "openai", "name": "gpt-test", "temperature": 0},
        "input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}},
        "steps": [
            {"id": "ask", "type": "llm", "system": "You are terse.", "prompt": "Tell me about {{ inputs.topic }}"}
        ],
    }
    async with dashboard(settings) as (new_browser, api):
        await deploy(api, "ask", definition)
        await deploy(api, "greeter")
        await start_worker(openai_base_url=f"{model_server.url}/v1", openai_api_key=SecretStr("k"), llm_backoff_s=0.01)
        ada = await person(new_browser, api, "ada@example.com", ask="runner")
        bob = await person(new_browser, api, "bob@example.com", ask="viewer")
        eve = await person(new_browser, api, "eve@example.com", greeter="runner")
        job = await submit(ada.api, "ask", "otters", inputs={"topic": "otters"})
        await wait_for_job(ada.api, job["id"], wait_s=20)

        mine = await ada.browser.get(f"/ui/jobs/{job['id']}")
        steps = section(mine.text, "job-steps")
        assert "Tell me about otters" in steps
        assert "You are terse." in steps
        assert "echo: Tell me about otters" in steps.split('class="response"')[1]  # the answer
        assert "openai/gpt-test-0613" in steps
        assert "7 input / 5 output" in text_of(steps)
        assert "openai/gpt-test" in text_of(section(mine.text, "options-h"))
        assert re.search(r"Estimate</dt><dd>[^<]*in / \d+ out tokens", mine.text)
        assert "inputs-h" in mine.text

        theirs = await bob.browser.get(f"/ui/jobs/{job['id']}")
        assert theirs.status_code == 200
        assert "inputs-h" not in theirs.text
        assert 'class="prompt"' not in theirs.text  # the answer is the output, which every reader sees
        assert "shown to the job's creator only" in text_of(theirs.text)
        for form in ("/delete", "/cancel", "/rerun", "/rename", "/run-from-step"):
            assert not forms_to(theirs.text, form), form
        assert 'id="job-name"' not in theirs.text
        assert "otters" in text_of(theirs.text)

        hidden = await eve.browser.get(f"/ui/jobs/{job['id']}")
        assert hidden.status_code == 404
        assert "Not found" in text_of(hidden.text)
        assert (await eve.browser.get("/ui/jobs/not-a-job")).status_code == 404
        assert (await eve.browser.get(f"/ui/jobs/{job['id']}/output?format=txt")).status_code == 404
