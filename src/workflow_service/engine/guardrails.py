"""Guardrails: scanners over job inputs and over `llm` step answers. Pure: no I/O.

A definition's `guardrails` has two lists, `inputs` (every string inside a job's inputs, scanned at
submission) and `llm_outputs` (the answer of every `llm` step: its text, or every string inside the
parsed JSON). A scanner finds something in a string; its `action` says what then happens:

- `block`: the submission is refused (422 `guardrail_blocked`) or the step fails (`guardrail_blocked`),
  naming the scanner and where it matched (never the matched text);
- `redact`: each match is replaced by `[redacted:<scanner name>]` (`max_length` truncates instead).

Scanners of a list run in order over each string, each seeing the previous ones' redactions. The
markers of this definition's scanners are never scanned again, so scanning is idempotent: a rerun's
already-redacted inputs pass unchanged, and a later scanner never matches an earlier one's marker.

Everything is compiled once per plan (`compile_guardrails`), so a bad regular expression is a
definition problem at validation time, with its JSON path. What the `pii` and `secrets` scanners
look for is in `_guardrail_detectors`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from workflow_service.core.described import DescribedAs, one_of
from workflow_service.engine._guardrail_detectors import (
    CARD,
    EMAIL,
    PHONE,
    PII_DETECTORS,
    SECRET_PATTERNS,
    SECRETS,
    Span,
    luhn_valid,
    regex_spans,
)
from workflow_service.engine.steps.base import StepFailure
from workflow_service.errors import ProblemItem, json_path

Path = tuple[int | str, ...]

__all__ = [
    "CARD",
    "EMAIL",
    "GUARDRAIL_BLOCKED",
    "NO_GUARDRAILS",
    "PHONE",
    "PII_TYPES",
    "SCANNER_KINDS",
    "SECRETS",
    "SECRET_PATTERNS",
    "Blocked",
    "DenyListScanner",
    "Guardrails",
    "GuardrailsSpec",
    "MaxLengthScanner",
    "Path",
    "PiiScanner",
    "PiiType",
    "RegexScanner",
    "Scan",
    "Scanner",
    "ScannerChain",
    "SecretsScanner",
    "Span",
    "compile_guardrails",
    "guard_answer",
    "guardrail_problems",
    "luhn_valid",
]

# --- what the definition says --------------------------------------------------------------------


class _ScannerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Shown in errors and markers; default `<kind>_<index>`."
    )
    kind: str
    action: Literal["block", "redact"]


class RegexScanner(_ScannerModel):
    kind: Literal["regex"]
    pattern: str = Field(min_length=1, max_length=2000)
    flags: str = Field("", pattern=r"^[ims]*$", description="Any of `i` (ignore case), `m` (multiline), `s` (dotall).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if compiled.fullmatch("") is not None:
            raise ValueError("the pattern matches the empty string, so it would match everywhere")
        return value


class DenyListScanner(_ScannerModel):
    kind: Literal["deny_list"]
    words: list[str] = Field(min_length=1, max_length=10_000)
    case_sensitive: bool = False

    @field_validator("words")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not word.strip() for word in value):
            raise ValueError("a word must not be empty")
        return value


class MaxLengthScanner(_ScannerModel):
    kind: Literal["max_length"]
    max: int = Field(gt=0, le=100_000_000, description="Characters; `redact` truncates to it.")


PiiType = Literal["email", "phone", "card"]
PII_TYPES: tuple[PiiType, ...] = ("email", "phone", "card")


class PiiScanner(_ScannerModel):
    kind: Literal["pii"]
    types: list[PiiType] = Field(default_factory=lambda: list(PII_TYPES), min_length=1)


class SecretsScanner(_ScannerModel):
    kind: Literal["secrets"]


SCANNER_KINDS: dict[str, type[_ScannerModel]] = {
    "regex": RegexScanner,
    "deny_list": DenyListScanner,
    "max_length": MaxLengthScanner,
    "pii": PiiScanner,
    "secrets": SecretsScanner,
}
ScannerItem = Annotated[Any, DescribedAs(one_of(SCANNER_KINDS.values(), "kind"))]


class GuardrailsSpec(BaseModel):
    """The definition's `guardrails`; each scanner is checked by its kind's model in compile_guardrails."""

    model_config = ConfigDict(extra="forbid")

    # Items are checked one by one in compile_guardrails, so that each problem gets its own path.
    inputs: list[ScannerItem] = Field(default_factory=list, description="Scanners over every input string.")
    llm_outputs: list[ScannerItem] = Field(default_factory=list, description="Scanners over every `llm` step's answer.")


# --- compiled scanners -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scanner:
    name: str
    kind: str
    action: Literal["block", "redact"]
    find: Callable[[str], Iterator[Span]] | None = None
    """Where it matches in a string (every kind but max_length)."""
    max_length: int | None = None

    @property
    def marker(self) -> str:
        return f"[redacted:{self.name}]"


@dataclass(frozen=True, slots=True)
class Blocked:
    """A blocking scanner matched at `path` (a JSON path such as `$.inputs.contact`)."""

    scanner: str
    kind: str
    path: str

    @property
    def message(self) -> str:
        return f"blocked by guardrail {self.scanner!r} ({self.kind})"


@dataclass(slots=True)
class Scan:
    """A scanned value: the redacted copy, what blocked (empty if nothing), which scanners redacted."""

    value: Any
    blocked: list[Blocked] = field(default_factory=list)
    redacted_by: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ScannerChain:
    """One list of scanners (the definition's `inputs` or `llm_outputs`), run in order."""

    scanners: tuple[Scanner, ...] = ()
    _markers: re.Pattern[str] | None = None

    def __bool__(self) -> bool:
        return bool(self.scanners)

    def scan(self, value: Any, path: Path = ()) -> Scan:
        """Scan every string inside the JSON value (object keys are not scanned); `path` is where it is."""
        result = Scan(value=None)
        result.value = self._walk(value, path, result, mask=False)
        return result

    def mask(self, value: Any) -> Any:
        """A copy with every scanner's matches redacted, `block` ones included: for what must not keep
        what a blocking scanner found (a blocked answer's raw provider response, an error message)."""
        if not self.scanners:
            return value
        return self._walk(value, (), Scan(value=None), mask=True)

    def _walk(self, value: Any, path: Path, result: Scan, *, mask: bool) -> Any:
        if isinstance(value, str):
            return self._text(value, path, result, mask=mask)
        if isinstance(value, dict):
            return {k: self._walk(v, (*path, k), result, mask=mask) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v, (*path, i), result, mask=mask) for i, v in enumerate(value)]
        return value

    def _text(self, text: str, path: Path, result: Scan, *, mask: bool) -> str:
        for scanner in self.scanners:
            redact = mask or scanner.action == "redact"
            if scanner.max_length is not None:
                if len(text) <= scanner.max_length:
                    continue
                if not redact:
                    result.blocked.append(Blocked(scanner.name, scanner.kind, json_path(path)))
                    continue
                text = self._truncate(text, scanner.max_length)
            else:
                assert scanner.find is not None
                spans = self._spans(scanner, text)
                if not spans:
                    continue
                if not redact:
                    result.blocked.append(Blocked(scanner.name, scanner.kind, json_path(path)))
                    continue
                marker = scanner.marker
                for start, end in reversed(spans):
                    text = text[:start] + marker + text[end:]
            if scanner.name not in result.redacted_by:
                result.redacted_by.append(scanner.name)
        return text

    def _spans(self, scanner: Scanner, text: str) -> list[Span]:
        """The scanner's matches, leftmost-longest, without overlaps and outside existing markers."""
        assert scanner.find is not None
        protected = [m.span() for m in self._markers.finditer(text)] if self._markers is not None else []
        spans: list[Span] = []
        for start, end in sorted(scanner.find(text), key=lambda s: (s[0], -s[1])):
            if end <= start or (spans and start < spans[-1][1]):
                continue
            if any(start < p_end and p_start < end for p_start, p_end in protected):
                continue
            spans.append((start, end))
        return spans

    def _truncate(self, text: str, limit: int) -> str:
        """The first `limit` characters, cut before a marker rather than through it."""
        if self._markers is not None:
            for match in self._markers.finditer(text, 0, limit + 200):
                if match.start() < limit < match.end():
                    return text[: match.start()]
        return text[:limit]


@dataclass(frozen=True, slots=True)
class Guardrails:
    """A plan's compiled guardrails."""

    inputs: ScannerChain = ScannerChain()
    llm_outputs: ScannerChain = ScannerChain()


NO_GUARDRAILS = Guardrails()


def _compile_scanner(model: _ScannerModel, name: str) -> Scanner:
    if isinstance(model, RegexScanner):
        flags = 0
        for letter in model.flags:
            flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}[letter]
        return Scanner(name, model.kind, model.action, find=regex_spans(re.compile(model.pattern, flags)))
    if isinstance(model, DenyListScanner):
        words = sorted(set(model.words), key=len, reverse=True)  # longest first: "credit card" before "card"
        pattern = r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)"
        compiled = re.compile(pattern, 0 if model.case_sensitive else re.IGNORECASE)
        return Scanner(name, model.kind, model.action, find=regex_spans(compiled))
    if isinstance(model, MaxLengthScanner):
        return Scanner(name, model.kind, model.action, max_length=model.max)
    if isinstance(model, PiiScanner):
        detectors = [PII_DETECTORS[t] for t in PII_DETECTORS if t in model.types]

        def find_pii(text: str) -> Iterator[Span]:
            for detect in detectors:
                yield from detect(text)

        return Scanner(name, model.kind, model.action, find=find_pii)
    assert isinstance(model, SecretsScanner)
    return Scanner(name, model.kind, model.action, find=regex_spans(SECRETS))


def _compile_chain(raw: list[Any], where: str) -> tuple[ScannerChain, list[ProblemItem]]:
    problems: list[ProblemItem] = []
    scanners: list[Scanner] = []
    names: dict[str, int] = {}
    for i, item in enumerate(raw):
        at = ("guardrails", where, i)
        if not isinstance(item, dict):
            problems.append(ProblemItem(path=json_path(at), message="a scanner must be an object"))
            continue
        model_type = SCANNER_KINDS.get(item.get("kind"))  # type: ignore[arg-type]
        if model_type is None:
            known = ", ".join(SCANNER_KINDS)
            problems.append(
                ProblemItem(
                    path=json_path((*at, "kind")), message=f"unknown scanner kind {item.get('kind')!r}; known: {known}"
                )
            )
            continue
        try:
            model = model_type.model_validate(item)
        except ValidationError as exc:
            problems += [ProblemItem(path=json_path((*at, *e["loc"])), message=e["msg"]) for e in exc.errors()]
            continue
        name = model.name or f"{model.kind}_{i}"
        if name in names:
            problems.append(
                ProblemItem(
                    path=json_path((*at, "name")),
                    message=f"scanner name {name!r} is already used by {where}[{names[name]}]",
                )
            )
            continue
        names[name] = i
        scanners.append(_compile_scanner(model, name))
    markers = None
    if scanners:
        markers = re.compile(r"\[redacted:(?:" + "|".join(re.escape(s.name) for s in scanners) + r")\]")
    return ScannerChain(tuple(scanners), markers), problems


def compile_guardrails(spec: GuardrailsSpec | None) -> tuple[Guardrails, list[ProblemItem]]:
    """Check and compile a definition's `guardrails`; problems have paths like `$.guardrails.inputs[0].pattern`."""
    if spec is None:
        return NO_GUARDRAILS, []
    inputs, problems = _compile_chain(spec.inputs, "inputs")
    outputs, more = _compile_chain(spec.llm_outputs, "llm_outputs")
    return Guardrails(inputs=inputs, llm_outputs=outputs), problems + more


def guardrail_problems(raw: dict[str, Any]) -> list[ProblemItem]:
    """The scanner problems of a `guardrails` object that is itself not valid (an unknown key, a list
    that is not a list): its readable lists are still checked, so every problem is reported at once."""
    problems: list[ProblemItem] = []
    for where in ("inputs", "llm_outputs"):
        if isinstance(raw.get(where), list):
            problems += _compile_chain(raw[where], where)[1]
    return problems


GUARDRAIL_BLOCKED = "guardrail_blocked"


def guard_answer(
    chain: ScannerChain, answer: Any, detail: dict[str, Any] | None
) -> tuple[Any, dict[str, Any] | None, StepFailure | None]:
    """Apply the `llm_outputs` scanners to an `llm` step's answer (its text, or every string in its JSON).

    Returns the answer to record (redacted), the step detail to record and, when a `block` scanner
    matched, the failure to raise (its output is None: the answer is not kept). The detail's raw provider
    `response` gets the same redactions (every scanner's matches, when blocked), so the step record
    cannot leak what the guardrails caught; `detail.guardrails` names the scanners that acted.
    """
    scan = chain.scan(answer, ("output",))
    if not scan.blocked and not scan.redacted_by:
        return answer, detail, None
    detail = dict(detail or {})
    if scan.blocked:
        names = list(dict.fromkeys(b.scanner for b in scan.blocked))
        if "response" in detail:
            detail["response"] = chain.mask(detail["response"])
        detail["guardrails"] = {"blocked": names}
        where = ", ".join(dict.fromkeys(f"{b.message} at {b.path}" for b in scan.blocked))
        return None, detail, StepFailure(GUARDRAIL_BLOCKED, f"the model's answer was {where}")
    if "response" in detail:
        detail["response"] = chain.scan(detail["response"]).value
    detail["guardrails"] = {"redacted": scan.redacted_by}
    return scan.value, detail, None
