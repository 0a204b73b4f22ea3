"""The tool registry (entry-point discovery, version resolution, broken entry points) and the built-in
tools, called directly."""

from __future__ import annotations

import asyncio
import threading
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from workflow_service.engine import tools
from workflow_service.engine.definition import compile_definition
from workflow_service.engine.tools import Registry, Tool, ToolNotFound
from workflow_service.engine.tools.builtin import (
    MAX_REGEX_TEXT,
    CountArgs,
    ParseArgs,
    PathArgs,
    RegexArgs,
    SplitArgs,
    count_tokens,
    extract_path,
    extract_regex,
    parse_json,
    split_text,
)


class EchoArgs(BaseModel):
    value: Any = None


def make_tool(version: str, name: str = "demo.echo") -> Tool[EchoArgs]:
    return Tool(name=name, version=version, description="echo", args=EchoArgs, fn=lambda a: [version, a.value])


# Module-level tools the fake entry points below point at.
echo_1 = make_tool("1.0.0")
echo_1_10 = make_tool("1.10.0")
echo_1_9 = make_tool("1.9.0")
echo_2_rc = make_tool("2.0.0rc1")
not_a_tool = object()


def ep(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attr}", group=tools.GROUP)


# -- registry ---------------------------------------------------------------------------------------


def test_the_built_ins_are_registered_through_the_projects_entry_points() -> None:
    registry = tools.load()

    assert {t.key for t in registry.all()} >= {
        "text.split@1.0.0", "text.count_tokens@1.0.0", "json.path@1.0.0", "json.parse@1.0.0", "regex.extract@1.0.0"
    }  # fmt: skip
    assert registry.errors == []


def test_omitted_version_resolves_to_the_highest_release() -> None:
    registry = tools.load([ep("a", "echo_1"), ep("b", "echo_1_10"), ep("c", "echo_1_9"), ep("d", "echo_2_rc")])

    assert registry.resolve("demo.echo").version == "1.10.0"  # numerically, and above the pre-release
    assert registry.resolve("demo.echo", "1.9.0") is echo_1_9
    assert registry.resolve("demo.echo", "2.0.0rc1") is echo_2_rc
    assert [t.version for t in registry.all()] == ["2.0.0rc1", "1.0.0", "1.9.0", "1.10.0"]


def test_unknown_tool_or_version_names_what_exists() -> None:
    registry = tools.load([ep("a", "echo_1"), ep("b", "echo_1_9")])

    with pytest.raises(ToolNotFound) as unknown:
        registry.resolve("demo.nope")
    with pytest.raises(ToolNotFound) as version:
        registry.resolve("demo.echo", "3.0.0")

    assert unknown.value.field == "tool"
    assert "demo.echo" in unknown.value.message
    assert version.value.field == "version"
    assert "1.0.0, 1.9.0" in version.value.message


def test_a_broken_entry_point_is_skipped_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    registry = tools.load([
        ep("good", "echo_1"),
        EntryPoint(name="missing", value="no_such_module_xyz:tool", group=tools.GROUP),
        ep("wrong", "not_a_tool"),
        ep("twice", "echo_1"),
    ])  # fmt: skip

    assert [t.key for t in registry.all()] == ["demo.echo@1.0.0"]
    errors = {e.entry_point: e.error for e in registry.errors}
    assert errors["missing"].startswith("ModuleNotFoundError")
    assert "expected a workflow_service.engine.tools.Tool" in errors["wrong"]
    assert "registered twice" in errors["twice"]
    assert "missing" in caplog.text


def test_a_tool_with_a_bad_name_or_version_is_refused() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="invalid tool name"):
        registry.add(make_tool("1.0.0", name="has space"))
    with pytest.raises(ValueError, match="invalid version"):
        registry.add(make_tool("not-a-version"))


def test_discovery_goes_through_the_discover_function(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools, "discover", lambda: [ep("only", "echo_1_9")])

    assert [t.key for t in tools.load().all()] == ["demo.echo@1.9.0"]


async def test_sync_tools_run_off_the_event_loop_and_async_tools_are_awaited() -> None:
    loop_thread = threading.get_ident()

    async def async_fn(args: EchoArgs) -> Any:
        await asyncio.sleep(0)
        return {"async": args.value}

    class Out(BaseModel):
        thread_differs: bool

    sync_tool = Tool(name="t.sync", version="1", description="", args=EchoArgs,
                     fn=lambda _a: Out(thread_differs=threading.get_ident() != loop_thread))  # fmt: skip
    async_tool = Tool(name="t.async", version="1", description="", args=EchoArgs, fn=async_fn)

    assert await sync_tool.call(EchoArgs()) == {"thread_differs": True}  # a pydantic result is dumped
    assert await async_tool.call(EchoArgs(value=3)) == {"async": 3}


# -- deploy-time validation ----------------------------------------------------------------------------


def problems_of(step: dict[str, Any]) -> dict[str, str]:
    _plan, problems = compile_definition({"steps": [{"id": "t", "type": "tool", **step}]})
    return {p.path: p.message for p in problems}


def test_deploy_refuses_unknown_tools_and_versions_at_their_paths() -> None:
    assert "registered tools: json.parse" in problems_of({"tool": "text.nope", "args": {}})["$.steps[0].tool"]
    assert "versions: 1.0.0" in problems_of({"tool": "text.split", "version": "9.9.9"})["$.steps[0].version"]


def test_static_args_are_checked_and_templated_ones_left_for_run_time() -> None:
    bad = problems_of({"tool": "text.split", "args": {"text": "x", "size": 0, "colour": "red"}})
    templated = problems_of({"tool": "text.split", "args": {"text": "{{ inputs.t }}", "size": "{{ inputs.n }}"}})
    whole_model = problems_of({"tool": "text.split", "args": {"text": "x"}})
    missing = problems_of({"tool": "json.path", "args": {"data": "{{ inputs }}"}})

    assert set(bad) == {"$.steps[0].args.size", "$.steps[0].args.colour"}
    assert templated == {}
    assert "give `size`, `separator`, or both" in whole_model["$.steps[0].args"]
    assert set(missing) == {"$.steps[0].args.path"}


# -- text.split ----------------------------------------------------------------------------------------


def split(**args: Any) -> list[str]:
    return split_text(SplitArgs.model_validate(args))


def test_split_by_size_with_overlap() -> None:
    assert split(text="abcdefghij", size=4) == ["abcd", "efgh", "ij"]
    assert split(text="abcdefghij", size=4, overlap=2) == ["abcd", "cdef", "efgh", "ghij"]
    assert split(text="abc", size=10) == ["abc"]
    assert split(text="", size=3) == []


def test_split_by_separator() -> None:
    assert split(text="a, b,,c", separator=",") == ["a", " b", "c"]
    assert split(text="a, b,,c", separator=",", strip=True) == ["a", "b", "c"]
    assert split(text="a,,b", separator=",", keep_empty=True) == ["a", "", "b"]


def test_split_packs_separator_pieces_up_to_size_with_overlap() -> None:
    text = "one two three four five"
    assert split(text=text, separator=" ", size=9) == ["one two", "three", "four five"]
    assert split(text="a b c d e f g", separator=" ", size=5, overlap=2) == ["a b c", "c d e", "e f g"]
    # A piece longer than size is cut into windows.
    assert split(text="ab cdefghij k", separator=" ", size=4) == ["ab", "cdef", "ghij", "k"]
    assert all(len(c) <= 7 for c in split(text="lorem ipsum " * 50, separator=" ", size=7, overlap=5))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"text": "x"}, "give `size`, `separator`, or both"),
        ({"text": "x", "size": 3, "overlap": 3}, "smaller than `size`"),
        ({"text": "x", "separator": ",", "overlap": 1}, "`overlap` needs `size`"),
        ({"text": "x", "size": 0}, "greater than or equal to 1"),
        ({"text": "x", "separator": ""}, "at least 1 character"),
    ],
)
def test_split_refuses_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SplitArgs.model_validate(args)


# -- text.count_tokens ---------------------------------------------------------------------------------


def test_count_tokens_approximates_four_characters_a_token() -> None:
    assert count_tokens(CountArgs(text="hello world\nbye")) == {"characters": 15, "words": 3, "lines": 2, "tokens": 4}
    assert count_tokens(CountArgs(text="")) == {"characters": 0, "words": 0, "lines": 0, "tokens": 0}
    assert count_tokens(CountArgs(text="abcdef", chars_per_token=2))["tokens"] == 3


# -- json.path -----------------------------------------------------------------------------------------

DATA = {
    "a": {"b": [10, 20, {"c": "deep"}]},
    "items": [{"id": 1, "tags": ["x"]}, {"id": 2}, {"id": 3, "tags": ["y", "z"]}],
    "odd key": {"it's": True},
    "n": None,
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),
        ("$.a.b[0]", 10),
        ("$.a.b[-1].c", "deep"),
        ("a.b[1]", 20),
        ("$['odd key'][\"it's\"]", True),
        ("$['odd key']['it\\'s']", True),
        ("$.items[*].id", [1, 2, 3]),
        ("$.items[*].tags[0]", ["x", "y"]),
        ("$.items[0:2].id", [1, 2]),
        ("$.items[-1:].id", [3]),
        ("$.a.*", [[10, 20, {"c": "deep"}]]),
        ("$.n", None),
    ],
)
def test_json_path_extracts(path: str, expected: Any) -> None:
    assert extract_path(PathArgs(data=DATA, path=path)) == expected


def test_json_path_missing_gives_the_default_or_an_empty_list() -> None:
    assert extract_path(PathArgs(data=DATA, path="$.a.zz")) is None
    assert extract_path(PathArgs(data=DATA, path="$.a.b[9]", default="none")) == "none"
    assert extract_path(PathArgs(data=DATA, path="$.a[0]", default=0)) == 0  # an index on an object
    assert extract_path(PathArgs(data=DATA, path="$.nothing[*]")) == []


@pytest.mark.parametrize("path", ["$.", "$.a[", "$[x]", "$..a", "$ a", "$[1:2:3]"])
def test_json_path_refuses_malformed_paths(path: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        PathArgs(data={}, path=path)


# -- json.parse ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]  ", [1, 2]),
        ('"just a string"', "just a string"),
        ('Sure!\n```json\n{"a": [1, 2]}\n```\nAnything else?', {"a": [1, 2]}),
        ('The answer is {"score": 7} as requested.', {"score": 7}),
        ("Not this {one, but [3, 4]", [3, 4]),
    ],
)
def test_json_parse_reads_json_and_finds_it_in_prose(text: str, expected: Any) -> None:
    assert parse_json(ParseArgs(text=text)) == expected


def test_json_parse_fails_with_a_tool_error() -> None:
    with pytest.raises(tools.ToolError, match="no JSON"):
        parse_json(ParseArgs(text="no json here"))
    with pytest.raises(tools.ToolError, match="not JSON"):
        parse_json(ParseArgs(text='x {"a": 1}', extract=False))


# -- regex.extract ---------------------------------------------------------------------------------------


def regex(**args: Any) -> Any:
    return extract_regex(RegexArgs.model_validate(args))


def test_regex_shapes_matches_by_their_groups() -> None:
    text = "a=1, b=22, C=333"
    assert regex(text=text, pattern=r"\d+") == ["1", "22", "333"]
    assert regex(text=text, pattern=r"(\w)=\d+") == ["a", "b", "C"]
    assert regex(text=text, pattern=r"(\w)=(\d+)") == [["a", "1"], ["b", "22"], ["C", "333"]]
    assert regex(text=text, pattern=r"(?P<key>[a-z])=(?P<value>\d+)", flags=["i"])[2] == {"key": "C", "value": "333"}
    assert regex(text=text, pattern=r"\d+", first=True) == "1"
    assert regex(text=text, pattern=r"zzz", first=True) is None
    assert regex(text=text, pattern=r"\d", max_matches=2) == ["1", "2"]
    assert regex(text="x\ny", pattern="^y", flags=["m"]) == ["y"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"text": "x", "pattern": "(unclosed"}, "invalid regular expression"),
        ({"text": "x", "pattern": "(a+)+b"}, "nested quantifiers"),
        ({"text": "x", "pattern": r"(?:\w+\s?)*$"}, "nested quantifiers"),
        ({"text": "x" * (MAX_REGEX_TEXT + 1), "pattern": "x"}, "at most 100000 characters"),
        ({"text": "x", "pattern": "x", "flags": ["q"]}, "flags"),
    ],
)
def test_regex_refuses_bad_and_dangerous_patterns(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RegexArgs.model_validate(args)


def test_regex_allows_fixed_or_possessive_inner_repeats() -> None:
    assert regex(text="12-34-", pattern=r"(?:\d{2}-)+") == ["12-34-"]
    assert regex(text="aaa b", pattern=r"(?:a++)+") == ["aaa"]
    assert regex(text="ab ab", pattern=r"(?:ab?)+") == ["ab", "ab"]
