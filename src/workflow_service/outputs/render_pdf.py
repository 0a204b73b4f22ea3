"""A job's output as a PDF (fpdf2): the job's name, workflow and version, status, dates and duration, its inputs
when the reader may see them, the output, and optionally every step's output with its type, model and timing.

Text flows across lines and pages (words longer than a line are broken); the fonts are DejaVu Sans and Sans Bold,
vendored in `fonts/` (their licence beside them) and embedded as subsets, so accents and most scripts print;
what they lack prints in a readable form (pdf_text.readable). String outputs are read as Markdown: headings,
bullet and numbered lists and **bold** print as such. Structured outputs print in render_text.plain's
shape, their strings of several lines read as Markdown.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import TTFFont

from workflow_service import __version__
from workflow_service.outputs import pdf_text
from workflow_service.outputs.document import Document, StepPart
from workflow_service.outputs.render_text import plain

FONTS = Path(__file__).parent / "fonts"
FAMILY = "DejaVu"
BODY = 10.5
LINE = 5.5
"""Body text size (pt) and line height (mm)."""
HEADINGS = {1: 16.0, 2: 14.0, 3: 12.5, 4: 11.5, 5: BODY, 6: BODY}
INDENT = 6.0
"""mm per level of a nested list or structure."""
GREY = (100, 100, 100)


class _Pdf(FPDF):
    """An A4 page with the document's title and the page number at the foot of each page."""

    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.doc_title = title
        self.covered: frozenset[int] = frozenset()

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(*GREY)
        self.cell(0, 5, f"{self.doc_title} \u00b7 page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


@cache
def _font_files() -> tuple[str, str]:
    regular, bold = FONTS / "DejaVuSans.ttf", FONTS / "DejaVuSans-Bold.ttf"
    for path in (regular, bold):
        if not path.is_file():
            raise RuntimeError(f"the PDF font {path} is missing from the installation")
    return str(regular), str(bold)


def _cmap(pdf: FPDF, key: str) -> frozenset[int]:
    """The code points the font `key` can draw."""
    font = pdf.fonts[key]
    assert isinstance(font, TTFFont), "the fonts added are TrueType"
    return frozenset(font.cmap)


def _new_pdf(title: str) -> _Pdf:
    regular, bold = _font_files()
    pdf = _Pdf("")
    pdf.add_font(FAMILY, "", regular)
    pdf.add_font(FAMILY, "B", bold)
    pdf.covered = _cmap(pdf, FAMILY.lower()) & _cmap(pdf, FAMILY.lower() + "B")
    pdf.doc_title = pdf_text.readable(title, pdf.covered)
    pdf.set_title(pdf.doc_title)
    pdf.set_creator(f"workflow-service {__version__}")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(18, 18, 18)
    pdf.add_page()
    return pdf


class _Writer:
    """Lays text out on the PDF: flowing lines at an indent, in regular or bold."""

    def __init__(self, pdf: _Pdf) -> None:
        self.pdf = pdf
        self.left = pdf.l_margin

    def text(self, text: str, *, size: float = BODY, bold: bool = False, indent: float = 0.0) -> None:
        """One line (or more, wrapped) of text with its `**bold**` runs, at `indent` mm from the margin."""
        self._start(indent)
        self._runs(pdf_text.runs(self._readable(text)), size, bold)
        self._end()

    def plain(self, text: str, *, size: float = BODY, bold: bool = False, indent: float = 0.0) -> None:
        """Text as it is (no Markdown), wrapped at `indent`."""
        self._start(indent)
        self._runs([(self._readable(text), bold)], size, False)
        self._end()

    def item(self, marker: str, text: str, depth: int) -> None:
        """A list item: its marker hanging left of its text, which wraps under itself."""
        indent = INDENT * (depth + 1)
        self._start(indent)
        self.pdf.set_font(FAMILY, "", BODY)
        self.pdf.set_x(self.left + indent - self.pdf.get_string_width(marker + " ") - 0.5)
        self.pdf.write(LINE, marker + " ")
        self.pdf.set_x(self.left + indent)
        self._runs(pdf_text.runs(self._readable(text)), BODY, False)
        self._end()

    def label(self, label: str, value: str, *, indent: float = 0.0) -> None:
        """`label: value`, the label in bold."""
        self._start(indent)
        self._runs([(f"{label}: ", True), (self._readable(value), False)], BODY, False)
        self._end()

    def space(self, mm: float = 2.5) -> None:
        self.pdf.ln(mm)

    def _readable(self, text: str) -> str:
        return pdf_text.readable(text, self.pdf.covered)

    def _start(self, indent: float) -> None:
        self.pdf.set_left_margin(self.left + indent)
        self.pdf.set_x(self.left + indent)

    def _runs(self, runs: list[tuple[str, bool]], size: float, bold: bool) -> None:
        height = max(LINE, size * 0.5)
        for text, strong in runs:
            self.pdf.set_font(FAMILY, "B" if bold or strong else "", size)
            self.pdf.write(height, text)

    def _end(self) -> None:
        self.pdf.ln()
        self.pdf.set_left_margin(self.left)


def _markdown(writer: _Writer, text: str, indent: float = 0.0) -> None:
    for block in pdf_text.blocks(text):
        if block.kind == "heading":
            writer.space(1.5)
            writer.text(block.text, size=HEADINGS[block.level], bold=True, indent=indent)
            writer.space(1.0)
        elif block.kind == "item":
            writer.item(block.marker, block.text, block.depth + int(indent // INDENT))
        elif block.kind == "code":
            writer.plain(block.text or " ", indent=indent + INDENT)
        elif block.kind == "blank":
            writer.space()
        else:
            writer.text(block.text, indent=indent)


def _structured(writer: _Writer, value: Any, indent: float = 0.0) -> None:
    """A structured value in render_text.plain's shape (keys sorted, `key: value`, `- item`), each entry at its
    depth; a string of several lines (a model's answer inside an object) is read as Markdown under its key."""
    if isinstance(value, dict | list) and value:
        entries = sorted(value.items()) if isinstance(value, dict) else [("-", item) for item in value]
        for key, item in entries:
            label = key if isinstance(value, list) else f"{key}:"
            if isinstance(item, str) and "\n" in item.strip():
                writer.plain(label, bold=isinstance(value, dict), indent=indent)
                _markdown(writer, item, indent + INDENT)
            elif isinstance(item, dict | list) and item:
                writer.plain(label, bold=isinstance(value, dict), indent=indent)
                _structured(writer, item, indent + INDENT)
            else:
                writer.plain(f"{label} {plain(item).rstrip()}", indent=indent)
        return
    writer.plain(plain(value).rstrip("\n") or " ", indent=indent)


def _value(writer: _Writer, value: Any, indent: float = 0.0) -> None:
    if isinstance(value, str):
        _markdown(writer, value, indent)
    else:
        _structured(writer, value, indent)


def _heading(writer: _Writer, text: str, size: float = HEADINGS[2]) -> None:
    writer.space(4)
    writer.text(text, size=size, bold=True)
    writer.space(1.5)


def _step(writer: _Writer, number: int, step: StepPart) -> None:
    _heading(writer, f"{number}. {step.id}", HEADINGS[3])
    for label, value in step.facts():
        writer.label(label, value)
    if step.has_output:
        writer.space(1.5)
        _value(writer, step.output)


def render(doc: Document) -> bytes:
    """The PDF of `doc`."""
    pdf = _new_pdf(doc.title)
    writer = _Writer(pdf)
    writer.plain(doc.title, size=HEADINGS[1] + 4, bold=True)
    writer.space(3)
    for label, value in doc.facts:
        writer.label(label, value)
    if doc.inputs is not None or doc.inputs_withheld:
        _heading(writer, "Inputs")
        if doc.inputs_withheld:
            writer.plain("Withheld: only the job's creator sees them.")
        else:
            _structured(writer, doc.inputs)
    _heading(writer, "Output")
    if doc.output is None and doc.error is not None:
        writer.plain(f"No output: {doc.error}")
    else:
        _value(writer, doc.output)
    if doc.steps:
        _heading(writer, "Steps", HEADINGS[1])
        for number, step in enumerate(doc.steps, 1):
            _step(writer, number, step)
    return bytes(pdf.output())
