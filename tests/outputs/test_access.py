"""Who may download a job's output (those who may read the job, as `GET /v1/jobs/{id}`), what they see of its
inputs, and the problems: a job that has not ended or a step without output (409), an unknown job or step (404),
a format that does not exist (422). The file names of `Content-Disposition`."""

from __future__ import annotations

import uuid
from urllib.parse import unquote

import httpx

from tests.outputs.conftest import SLUG, World, download, pdf_text
from tests.workflows.conftest import assert_problem


async def test_a_non_creator_reads_the_output_but_not_the_inputs(world: World) -> None:
    job = await world.run("the answer", name="Shared")
    url = f"/v1/jobs/{job['id']}/output"
    own_md = (await download(world.runner, url, format="md")).text
    assert "## Inputs\n\n- **value:** the answer\n" in own_md
    for reader in (world.viewer, world.admin):
        md = (await download(reader, url, format="md")).text
        assert "the answer" in md.split("## Output")[1]
        assert "_Withheld: only the job's creator sees them._" in md
        assert "**value:**" not in md
        pdf = pdf_text((await download(reader, url, format="pdf")).content)
        assert "Withheld: only the job's creator sees them." in pdf
        assert "value: the answer" not in pdf
        assert "value" not in (await download(reader, url, format="txt")).text


async def test_those_who_may_not_read_the_job_get_404(world: World) -> None:
    job = await world.run("private")
    for suffix in ("/output", "/steps/shape/output"):
        for client in (world.outsider, world.key):  # not invited; a key reads only its own jobs
            assert_problem(await client.get(f"/v1/jobs/{job['id']}{suffix}"), 404, "not_found")
    missing = await world.runner.get(f"/v1/jobs/{uuid.uuid4()}/output", params={"format": "pdf"})
    assert_problem(missing, 404, "not_found")
    assert_problem(await world.runner.get("/v1/jobs/not-a-job/output"), 404, "not_found")


async def test_an_api_key_downloads_its_own_jobs_output(world: World) -> None:
    job = await world.run({"by": "key"}, client=world.key)
    assert (await download(world.key, f"/v1/jobs/{job['id']}/output", format="txt")).text == "by: key\n"
    md = (await download(world.key, f"/v1/jobs/{job['id']}/output", format="md")).text
    assert "## Inputs\n\n- **value:**\n  - **by:** key\n" in md  # its creator: the inputs are shown


async def test_a_job_that_has_not_ended_has_no_output_yet(world: World) -> None:
    job = await world.pending()
    answer = await world.runner.get(f"/v1/jobs/{job['id']}/output", params={"format": "pdf"})
    body = assert_problem(answer, 409, "no_output")
    assert body["job_status"] == "pending"
    assert "has not ended: it is pending" in body["detail"]
    step = await world.runner.get(f"/v1/jobs/{job['id']}/steps/shape/output")
    body = assert_problem(step, 409, "no_output")
    assert "step 'shape'" in body["detail"]
    assert "has not run: the job is pending" in body["detail"]


async def test_a_canceled_jobs_file_says_why_it_has_no_output(world: World) -> None:
    job = await world.pending()
    assert (await world.runner.post(f"/v1/jobs/{job['id']}/cancel")).status_code == 200
    url = f"/v1/jobs/{job['id']}/output"
    assert (await download(world.runner, url)).text == "null\n"
    assert (await download(world.runner, url, format="txt")).text.startswith("(no output: canceled: canceled by ")
    assert "_No output: canceled: canceled by " in (await download(world.runner, url, format="md")).text
    assert "No output: canceled" in pdf_text((await download(world.runner, url, format="pdf")).content)


async def test_an_unknown_step_is_404_and_a_bad_format_422(world: World) -> None:
    job = await world.run("x")
    unknown = await world.runner.get(f"/v1/jobs/{job['id']}/steps/nope/output")
    assert "has no step 'nope'" in assert_problem(unknown, 404, "not_found")["detail"]
    for url in (f"/v1/jobs/{job['id']}/output", f"/v1/jobs/{job['id']}/steps/shape/output"):
        body = assert_problem(await world.runner.get(url, params={"format": "docx"}), 422, "invalid_request")
        assert [e["path"] for e in body["errors"]] == ["query:format"], body


def _filename(response: httpx.Response) -> tuple[str, str | None]:
    """The `filename` and the decoded `filename*` (None without one) of the response's Content-Disposition."""
    header = response.headers["content-disposition"]
    assert header.startswith("attachment; ")
    parts = dict(part.split("=", 1) for part in header.split("; ")[1:])
    extended = parts.get("filename*")
    return parts["filename"].strip('"'), None if extended is None else unquote(extended.removeprefix("UTF-8''"))


async def test_file_names(world: World) -> None:
    plain = await world.run("a", name="Banking Assistant")
    assert _filename(await download(world.runner, f"/v1/jobs/{plain['id']}/output", format="pdf")) == (
        "Banking Assistant.pdf",
        None,
    )
    step = await download(world.runner, f"/v1/jobs/{plain['id']}/steps/ask/output", format="md")
    assert _filename(step) == ("Banking Assistant-ask.md", None)

    unnamed = await world.run("b")
    expected = f"{SLUG}-{unnamed['id'][:8]}.txt"
    assert _filename(await download(world.runner, f"/v1/jobs/{unnamed['id']}/output", format="txt")) == (
        expected,
        None,
    )

    accented = await world.run("c", name="Résumé été 報告")
    assert _filename(await download(world.runner, f"/v1/jobs/{accented['id']}/output")) == (
        "Resume ete _.json",
        "Résumé été 報告.json",
    )

    unsafe = await world.run("d", name='../../etc/pa"ss:wd\r\n<x>|?*')
    name, extended = _filename(await download(world.runner, f"/v1/jobs/{unsafe['id']}/output", format="md"))
    assert name == "etc_pa_ss_wd_x_.md"
    assert extended is None
