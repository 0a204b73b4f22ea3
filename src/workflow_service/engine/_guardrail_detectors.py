"""What the `pii` and `secrets` guardrail scanners look for (engine/guardrails.py), and how a scanner
finds its matches: every detector gives the spans of a string it matches."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

Span = tuple[int, int]

EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# International: `+` and a country code, then digits in groups (7 to 15 digits in all, E.164).
# National: an area code (2-5 digits, or in parentheses), then groups of 3-4 and 4 digits. Bare digit
# runs, dates (2024-01-15), dotted numbers (IP addresses) and parts of longer digit groups are not.
PHONE = re.compile(
    r"(?<![\w.+-])(?<!\d[ .-])(?:"
    r"\+\d[\d ().-]{5,22}\d"
    r"|(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])\d{3,4}[ .-]\d{4}"
    r")(?!\w|[ .-]\d)"
)
# A card number: 13-19 digits, contiguous or in groups of 4 (or 4-6-5, Amex) split by one kind of
# separator; only numbers that pass the Luhn check count.
CARD = re.compile(r"(?<![\d-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}(?:\1\d{1,4}){1,2}|\d{4}([ -])\d{6}\2\d{5})(?!\d)")
SECRET_PATTERNS: dict[str, str] = {
    "OpenAI/Anthropic-style key (sk-…)": r"(?<![\w-])sk-[A-Za-z0-9_-]{20,}",
    "Stripe secret key (sk_live_…, rk_live_…)": r"(?<![\w-])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
    "AWS access key id (AKIA…, ASIA…)": r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)": (
        r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"
    ),
    "Slack token (xox?-…)": r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}",
    "Google API key (AIza…)": r"(?<![\w-])AIza[0-9A-Za-z_-]{35}",
    "JWT (eyJ….….…)": r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    "Bearer token": r"\b[Bb]earer\s+[A-Za-z0-9._~+/-]{16,}=*",
    "PEM private key block (to its END line, or to the end of the text)": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|.*\Z)"
    ),
}
"""What the `secrets` scanner looks for (the names are documentation)."""
SECRETS = re.compile("|".join(f"(?:{p})" for p in SECRET_PATTERNS.values()), re.DOTALL)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a digit string (card numbers pass it; most random digit runs do not)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def regex_spans(pattern: re.Pattern[str]) -> Callable[[str], Iterator[Span]]:
    def find(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            yield match.span()

    return find


def _card_spans(text: str) -> Iterator[Span]:
    for match in CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield match.span()


def _phone_spans(text: str) -> Iterator[Span]:
    for match in PHONE.finditer(text):
        if 7 <= sum(c.isdigit() for c in match.group(0)) <= 15:
            yield match.span()


PII_DETECTORS: dict[str, Callable[[str], Iterator[Span]]] = {
    "email": regex_spans(EMAIL),
    "card": _card_spans,  # before phone: a grouped card number also looks like a phone number
    "phone": _phone_spans,
}
