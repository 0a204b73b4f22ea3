"""The built-in tools, published as entry points in the service's pyproject.toml.

`text.split`, `text.count_tokens`, `json.path`, `json.parse` and `regex.extract`, each version 1.0.0
and pure. They are plain synchronous functions: the `tool` step runs them in a worker thread.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflow_service.engine.tools import Tool, ToolError
from workflow_service.engine.tools._json_path import evaluate_path, parse_path

MAX_TEXT = 10_000_000
"""Longest text (characters) the text tools accept."""
MAX_REGEX_TEXT = 100_000
"""Longest text `regex.extract` searches: Python's `re` cannot be interrupted, so its input is capped."""
MAX_PATTERN = 1_000


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- text.split ---------------------------------------------------------------------------------


class SplitArgs(_Args):
    text: str = Field(max_length=MAX_TEXT, description="The text to split.")
    size: int | None = Field(
        None, ge=1, le=1_000_000, description="Chunk size in characters; with `separator`, the largest chunk."
    )
    overlap: int = Field(
        0, ge=0, description="Characters (or, with `separator`, whole pieces) repeated between chunks."
    )
    separator: str | None = Field(
        None, min_length=1, description="Split on this string; with `size`, pieces are packed into chunks."
    )
    strip: bool = Field(False, description="Strip whitespace around each chunk.")
    keep_empty: bool = Field(False, description="Keep empty chunks.")

    @model_validator(mode="after")
    def _size_or_separator(self) -> SplitArgs:
        if self.size is None and self.separator is None:
            raise ValueError("give `size`, `separator`, or both")
        if self.overlap and self.size is None:
            raise ValueError("`overlap` needs `size`")
        if self.size is not None and self.overlap >= self.size:
            raise ValueError("`overlap` must be smaller than `size`")
        return self


def _windows(text: str, size: int, overlap: int) -> list[str]:
    step = size - overlap
    chunks = []
    for start in range(0, len(text), step):
        chunks.append(text[start : start + size])
        if start + size >= len(text):
            break
    return chunks


def _pack(pieces: list[str], separator: str, size: int, overlap: int) -> list[str]:
    """Join consecutive pieces into chunks of at most `size` characters; a chunk starts with the last
    pieces of the one before that fit in `overlap` characters. A piece longer than `size` is cut."""
    chunks: list[str] = []
    current: list[str] = []
    length = 0  # of separator.join(current)
    sep = len(separator)
    for piece in pieces:
        if len(piece) > size:
            if current:
                chunks.append(separator.join(current))
                current, length = [], 0
            chunks.extend(_windows(piece, size, min(overlap, size - 1)))
            continue
        if current and length + sep + len(piece) > size:
            chunks.append(separator.join(current))
            carry: list[str] = []
            carried = 0
            for previous in reversed(current):
                extra = len(previous) + (sep if carry else 0)
                if carried + extra > overlap:
                    break
                carry.insert(0, previous)
                carried += extra
            current, length = carry, carried
            while current and length + sep + len(piece) > size:
                removed = current.pop(0)
                length -= len(removed) + (sep if current else 0)
        length += len(piece) + (sep if current else 0)
        current.append(piece)
    if current:
        chunks.append(separator.join(current))
    return chunks


def split_text(args: SplitArgs) -> list[str]:
    """Chunk text by size with overlap, by separator, or both (separator pieces packed up to size)."""
    if args.separator is None:
        assert args.size is not None
        chunks = _windows(args.text, args.size, args.overlap)
    else:
        pieces = args.text.split(args.separator)
        if args.size is None:
            chunks = pieces
        else:
            chunks = _pack([p for p in pieces if p.strip()], args.separator, args.size, args.overlap)
    if args.strip:
        chunks = [c.strip() for c in chunks]
    return chunks if args.keep_empty else [c for c in chunks if c]


text_split = Tool(
    name="text.split",
    version="1.0.0",
    description="Split text into chunks: fixed-size windows with overlap, pieces between a separator, or "
    "separator pieces packed into chunks of at most `size` characters. Output: a list of strings.",
    args=SplitArgs,
    fn=split_text,
)


# -- text.count_tokens --------------------------------------------------------------------------


class CountArgs(_Args):
    text: str = Field(max_length=MAX_TEXT)
    chars_per_token: float = Field(4.0, gt=0, le=100, description="Characters per token (about 4 for English).")


def count_tokens(args: CountArgs) -> dict[str, int]:
    """Approximate token count, with characters, words and lines."""
    text = args.text
    return {
        "characters": len(text),
        "words": len(text.split()),
        "lines": len(text.splitlines()),
        "tokens": math.ceil(len(text) / args.chars_per_token),
    }


text_count_tokens = Tool(
    name="text.count_tokens",
    version="1.0.0",
    description="Estimate a text's tokens (characters / chars_per_token, rounded up; the same estimate as "
    "POST .../estimate) and count its characters, words and lines.",
    args=CountArgs,
    fn=count_tokens,
)


# -- json.path ----------------------------------------------------------------------------------


class PathArgs(_Args):
    data: Any = Field(description="The JSON value to read.")
    path: str = Field(min_length=1, max_length=1000, description="`$.a.b[0]`, `$.items[*].id`, `$['a key']`, ...")
    default: Any = Field(None, description="The output when a single-value path finds nothing.")

    @field_validator("path")
    @classmethod
    def _parses(cls, path: str) -> str:
        parse_path(path)
        return path


def extract_path(args: PathArgs) -> Any:
    """The value at the path (or `default`); with a wildcard or slice, the list of every value found."""
    found, many = evaluate_path(args.data, parse_path(args.path))
    if many:
        return found
    return found[0] if found else args.default


json_path = Tool(
    name="json.path",
    version="1.0.0",
    description="Read a value out of JSON with a path: `$.a.b[0]`, `$['key']`, `[-1]`, `[1:3]`, `[*]`, `.*`. "
    "A path with a wildcard or slice gives the list of every match; otherwise the value, or `default`.",
    args=PathArgs,
    fn=extract_path,
)


# -- json.parse ---------------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)```", re.DOTALL)
_MAX_CANDIDATES = 100


class ParseArgs(_Args):
    text: str = Field(max_length=MAX_TEXT)
    extract: bool = Field(
        True, description="Also find JSON inside other text: a ``` fence, or the first object or array that parses."
    )


def parse_json(args: ParseArgs) -> Any:
    """Parse JSON text, optionally finding it inside surrounding prose or a code fence (model answers)."""
    text = args.text.strip()
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if not args.extract:
            raise ToolError(f"not JSON: {exc}") from exc
    for fenced in _FENCE.findall(text):
        try:
            return orjson.loads(fenced.strip())
        except orjson.JSONDecodeError:
            continue
    decoder = json.JSONDecoder()
    starts = (m.start() for m in re.finditer(r"[\[{]", text))
    for start in islice(starts, _MAX_CANDIDATES):
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        return value
    raise ToolError("no JSON object or array found in the text")


json_parse = Tool(
    name="json.parse",
    version="1.0.0",
    description="Parse JSON text. With `extract` (default), also find the JSON in a ```json fence or "
    "surrounded by other text, as models often answer.",
    args=ParseArgs,
    fn=parse_json,
)


# -- regex.extract ------------------------------------------------------------------------------

# The regex parser, to refuse nested quantifiers before a pattern ever runs (no typeshed stubs).
_sre_parser: Any = importlib.import_module("re._parser")
_sre: Any = importlib.import_module("re._constants")
_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def _refuse_nested_quantifiers(items: Any, inside_repeat: bool = False) -> None:
    """ValueError for a variable-length repeat inside a repeat (`(a+)*`, `(\\w+\\s?)+`): the shape that
    backtracks exponentially. Possessive repeats (`a*+`) and atomic groups do not backtrack."""
    for op, av in items:
        if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            _refuse_nested_repeat(av, inside_repeat)
            continue
        subpatterns = _SUBPATTERNS.get(op)
        for sub in subpatterns(av) if subpatterns is not None else ():
            _refuse_nested_quantifiers(sub, inside_repeat)


def _refuse_nested_repeat(av: Any, inside_repeat: bool) -> None:
    low, high, sub = av
    repeats = high == _sre.MAXREPEAT or high > 1
    if inside_repeat and repeats and low != high:
        raise ValueError(
            "nested quantifiers (a repeated group containing a variable repeat, like `(a+)*`) can take "
            "exponential time; rewrite the pattern, or make the inner repeat possessive (`a++`)"
        )
    _refuse_nested_quantifiers(sub, inside_repeat or repeats)


_SUBPATTERNS: dict[Any, Callable[[Any], Iterable[Any]]] = {
    _sre.POSSESSIVE_REPEAT: lambda av: (av[2],),
    _sre.SUBPATTERN: lambda av: (av[-1],),
    _sre.ATOMIC_GROUP: lambda av: (av,),
    _sre.BRANCH: lambda av: av[1],
    _sre.ASSERT: lambda av: (av[1],),
    _sre.ASSERT_NOT: lambda av: (av[1],),
    _sre.GROUPREF_EXISTS: lambda av: [branch for branch in av[1:] if branch is not None],
}
"""The parts of the other parsed items that can hold repeats (within the same repeat, if any)."""


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str, flags: tuple[str, ...] = ()) -> re.Pattern[str]:
    """Compile a pattern, refusing one that does not parse or nests quantifiers (ValueError)."""
    value = 0
    for flag in flags:
        value |= _FLAGS[flag]
    try:
        _refuse_nested_quantifiers(_sre_parser.parse(pattern, value))
        return re.compile(pattern, value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from exc


class RegexArgs(_Args):
    text: str = Field(
        max_length=MAX_REGEX_TEXT, description=f"The text to search; at most {MAX_REGEX_TEXT} characters."
    )
    flags: list[Literal["i", "m", "s", "x"]] = Field(
        default_factory=list, description="i: ignore case, m: multiline, s: dot matches newline, x: verbose."
    )
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN, description="A Python regular expression.")
    first: bool = Field(False, description="Only the first match (null when there is none), not a list.")
    max_matches: int = Field(1000, ge=1, le=10_000)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str, info: Any) -> str:
        compile_pattern(pattern, tuple(info.data.get("flags") or ()))
        return pattern


def extract_regex(args: RegexArgs) -> Any:
    """Every match (or the first): named groups as an object, one group as its text, several as a list,
    no groups as the whole match."""
    regex = compile_pattern(args.pattern, tuple(args.flags))

    def shape(match: re.Match[str]) -> Any:
        if regex.groupindex:
            return {name: match.group(name) for name in regex.groupindex}
        if regex.groups == 1:
            return match.group(1)
        if regex.groups > 1:
            return list(match.groups())
        return match.group(0)

    matches = regex.finditer(args.text)
    if args.first:
        found = next(matches, None)
        return shape(found) if found is not None else None
    return [shape(m) for m in islice(matches, args.max_matches)]


regex_extract = Tool(
    name="regex.extract",
    version="1.0.0",
    description=f"Find regular-expression matches: named groups give objects, one group its text, several a "
    f"list, none the whole match. The text is capped at {MAX_REGEX_TEXT} characters and nested quantifiers "
    f"are refused, because Python's `re` cannot be interrupted.",
    args=RegexArgs,
    fn=extract_regex,
)
