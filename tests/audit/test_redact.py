"""redact.changes: only what changed, before and after, with secret values replaced at any depth."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from workflow_service.audit.redact import REDACTED, changes, looks_secret


def test_unchanged_fields_are_left_out() -> None:
    before = {"name": "Summaries", "retries": 2, "push": {"url": "http://a", "events": ["end"]}, "off": None}
    after = {"name": "Summaries", "retries": 3, "push": {"events": ["end"], "url": "http://a"}, "off": None}
    assert changes(before, after) == {"retries": {"before": 2, "after": 3}}


def test_nothing_changed_is_empty() -> None:
    same = {"a": 1, "nested": {"b": [1, {"c": 2}]}}
    assert changes(same, {"a": 1, "nested": MappingProxyType({"b": [1, {"c": 2}]})}) == {}


def test_nested_values_compare_by_value_and_are_shown_whole() -> None:
    before = {"retry": {"max": 1, "backoff": {"base_s": 1, "cap_s": 30}}}
    after = {"retry": {"max": 1, "backoff": {"base_s": 2, "cap_s": 30}}}
    assert changes(before, after) == {"retry": {"before": before["retry"], "after": after["retry"]}}


def test_a_field_on_one_side_only_is_none_on_the_other() -> None:
    assert changes({"old": 1}, {"new": 2}) == {"old": {"before": 1, "after": None}, "new": {"before": None, "after": 2}}


def test_a_field_named_secret_is_redacted_but_listed_when_changed() -> None:
    found = changes({"OPENAI_KEY": "sk-1", "URL": "a"}, {"OPENAI_KEY": "sk-2", "URL": "a"}, secret={"OPENAI_KEY"})
    assert found == {"OPENAI_KEY": {"before": REDACTED, "after": REDACTED}}


def test_an_unchanged_secret_is_left_out() -> None:
    assert changes({"K": "v", "n": 1}, {"K": "v", "n": 2}, secret={"K"}) == {"n": {"before": 1, "after": 2}}


def test_a_secret_set_or_unset_shows_which() -> None:
    found = changes({"api_key": None, "password": "p"}, {"api_key": "k", "password": None})
    assert found == {
        "api_key": {"before": None, "after": REDACTED},
        "password": {"before": REDACTED, "after": None},
    }


def test_secret_keys_are_redacted_at_any_depth() -> None:
    before = {
        "push": {
            "callback_url": "http://hook",
            "headers": {"Authorization": "Bearer a", "X-Trace": "1"},
            "auth": [{"kind": "oauth", "client_secret": "s1", "tokens": {"refresh": "r"}}],
        }
    }
    after = {
        "push": {
            "callback_url": "http://hook2",
            "headers": {"Authorization": "Bearer b", "X-Trace": "1"},
            "auth": [{"kind": "oauth", "client_secret": "s2", "tokens": {"refresh": "r"}}],
        }
    }
    redacted = {
        "headers": {"Authorization": REDACTED, "X-Trace": "1"},
        "auth": [{"kind": "oauth", "client_secret": REDACTED, "tokens": REDACTED}],
    }
    assert changes(before, after) == {
        "push": {
            "before": {"callback_url": "http://hook", **redacted},
            "after": {"callback_url": "http://hook2", **redacted},
        }
    }


def test_a_change_only_to_a_nested_secret_is_still_listed() -> None:
    before = {"push": {"url": "http://hook", "access_token": "old"}}
    after = {"push": {"url": "http://hook", "access_token": "new"}}
    shown = {"url": "http://hook", "access_token": REDACTED}
    assert changes(before, after) == {"push": {"before": shown, "after": shown}}


def test_names_given_as_secret_are_redacted_inside_values_too() -> None:
    found = changes(
        {"env": {"DB_URL": "postgres://a", "MODE": "x"}},
        {"env": {"DB_URL": "postgres://b", "MODE": "y"}},
        secret={"DB_URL"},
    )
    assert found == {"env": {"before": {"DB_URL": REDACTED, "MODE": "x"}, "after": {"DB_URL": REDACTED, "MODE": "y"}}}


@pytest.mark.parametrize(
    "key", ["secret", "client_SECRET", "access_token", "Tokens", "db_password", "API_KEY", "x_api_key", "Authorization"]
)
def test_keys_that_look_secret(key: str) -> None:
    assert looks_secret(key)


@pytest.mark.parametrize("key", ["name", "apikey_id", "url", "key", "author", "pass", "retries"])
def test_keys_that_do_not(key: str) -> None:
    assert not looks_secret(key)


def test_the_inputs_are_not_changed() -> None:
    before: dict[str, Any] = {"push": {"token": "a"}}
    after: dict[str, Any] = {"push": {"token": "b"}}
    changes(before, after)
    assert (before, after) == ({"push": {"token": "a"}}, {"push": {"token": "b"}})
