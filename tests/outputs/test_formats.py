"""Each format of a job's output, for a string output and a structured one (the text and Markdown exactly), a step's
output, and every step with `steps=true`."""

from __future__ import annotations

import json
from typing import Any

from tests.outputs.conftest import NAME, SLUG, World, download, pdf_text

STRUCTURED: dict[str, Any] = {
    "title": "Q3",
    "revenue": 1250.5,
    "final": True,
    "risks": None,
    "regions": ["EU", "US"],
    "owner": {"name": "Ada", "teams": []},
    "lines": [{"item": "cups", "count": 3}, {"item": "plates|bowls", "count": 2}],
    "note": "first line\nsecond line",
}
STRUCTURED_TXT = """final: true
lines:
  - count: 3
    item: cups
  - count: 2
    item: plates|bowls
note:
  first line
  second line
owner:
  name: Ada
  teams: (empty)
regions:
  - EU
  - US
revenue: 1250.5
risks: null
title: Q3
"""
STRUCTURED_MD_OUTPUT = """## Output

- **final:** true
- **lines:**

  | count | item |
  |---|---|
  | 3 | cups |
  | 2 | plates\\|bowls |

- **note:**

  first line
  second line

- **owner:**
  - **name:** Ada
  - **teams:** (empty)
- **regions:**
  - EU
  - US
- **revenue:** 1250.5
- **risks:** null
- **title:** Q3
"""
ANSWER = "# Findings\n\nSales grew **12%**.\n\n- EU up\n- US flat\n"


def _url(job: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/jobs/{job['id']}{suffix}/output"


async def test_a_string_output_in_each_format(world: World) -> None:
    job = await world.run(ANSWER, name="Q3 findings")
    as_json = await download(world.runner, _url(job))
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.text == json.dumps(ANSWER) + "\n"

    as_text = await download(world.runner, _url(job), format="txt")
    assert as_text.headers["content-type"] == "text/plain; charset=utf-8"
    assert as_text.text == ANSWER  # as it is

    as_md = await download(world.runner, _url(job), format="md")
    assert as_md.headers["content-type"] == "text/markdown; charset=utf-8"
    facts, output = as_md.text.split("## Output\n\n")
    assert facts.startswith(f"# Q3 findings\n\n- **Workflow:** {NAME} ({SLUG})\n- **Version:** 1\n")
    assert "- **Status:** completed\n" in facts
    assert f"- **Job:** {job['id']}\n" in facts
    assert "## Inputs\n\n- **value:**\n\n  # Findings" in facts  # the creator sees the inputs
    assert output == ANSWER  # model answers are Markdown already

    as_pdf = await download(world.runner, _url(job), format="pdf")
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF-")
    text = pdf_text(as_pdf.content)
    for shown in ("Q3 findings", f"Workflow: {NAME} ({SLUG})", "Version: 1", "Status: completed", "Sales grew 12%."):
        assert shown in text, shown
    output_part = text.split("\nOutput\n")[1]
    assert "**" not in output_part  # bold, not its markers (the inputs above print as they are)
    assert "Findings\nSales grew 12%.\n• EU up\n• US flat" in output_part


async def test_a_structured_output_in_each_format(world: World) -> None:
    job = await world.run(STRUCTURED, name="Q3 numbers")
    as_json = await download(world.runner, _url(job))
    assert json.loads(as_json.text) == STRUCTURED
    assert as_json.text.startswith('{\n  "final": true,\n  "lines": [\n    {\n      "count": 3,\n')  # sorted, indented

    assert (await download(world.runner, _url(job), format="txt")).text == STRUCTURED_TXT
    assert (await download(world.runner, _url(job), format="md")).text.endswith(STRUCTURED_MD_OUTPUT)

    text = pdf_text((await download(world.runner, _url(job), format="pdf")).content)
    for line in ("title: Q3", "revenue: 1250.5", "- EU", "name: Ada", "item: plates|bowls", "second line"):
        assert line in text, line


async def test_arrays_and_scalars_as_text(world: World) -> None:
    job = await world.run([1, "two", None, [3, 4], {}])
    assert (
        await download(world.runner, _url(job), format="txt")
    ).text == "- 1\n- two\n- null\n-\n  - 3\n  - 4\n- (empty)\n"
    number = await world.run(42)
    assert (await download(world.runner, _url(number), format="txt")).text == "42"
    assert (await download(world.runner, _url(number))).text == "42\n"


async def test_one_steps_output(world: World) -> None:
    job = await world.run({"total": 3}, name="Totals")
    shape = f"/v1/jobs/{job['id']}/steps/shape/output"
    assert json.loads((await download(world.runner, shape)).text) == {"total": 3}
    assert (await download(world.runner, shape, format="txt")).text == "total: 3\n"
    md = (await download(world.runner, shape, format="md")).text
    assert md.startswith("# Totals - shape\n\n- **Step:** shape\n- **Type:** transform\n- **Timing:** started ")
    assert md.endswith("## Output\n\n- **total:** 3\n")

    ask = f"/v1/jobs/{job['id']}/steps/ask/output"
    assert (await download(world.runner, ask, format="txt")).text == "echo: Summarise the report"
    text = pdf_text((await download(world.runner, ask, format="pdf")).content)
    for shown in ("Totals - shape".replace("shape", "ask"), "Type: llm", "Model: openai/gpt-test", "echo: Summarise"):
        assert shown in text, shown


async def test_every_step_with_steps_true(world: World) -> None:
    job = await world.run("done", name="With steps")
    as_json = json.loads((await download(world.runner, _url(job), steps="true")).text)
    assert as_json["output"] == "done"
    assert [(s["id"], s["type"], s["status"], s["output"]) for s in as_json["steps"]] == [
        ("shape", "transform", "completed", "done"),
        ("ask", "llm", "completed", "echo: Summarise the report"),
    ]
    assert as_json["steps"][1]["model"].startswith("openai/gpt-test")

    text = (await download(world.runner, _url(job), format="txt", steps="true")).text
    assert text.startswith("done\n\n\n---- Step 1: shape (transform, completed) ----\nstarted ")
    assert "---- Step 2: ask (llm, completed, openai/gpt-test" in text
    assert text.endswith("\n\necho: Summarise the report\n")

    md = (await download(world.runner, _url(job), format="md", steps="true")).text
    assert "## Steps\n\n### 1. shape\n\n- **Type:** transform\n- **Status:** completed\n- **Timing:** " in md
    assert "### 2. ask" in md
    assert "- **Model:** openai/gpt-test" in md

    pdf = pdf_text((await download(world.runner, _url(job), format="pdf", steps="true")).content)
    for shown in ("Steps", "1. shape", "Type: transform", "2. ask", "Model: openai/gpt-test", "Timing: started"):
        assert shown in pdf, shown
    without = pdf_text((await download(world.runner, _url(job), format="pdf")).content)
    assert "Model: openai/gpt-test" not in without
