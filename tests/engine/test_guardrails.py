"""Guardrail scanners: what each kind matches and does not, block vs redact, paths, and definition problems."""

from __future__ import annotations

from typing import Any

import pytest

from workflow_service.engine.definition import Plan, compile_definition
from workflow_service.engine.guardrails import (
    GUARDRAIL_BLOCKED,
    SECRET_PATTERNS,
    ScannerChain,
    guard_answer,
    luhn_valid,
)

STEPS = [{"id": "a", "type": "transform", "output": 1}]


def compiled(inputs: list[dict[str, Any]] | None = None, llm_outputs: list[dict[str, Any]] | None = None) -> Plan:
    guardrails = {"inputs": inputs or [], "llm_outputs": llm_outputs or []}
    plan, problems = compile_definition({"steps": STEPS, "guardrails": guardrails})
    assert plan is not None, problems
    return plan


def chain(**scanner: Any) -> ScannerChain:
    return compiled([{"action": "redact", **scanner}]).guardrails.inputs


def redact(text: str, **scanner: Any) -> str:
    value: str = chain(**scanner).scan(text).value
    return value


def blocks(text: str, **scanner: Any) -> bool:
    return bool(compiled([{**scanner, "action": "block"}]).guardrails.inputs.scan(text).blocked)


def problems_of(guardrails: Any) -> list[tuple[str, str]]:
    plan, problems = compile_definition({"steps": STEPS, "guardrails": guardrails})
    assert plan is None
    return [(p.path, p.message) for p in problems]


# --- regex --------------------------------------------------------------------------------------------


def test_regex_redacts_every_match_with_the_scanner_name() -> None:
    assert redact("order A-123 and A-456", kind="regex", name="orders", pattern=r"A-\d+") == (
        "order [redacted:orders] and [redacted:orders]"
    )
    assert redact("nothing here", kind="regex", pattern=r"A-\d+") == "nothing here"


def test_regex_flag_i_ignores_case() -> None:
    assert not blocks("SECRET", kind="regex", pattern="secret")
    assert blocks("SECRET", kind="regex", pattern="secret", flags="i")


def test_a_bad_regex_is_a_definition_problem_at_its_path() -> None:
    found = problems_of({"inputs": [{"kind": "pii", "action": "block"}, {"kind": "regex", "action": "block",
                                                                          "pattern": "(unclosed"}]})  # fmt: skip
    assert [path for path, _ in found] == ["$.guardrails.inputs[1].pattern"]
    assert "not a valid regular expression" in found[0][1]


def test_a_regex_matching_the_empty_string_is_refused() -> None:
    [(path, message)] = problems_of({"llm_outputs": [{"kind": "regex", "action": "redact", "pattern": "x*"}]})
    assert path == "$.guardrails.llm_outputs[0].pattern"
    assert "empty string" in message


# --- deny_list ----------------------------------------------------------------------------------------


def test_deny_list_matches_whole_words_ignoring_case_by_default() -> None:
    words = {"kind": "deny_list", "name": "words", "words": ["darn", "credit card"]}
    assert (
        redact("Darn! Your Credit Card, darn.", **words) == "[redacted:words]! Your [redacted:words], [redacted:words]."
    )
    assert redact("darned undarn darning", **words) == "darned undarn darning"


def test_deny_list_can_be_case_sensitive() -> None:
    assert not blocks("Darn", kind="deny_list", words=["darn"], case_sensitive=True)
    assert blocks("darn", kind="deny_list", words=["darn"], case_sensitive=True)


def test_deny_list_words_must_not_be_empty() -> None:
    [(path, _)] = problems_of({"inputs": [{"kind": "deny_list", "action": "block", "words": ["ok", " "]}]})
    assert path == "$.guardrails.inputs[0].words"


# --- max_length ---------------------------------------------------------------------------------------


def test_max_length_blocks_longer_strings_and_redact_truncates() -> None:
    assert not blocks("abcde", kind="max_length", max=5)
    assert blocks("abcdef", kind="max_length", max=5)
    assert redact("abcdefgh", kind="max_length", max=5) == "abcde"
    assert redact("abc", kind="max_length", max=5) == "abc"


def test_truncation_does_not_cut_through_an_earlier_marker() -> None:
    guard = compiled([{"kind": "regex", "name": "n", "pattern": r"\d+", "action": "redact"},
                      {"kind": "max_length", "max": 8, "action": "redact"}]).guardrails.inputs  # fmt: skip
    assert guard.scan("ab 123 cd").value == "ab "  # "ab [redacted:n] cd" cut before the marker


# --- pii ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["ada@example.com", "Mail a.b+tag@mail.example.co.uk!", "<first.last@sub-domain.org>"])
def test_pii_finds_emails(text: str) -> None:
    assert blocks(text, kind="pii", types=["email"])


@pytest.mark.parametrize("text", ["ada@localhost", "@handle", "a@b", "user at example dot com"])
def test_pii_ignores_what_is_not_an_email(text: str) -> None:
    assert not blocks(text, kind="pii", types=["email"])


@pytest.mark.parametrize(
    "text",
    ["+44 20 7946 0958", "call +1 (555) 123-4567 now", "+4915112345678", "(555) 123-4567", "555-123-4567",
     "555.123.4567", "020 7946 0958"],
)  # fmt: skip
def test_pii_finds_phone_numbers(text: str) -> None:
    assert blocks(text, kind="pii", types=["phone"])


@pytest.mark.parametrize(
    "text",
    ["2024-01-15", "on 2024-01-15 at 10:30", "192.168.100.200", "12.345.678", "order 5551234567", "+12 34",
     "version 1.2.3", "4111 1111 1111 1112"],
)  # fmt: skip
def test_pii_ignores_what_is_not_a_phone_number(text: str) -> None:
    assert not blocks(text, kind="pii", types=["phone"])


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert luhn_valid("5555555555554444")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("1234567890123")


@pytest.mark.parametrize(
    "text", ["4111111111111111", "card: 4111 1111 1111 1111.", "4111-1111-1111-1111", "amex 3782 822463 10005"]
)
def test_pii_finds_card_numbers_that_pass_luhn(text: str) -> None:
    assert blocks(text, kind="pii", types=["card"])


@pytest.mark.parametrize(
    "text",
    ["4111111111111112", "4111 1111 1111 1112", "1234567890123", "id 98765432109876543210", "4111 1111-1111 1111"],
)
def test_pii_ignores_digit_runs_that_are_not_card_numbers(text: str) -> None:
    assert not blocks(text, kind="pii", types=["card"])


def test_pii_types_default_to_all_and_only_the_chosen_types_match() -> None:
    text = "ada@example.com, +44 20 7946 0958, 4111111111111111"
    assert redact(text, kind="pii", name="p") == "[redacted:p], [redacted:p], [redacted:p]"
    assert redact(text, kind="pii", name="p", types=["card"]) == "ada@example.com, +44 20 7946 0958, [redacted:p]"
    [(path, _)] = problems_of({"inputs": [{"kind": "pii", "action": "block", "types": ["email", "ssn"]}]})
    assert path == "$.guardrails.inputs[0].types[1]"


# --- secrets ------------------------------------------------------------------------------------------

SECRETS = {
    "openai": "sk-proj-abcdefghijklmnopqrstuvwxyz0123",
    "stripe": "sk_live_abcdefghijklmnop1234",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1B2" * 9,
    "github_pat": "github_pat_" + "A1b2_" * 6,
    "slack": "xoxb-1234567890-abcdefghij",
    "google": "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "bearer": "Authorization: Bearer abcdef0123456789abcdef",
    "pem": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nkqhkiG9w0BAQ==\n-----END PRIVATE KEY-----",
    "pem_rsa_truncated": "-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBg",
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secrets_finds_api_keys_tokens_and_private_keys(name: str) -> None:
    assert redact(f"here: {SECRETS[name]} end", kind="secrets", name="s").count("[redacted:s]") == 1
    assert blocks(SECRETS[name], kind="secrets")


@pytest.mark.parametrize(
    "text",
    ["sk-short", "risk-assessment-for-the-whole-team-2024", "AKIA is a prefix", "ghp_short", "eyJ alone",
     "a Bearer of bad news", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
     "task-1234567890abcdefghijk"],
)  # fmt: skip
def test_secrets_ignores_ordinary_text(text: str) -> None:
    assert not blocks(text, kind="secrets")


def test_the_secret_patterns_are_documented() -> None:
    assert len(SECRET_PATTERNS) >= 8


# --- chains, paths, block vs redact -------------------------------------------------------------------


def test_every_string_in_a_json_value_is_scanned_with_its_path() -> None:
    guard = compiled([{"kind": "pii", "name": "no_pii", "action": "block"}]).guardrails.inputs
    scan = guard.scan({"a": "ok", "contact": {"emails": ["x", "ada@example.com"]}, "n": 4111111111111111,
                       "weird key": "4111111111111111"}, ("inputs",))  # fmt: skip
    assert [(b.scanner, b.kind, b.path) for b in scan.blocked] == [
        ("no_pii", "pii", "$.inputs.contact.emails[1]"),
        ("no_pii", "pii", '$.inputs["weird key"]'),
    ]  # numbers are not strings, so not scanned
    assert scan.blocked[0].message == "blocked by guardrail 'no_pii' (pii)"


def test_redact_copies_and_keys_are_kept() -> None:
    value = {"to": "ada@example.com", "list": ["bob@example.com", 3, None]}
    scan = chain(kind="pii", name="p").scan(value)
    assert scan.value == {"to": "[redacted:p]", "list": ["[redacted:p]", 3, None]}
    assert scan.redacted_by == ["p"]
    assert value["to"] == "ada@example.com"  # the original is not changed


def test_default_names_come_from_kind_and_index_and_must_be_unique() -> None:
    guard = compiled([{"kind": "pii", "action": "redact"}, {"kind": "secrets", "action": "redact"}]).guardrails.inputs
    assert [s.name for s in guard.scanners] == ["pii_0", "secrets_1"]
    [(path, message)] = problems_of({"inputs": [{"kind": "pii", "action": "redact", "name": "x"},
                                                {"kind": "secrets", "action": "block", "name": "x"}]})  # fmt: skip
    assert path == "$.guardrails.inputs[1].name"
    assert "already used" in message


def test_scanners_run_in_order_and_never_match_earlier_markers() -> None:
    guard = compiled([{"kind": "pii", "name": "pii", "action": "redact"},
                      {"kind": "deny_list", "name": "words", "words": ["redacted", "pii"], "action": "block"}],
                     ).guardrails.inputs  # fmt: skip
    scan = guard.scan("write to ada@example.com")
    assert (scan.value, scan.blocked) == ("write to [redacted:pii]", [])
    assert guard.scan(scan.value).value == scan.value  # idempotent: a rerun's redacted inputs pass unchanged
    assert guard.scan("pii please").blocked


def test_a_marker_with_an_unknown_name_does_not_hide_a_match() -> None:
    assert blocks("[redacted:4111111111111111]", kind="pii", types=["card"])


def test_definition_problems_have_json_paths() -> None:
    found = problems_of({"inputs": [{"kind": "nope", "action": "block"}, "x",
                                    {"kind": "max_length", "action": "redact", "max": 0},
                                    {"kind": "pii", "action": "warn"}],
                         "llm_outputs": [{"kind": "secrets", "action": "block", "extra": 1}],
                         "outputs": []})  # fmt: skip
    assert [path for path, _ in found] == [
        "$.guardrails.outputs",
        "$.guardrails.inputs[0].kind",
        "$.guardrails.inputs[1]",
        "$.guardrails.inputs[2].max",
        "$.guardrails.inputs[3].action",
        "$.guardrails.llm_outputs[0].extra",
    ]


def test_guardrail_problems_are_reported_with_other_definition_problems() -> None:
    plan, problems = compile_definition({"steps": [], "guardrails": {"inputs": [{"kind": "regex", "action": "block",
                                                                                "pattern": "["}]}})  # fmt: skip
    assert plan is None
    assert {p.path for p in problems} == {"$.steps", "$.guardrails.inputs[0].pattern"}


def test_only_llm_steps_carry_the_output_guardrails() -> None:
    plan, problems = compile_definition({
        "model": {"provider": "openai", "name": "m"},
        "steps": [{"id": "t", "type": "transform", "output": 1}, {"id": "ask", "type": "llm", "prompt": "hi"}],
        "guardrails": {"llm_outputs": [{"kind": "secrets", "action": "block"}]},
    })  # fmt: skip
    assert plan is not None, problems
    assert [bool(s.output_guardrails) for s in plan.steps] == [False, True]
    assert plan.guardrails.llm_outputs is plan.steps[1].output_guardrails  # compiled once, per plan


# --- llm answers --------------------------------------------------------------------------------------

RESPONSE = {"id": "c1", "choices": [{"message": {"role": "assistant", "content": "card 4111111111111111"}}]}


def test_a_blocked_answer_is_not_kept_and_its_response_is_masked() -> None:
    guard = compiled(llm_outputs=[{"kind": "pii", "name": "cards", "action": "block"}]).guardrails.llm_outputs
    output, detail, failure = guard_answer(guard, "card 4111111111111111", {"response": RESPONSE, "attempts": 1})
    assert failure is not None
    assert failure.code == GUARDRAIL_BLOCKED
    assert "'cards'" in failure.message
    assert "4111111111111111" not in failure.message
    assert output is None
    assert detail is not None
    assert detail["response"]["choices"][0]["message"]["content"] == "card [redacted:cards]"
    assert (detail["attempts"], detail["guardrails"]) == (1, {"blocked": ["cards"]})
    assert RESPONSE["choices"][0]["message"]["content"] == "card 4111111111111111"  # type: ignore[index]


def test_a_redacted_answer_and_its_response_agree() -> None:
    guard = compiled(llm_outputs=[{"kind": "pii", "name": "cards", "action": "redact"}]).guardrails.llm_outputs
    output, detail, failure = guard_answer(guard, {"note": "card 4111111111111111"}, {"response": RESPONSE})
    assert failure is None
    assert output == {"note": "card [redacted:cards]"}
    assert detail is not None
    assert detail["response"]["choices"][0]["message"]["content"] == "card [redacted:cards]"
    assert detail["guardrails"] == {"redacted": ["cards"]}


def test_a_clean_answer_is_untouched() -> None:
    guard = compiled(llm_outputs=[{"kind": "secrets", "action": "block"}]).guardrails.llm_outputs
    detail = {"response": RESPONSE}
    assert guard_answer(guard, "fine", detail) == ("fine", detail, None)
