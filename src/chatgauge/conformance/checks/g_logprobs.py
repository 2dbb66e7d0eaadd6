"""Checks of rule G3: log probabilities, for ``top_logprobs`` 2, 0 and not given.

Three probes ask for ``logprobs: true``: with ``top_logprobs: 2``, with ``top_logprobs: 0``
and without ``top_logprobs``. OpenAI answers each with one ``logprobs.content`` entry per
token whose ``top_logprobs`` list has the requested length (empty for 0 and when not
given; the spec's own example has exactly 2 for 2). The spec calls the number a maximum
("may be fewer than requested"), so more than asked is a spec failure (S), and a list
always shorter than asked, or alternatives nobody asked for, break OpenAI's behaviour (C).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

from chatgauge._models import ChatExchange
from chatgauge.conformance._context import CheckContext
from chatgauge.conformance._registry import check
from chatgauge.conformance._results import (
    CheckFailed,
    CheckOutcome,
    CheckSkipped,
    Evidence,
    SkipKind,
    Tier,
)
from chatgauge.conformance.checks._bodies import (
    JSONObject,
    answered_body,
    choices_of,
    content_of,
    fail_details,
    is_number,
    short,
)

SPEC_LOGPROB = "openapi.yaml#/components/schemas/ChatCompletionTokenLogprob"
LOGPROB_PROBES = ("logprobs", "logprobs-top0", "logprobs-default")
MAX_BYTE = 255
# Float noise in a log-softmax can leave a certain token a hair above 0; no client cares.
LOGPROB_TOLERANCE = 1e-6


@dataclass(frozen=True)
class LogprobAnswer:
    """The first choice of a logprobs probe's answer, and its ``logprobs.content`` list."""

    exchange: ChatExchange
    choice: JSONObject
    entries: list[Any] | None

    @property
    def requested(self) -> int | None:
        """The ``top_logprobs`` the request gave (``None`` when it gave none)."""
        value = self.exchange.case.body.get("top_logprobs")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def label(self) -> str:
        """The probe's name."""
        return self.exchange.case.label


def _answers(ctx: CheckContext) -> list[LogprobAnswer]:
    """The logprobs probes answered with a choice (a check judges those it got)."""
    found: list[LogprobAnswer] = []
    first: CheckOutcome | None = None
    for name in LOGPROB_PROBES:
        try:
            exchange, body = answered_body(ctx, name, optional=True)
        except CheckOutcome as outcome:
            if isinstance(outcome, CheckSkipped) and outcome.kind is SkipKind.RUN:
                raise  # the run could not get this answer: judging the rest is partial
            first = first or outcome
            continue
        choices = choices_of(body)
        if not choices:
            first = first or CheckSkipped(
                f"probe {name!r} has no choice (judged by B2)", ctx.evidence(exchange)
            )
            continue
        logprobs = choices[0].get("logprobs")
        entries = logprobs.get("content") if isinstance(logprobs, dict) else None
        found.append(
            LogprobAnswer(exchange, choices[0], entries if isinstance(entries, list) else None)
        )
    if not found and first is not None:
        raise first
    return found


def _with_entries(ctx: CheckContext) -> list[LogprobAnswer]:
    answers = [answer for answer in _answers(ctx) if answer.entries]
    if not answers:
        raise CheckSkipped("no logprobs.content entry to judge (judged by G3-logprob-tokens)")
    return answers


def _concatenates(entries: list[Any], content: str) -> bool:
    """Whether the entries' tokens (or, failing that, their bytes) spell ``content``."""
    tokens = [e.get("token") if isinstance(e, dict) else None for e in entries]
    if "".join(t for t in tokens if isinstance(t, str)) == content and None not in tokens:
        return True
    # A character split over several tokens has partial text per token; its bytes join up.
    joined = bytearray()
    for entry in entries:
        piece = entry.get("bytes") if isinstance(entry, dict) else None
        if not _is_byte_list(piece):
            return False
        joined.extend(piece)
    return bytes(joined) == content.encode("utf-8")


def _is_byte_list(value: Any) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= MAX_BYTE for b in value
    )


def _raise(problems: list[tuple[str, Evidence]]) -> None:
    if problems:
        message, evidence = fail_details(problems)
        raise CheckFailed(message, *evidence)


def _asked(answer: LogprobAnswer) -> str:
    requested = answer.requested
    return "no top_logprobs" if requested is None else f"top_logprobs {requested}"


@check(
    "G3-logprob-tokens",
    "Logprob tokens spell the content",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_logprob_tokens(ctx: CheckContext) -> str | None:
    """With ``logprobs: true``, ``choices[].logprobs.content`` is a list with one entry per
    generated token, and the entries' ``token`` strings (or their ``bytes``, for characters
    split over tokens) concatenate to the message content. Judged with ``top_logprobs`` 2,
    0 and not given: accepting ``logprobs`` and returning none (for instance only when
    ``top_logprobs`` is at least 1) is a failure.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = []
    for answer in _answers(ctx):
        content = content_of(answer.choice) or ""
        evidence = ctx.evidence(answer.exchange, content=content)
        if answer.entries is None:
            if content:
                judged.append(answer.label)
                problems.append(
                    (
                        f"{answer.label}: logprobs were requested ({_asked(answer)}) but "
                        f"choices[0].logprobs is {short(answer.choice.get('logprobs'))}",
                        evidence,
                    )
                )
            continue  # empty content and no logprobs: nothing to compare
        judged.append(answer.label)
        if not _concatenates(answer.entries, content):
            tokens = "".join(
                str(e.get("token", "")) if isinstance(e, dict) else "" for e in answer.entries
            )
            problems.append(
                (
                    f"{answer.label}: the tokens concatenate to {short(tokens)}, the content "
                    f"is {short(content)}",
                    evidence,
                )
            )
    _raise(problems)
    if not judged:
        raise CheckSkipped(
            "empty content and no logprobs: nothing to compare", kind=SkipKind.NOT_APPLICABLE
        )
    return f"judged on {', '.join(judged)}"


@check(
    "G3-logprob-values",
    "Log probabilities are <= 0, bytes are byte lists",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_logprob_values(ctx: CheckContext) -> str | None:
    """Every ``logprob`` (of a token and of its ``top_logprobs`` alternatives) is a number
    <= 0 (float noise up to 1e-6 aside), and every ``bytes`` is null or a list of integers
    0..255.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = 0
    for answer in _with_entries(ctx):
        exchange = answer.exchange
        for position, entry in enumerate(answer.entries or []):
            if not isinstance(entry, dict):
                continue  # judged by B1-schema
            alternatives = entry.get("top_logprobs")
            items = [(f"content[{position}]", entry)]
            if isinstance(alternatives, list):
                items += [
                    (f"content[{position}].top_logprobs[{k}]", alt)
                    for k, alt in enumerate(alternatives)
                    if isinstance(alt, dict)
                ]
            for where, item in items:
                judged += 1
                logprob, raw_bytes = item.get("logprob"), item.get("bytes")
                if not (is_number(logprob) and logprob <= LOGPROB_TOLERANCE):
                    text = f"{answer.label}: {where}.logprob is {short(logprob)}, expected <= 0"
                    problems.append((text, ctx.evidence(exchange, entry=entry)))
                if raw_bytes is not None and not _is_byte_list(raw_bytes):
                    text = (
                        f"{answer.label}: {where}.bytes is {short(raw_bytes)}, expected null or "
                        "a list of 0..255"
                    )
                    problems.append((text, ctx.evidence(exchange, entry=entry)))
    _raise(problems)
    if not judged:
        raise CheckSkipped("no logprobs entry is an object (judged by B1-schema)")
    return f"{judged} log probabilities judged"


@check(
    "G3-top-logprobs-count",
    "At most top_logprobs alternatives per token",
    tier=Tier.SPEC,
    spec_ref=SPEC_LOGPROB,
)
def g3_top_logprobs_count(ctx: CheckContext) -> str | None:
    """Each token's ``top_logprobs`` is a list of at most the requested ``top_logprobs``
    alternatives, the maximum the spec names (fewer is judged by G3-top-logprobs-exact).
    Judged with ``top_logprobs`` 2 and 0: for 0 the list is empty.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = 0
    for answer in _with_entries(ctx):
        requested = answer.requested
        if requested is None:
            continue  # not a number to hold the list to: judged by G3-top-logprobs-exact
        for position, entry in enumerate(answer.entries or []):
            judged += 1
            alternatives = entry.get("top_logprobs") if isinstance(entry, dict) else None
            if not isinstance(alternatives, list):
                text = f"content[{position}].top_logprobs is {short(alternatives)}, not a list"
            elif len(alternatives) > requested:
                text = (
                    f"content[{position}] has {len(alternatives)} top_logprobs, "
                    f"requested {requested}"
                )
            else:
                continue
            problems.append((f"{answer.label}: {text}", ctx.evidence(answer.exchange, entry=entry)))
    _raise(problems)
    if not judged:
        raise CheckSkipped(
            "no answer to a request with top_logprobs had logprobs entries "
            "(judged by G3-logprob-tokens)"
        )
    return None


def _exact_problem(answer: LogprobAnswer) -> str | None:
    """Why the answer's lists are not as long as asked, judged over all its entries."""
    lists = [e.get("top_logprobs") if isinstance(e, dict) else None for e in answer.entries or []]
    if any(not isinstance(alternatives, list) for alternatives in lists):
        return "an entry has no top_logprobs list"
    lengths = [len(alternatives) for alternatives in lists if isinstance(alternatives, list)]
    requested = answer.requested
    if requested is None and any(lengths):
        return (
            f"top_logprobs was not requested, yet entries carry up to {max(lengths)} "
            "alternatives (OpenAI: an empty list)"
        )
    if requested and all(length < requested for length in lengths):
        return (
            f"every entry has fewer than the {requested} top_logprobs requested "
            f"(at most {max(lengths)})"
        )
    return None


@check(
    "G3-top-logprobs-exact",
    "top_logprobs lists have the requested length",
    tier=Tier.DEFACTO,
    spec_ref=SPEC_LOGPROB,
)
def g3_top_logprobs_exact(ctx: CheckContext) -> str | None:
    """The ``top_logprobs`` lists are as long as asked, as OpenAI answers: with
    ``top_logprobs: 2``, 2 alternatives per token (a shorter list on some tokens is
    tolerated, as the spec allows "in some cases", but not on every one); with
    ``logprobs: true`` and no ``top_logprobs``, an empty list per token. More than asked
    is judged by G3-top-logprobs-count.
    """
    problems: list[tuple[str, Evidence]] = []
    judged = []
    for answer in _with_entries(ctx):
        if answer.requested == 0:
            continue  # at most 0 is exactly 0: judged by G3-top-logprobs-count
        judged.append(answer.label)
        problem = _exact_problem(answer)
        if problem:
            first = (answer.entries or [None])[0]
            problems.append(
                (f"{answer.label}: {problem}", ctx.evidence(answer.exchange, entry=first))
            )
    _raise(problems)
    if not judged:
        raise CheckSkipped(
            "no answer to a request with top_logprobs 2 or without top_logprobs had logprobs "
            "entries (judged by G3-logprob-tokens)",
            kind=SkipKind.ENDPOINT,
        )
    return f"judged on {', '.join(judged)}"
