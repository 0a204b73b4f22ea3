"""The PDF of a job, read back with pypdf: long outputs flow across pages, accents print, characters the font lacks
(CJK, most emoji) print in a readable form, and the Markdown of a model answer prints as headings and lists."""

from __future__ import annotations

from tests.outputs.conftest import World, download, pages, pdf_text
from workflow_service.outputs.pdf_text import Block, blocks, readable, runs


async def _pdf(world: World, value: object, name: str) -> str:
    job = await world.run(value, name=name)
    response = await download(world.runner, f"/v1/jobs/{job['id']}/output", format="pdf")
    return pdf_text(response.content)


async def test_a_long_output_flows_across_pages(world: World) -> None:
    paragraphs = [f"Paragraph {n}: " + "the quarter went well " * 40 for n in range(1, 61)]
    unbroken = "x" * 3000  # one word far longer than a line
    job = await world.run("\n\n".join([*paragraphs, unbroken, "The end."]), name="Long report")
    content = (await download(world.runner, f"/v1/jobs/{job['id']}/output", format="pdf")).content
    assert pages(content) >= 5
    text = pdf_text(content)
    assert "Paragraph 1:" in text
    assert "Paragraph 60:" in text
    assert text.replace("\n", "").count("x" * 100) >= 25  # broken across lines, not cut off
    assert "The end." in text
    assert f"page {pages(content)} of {pages(content)}" in text


async def test_accents_cjk_and_emoji(world: World) -> None:
    text = await _pdf(world, "Café crème, naïve façade, Ærøskøbing, Ελληνικά, Кириллица\n中文 👍🏽 🚀 😀 ok", "Été ✓")
    assert "Été ✓" in text
    assert "Café crème, naïve façade, Ærøskøbing, Ελληνικά, Кириллица" in text
    assert "[U+4E2D][U+6587]" in text  # CJK: the code points
    assert "[thumbs up sign]" in text  # a symbol: its name, without the skin tone that modified it
    assert "[rocket]" in text
    assert "😀" in text  # one the font has
    assert " ok" in text


async def test_markdown_headings_lists_and_bold(world: World) -> None:
    answer = "# Summary\n\nIntro with **key** words.\n\n## Details\n\n- first\n- second\n  - nested\n1. one\n2. two\n"
    text = await _pdf(world, answer, "Markdown")
    output = text.split("\nOutput\n")[1]
    assert "Summary\nIntro with key words.\nDetails\n" in output
    assert "• first\n• second\n• nested\n1. one\n2. two" in output
    assert "#" not in output
    assert "**" not in output


async def test_a_model_answer_inside_a_structured_output_is_read_as_markdown(world: World) -> None:
    value = {"report": "# Summary\n\nIntro with **key** words.\n\n- first\n- second\n", "words": 4, "tags": ["a"]}
    text = await _pdf(world, value, "Structured markdown")
    output = text.split("\nOutput\n")[1]
    assert "report:\nSummary\nIntro with key words.\n• first\n• second\n" in output
    assert "tags:\n- a\nwords: 4" in output
    assert "#" not in output
    assert "**" not in output


def test_markdown_blocks() -> None:
    text = "# T\n## U ##\n- a\n    * b\n3) c\n```\n# not a heading\n```\n---\nplain **x"
    assert list(blocks(text)) == [
        Block("heading", "T", level=1),
        Block("heading", "U", level=2),
        Block("item", "a", depth=0, marker="\u2022"),
        Block("item", "b", depth=2, marker="\u2022"),
        Block("item", "c", depth=0, marker="3."),
        Block("code", "# not a heading"),
        Block("blank"),
        Block("line", "plain **x"),
    ]
    assert runs("a **b** c **d") == [("a ", False), ("b", True), (" c **d", False)]


def test_readable_forms() -> None:
    covered = {ord(c) for c in "abc \n"}
    assert readable("a\tb\r\nc\x07", covered) == "a    b\nc[U+0007]"
    assert readable("a\u200db\ufe0f", covered) == "ab"  # joiners and selectors: nothing to show
    assert readable("a\u2603", covered) == "a[snowman]"
