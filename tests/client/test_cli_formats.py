"""The pieces of `wfs` that are pure functions: the YAML emitter (read back by a YAML library as the same data),
tables, durations and the coercion of `--input` values by JSON Schema types."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from wfs_client.cli.formats import Format, render, table, to_yaml
from wfs_client.cli.parsing import BadOption, coerce, parse_duration
from wfs_client.config import masked

TRICKY: dict[str, Any] = {
    "plain": "hello world",
    "empty": "",
    "yes": "yes",
    "No": "no",
    "null": "null",
    "tilde": "~",
    "number": "123",
    "float": "1.5",
    "date": "2024-01-01",
    "colon": "a: b",
    "hash": "a #b",
    "spaces": " x ",
    "lines": "a\nb\n",
    "quotes": "say \"hi\" 'there'",
    "unicode": "héllo ✓ 😀",
    "controls": "\x07\x1b\x7f\x85\u2028\u2029\ufeff",
    "dash": "-x",
    "at": "@home",
    "key: with colon": 1,
    "": "the empty key",
    "numbers": [0, -3, 2.5, 1e20, 1e-07, -0.0, True, False, None],
    "nested": [[1, [2, []]], {"a": {}}, [], {}, [{"b": 1, "c": [{"d": None}]}]],
    "deep": {"a": {"b": [{"c": 1, "d": [{}]}]}},
}


def test_yaml_reads_back_as_the_same_data() -> None:
    assert yaml.safe_load(to_yaml(TRICKY)) == TRICKY
    for value in ["text", "yes", 1, 2.5, None, True, [], {}, [1, [2]], "multi\nline"]:
        assert yaml.safe_load(to_yaml(value)) == value, value


def test_yaml_is_block_style_with_quotes_only_where_needed() -> None:
    data = {
        "name": "Ada",
        "when": "2024-01-01",
        "tags": ["a", "on"],
        "steps": [{"id": "x", "n": 1, "count": 2}],
        "none": {},
    }
    assert to_yaml(data).splitlines() == [
        "name: Ada",
        'when: "2024-01-01"',
        "tags:",
        "  - a",
        '  - "on"',
        "steps:",
        "  - id: x",
        '    "n": 1',  # a YAML 1.1 boolean when bare
        "    count: 2",
        "none: {}",
    ]


def test_text_shows_strings_raw_records_as_tables_and_the_rest_as_json() -> None:
    assert render("as it is\n", Format.text) == "as it is\n"
    assert render([{"a": 1, "b": "x"}, {"a": 22, "c": None}], Format.text).splitlines() == [
        "A   B  C",
        "1   x  -",
        "22  -  -",
    ]
    assert render({"k": [1]}, Format.text) == '{\n  "k": [\n    1\n  ]\n}'
    assert render([1, 2], Format.text) == "[\n  1,\n  2\n]"
    assert render({"k": 1}, Format.text, text=lambda d: f"k is {d['k']}") == "k is 1"
    assert table(["ONE", "TWO"], [["a", "b"], ["ccc", ""]]) == "ONE  TWO\na    b\nccc"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("1.5", 1.5), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2m5s", 125)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("--timeout", text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "h", "-5", "1h30", "0", "0s", "5 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadOption, match="--timeout"):
        parse_duration("--timeout", text)


def test_union_types_prefer_anything_to_a_string() -> None:
    schema = {"properties": {"n": {"type": ["string", "integer"]}, "m": {"type": ["integer", "null"]}}}
    assert coerce("--input", "n", "7", schema) == 7
    assert coerce("--input", "n", "seven", schema) == "seven"
    assert coerce("--input", "m", "null", schema) is None
    with pytest.raises(BadOption, match=r"--input m=x: 'x' is not an integer or null"):
        coerce("--input", "m", "x", schema)
    assert coerce("--input", "other", "NaN", schema) == "NaN"  # not JSON: kept as text
    with pytest.raises(BadOption, match="is not a number"):
        coerce("--input", "r", "inf", {"properties": {"r": {"type": "number"}}})


def test_tokens_are_masked() -> None:
    assert masked(None) == "(none)"
    assert masked("short") == "****"
    assert masked("test-admin-token") == "…oken"
    assert masked("wfs_key_0123456789ab_secretpart") == "wfs_key_…part"
