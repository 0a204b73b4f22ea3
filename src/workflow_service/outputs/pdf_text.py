"""Text made ready for the PDF: characters the font lacks in a readable form, and the Markdown of model answers
(headings, bullet and numbered lists, **bold**, fenced code) read into blocks that render_pdf.py lays out.

The vendored DejaVu Sans covers Latin, Greek, Cyrillic, many symbols and a few emoji; other characters (CJK, most
emoji) would print as empty boxes. They are written instead as their Unicode name when they are symbols (`[rocket]`
for U+1F680) and as their code point otherwise (`[U+4E2D]`): the reader can tell what was there. Invisible joiners,
variation selectors and skin tones, which only shape the characters around them, are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterator
from dataclasses import dataclass

_INVISIBLE = {
    *(0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF),
    *range(0xFE00, 0xFE10),  # variation selectors
    *range(0xE0100, 0xE01F0),
    *range(0x1F3FB, 0x1F400),  # skin tones: they modify the emoji before them
}
_SYMBOLS = ("So", "Sk", "Sm")
TAB = "    "


def _fallback(char: str) -> str:
    code = ord(char)
    if code in _INVISIBLE or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return ""  # shapes its neighbours (combining marks the font lacks, joiners, selectors): nothing to show
    name = unicodedata.name(char, "")
    if name and unicodedata.category(char) in _SYMBOLS:
        return f"[{name.lower()}]"
    return f"[U+{code:04X}]"


def readable(text: str, covered: Collection[int]) -> str:
    """`text` with what the font cannot draw replaced: control characters (tabs become spaces, line breaks stay),
    and characters not in `covered` (the font's code points) by their name or code point."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", TAB)
    out: list[str] = []
    for char in text:
        if char == "\n" or (ord(char) in covered and unicodedata.category(char) != "Cc"):
            out.append(char)
        else:
            out.append(_fallback(char))
    return "".join(out)


@dataclass(frozen=True)
class Block:
    """One line of a Markdown text: `heading` (level 1-6), `item` (a list item at `depth`, with its `marker`: a
    bullet or `3.`), `code` (a line of a fenced block, as it is), `line` (text), or `blank`."""

    kind: str
    text: str = ""
    level: int = 0
    depth: int = 0
    marker: str = ""


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)(\d{1,9})[.)]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
BULLET = "\u2022"


def _depth(spaces: str) -> int:
    return len(spaces.replace("\t", TAB)) // 2


def blocks(text: str) -> Iterator[Block]:
    """The lines of `text` as Markdown blocks. Each line stays a line (model answers and plain text alike rely on
    their line breaks), so a text without Markdown prints as it was written."""
    in_code = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            yield Block("code", line)
        elif not line.strip():
            yield Block("blank")
        elif heading := _HEADING.match(line):
            yield Block("heading", heading.group(2), level=len(heading.group(1)))
        elif _RULE.match(line):
            yield Block("blank")
        elif bullet := _BULLET.match(line):
            yield Block("item", bullet.group(2), depth=_depth(bullet.group(1)), marker=BULLET)
        elif numbered := _NUMBERED.match(line):
            yield Block("item", numbered.group(3), depth=_depth(numbered.group(1)), marker=f"{numbered.group(2)}.")
        else:
            yield Block("line", line)


def runs(text: str) -> list[tuple[str, bool]]:
    """`text` split into (text, bold) runs at its `**` pairs; an unpaired `**` stays as it is written."""
    parts = text.split("**")
    if len(parts) % 2 == 0:  # an odd number of markers: the last one has no pair
        parts = [*parts[:-2], parts[-2] + "**" + parts[-1]]
    return [(part, index % 2 == 1) for index, part in enumerate(parts) if part]
