"""The typed conformance run: what ``conformance.json`` holds, and the values inside it.

Verdicts follow the conformance rules (``docs/conformance-rules.md``): ``passed``;
``failed`` (a real deviation); ``warning`` (an interop hazard of tier I, or a soft rule);
``skipped`` (the check could not judge, with its reason); ``unsupported`` (the endpoint
refused an optional feature cleanly with one of OpenAI's own error codes).

The run as a whole has a :class:`RunStatus`, decided in this order:

1. ``interrupted``: the run stopped before every planned check had a result (Ctrl-C, or a
   document saved while the run is still going), whatever its checks say so far;
2. ``failed``: a check failed;
3. ``incomplete``: no check failed, but the run did not judge every planned check: a
   check was skipped for a reason that is not about the endpoint's declared capabilities
   or the configuration (a skip of kind ``endpoint``, ``run`` or ``internal``, see
   :class:`SkipKind`), or nothing at all was judged;
4. ``passed``: every planned check was judged, or skipped as ``capability`` or
   ``not_applicable``, and none failed.

The planned checks are the run's contract: today the checks selected for the run (the
catalogue after ``select`` / ``ignore``); a contract that declares capabilities will plug in
as ``planned`` (see :func:`coverage_of`). The :class:`Coverage` of a run says how many of
them were judged, and lists every skip with its kind and reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final, Literal

from chatgauge.results._codec import JsonRecord, JsonValue
from chatgauge.results._files import register_kind

KIND: Final = "conformance"
SCHEMA_VERSION: Final = 1
JSON_NAME: Final = "conformance.json"
HTML_NAME: Final = "conformance.html"
JUNIT_NAME: Final = "conformance.junit.xml"


class Status(str, Enum):
    """The verdict of one check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"
    UNSUPPORTED = "unsupported"


class Tier(str, Enum):
    """Where a rule comes from: S spec-literal, C de-facto, I interop hazard (warn only)."""

    SPEC = "S"
    DEFACTO = "C"
    INTEROP = "I"


class Severity(str, Enum):
    """How much a failure of the check matters to a client."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"


class RunStatus(str, Enum):
    """The verdict of a whole run (see the module docstring)."""

    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"
    INTERRUPTED = "interrupted"


GROUPS: Final[dict[str, str]] = {
    "A": "Request acceptance and validation",
    "B": "Non-streamed response",
    "C": "Usage arithmetic",
    "D": "SSE framing",
    "E": "Chunk semantics",
    "F": "Errors",
    "G": "Feature semantics",
    "H": "Capabilities (the contract)",
}
"""The check groups: a check's id starts with its group letter (``docs/conformance-rules.md``)."""


def group_title(group: str) -> str:
    """The human name of a check group (the letter itself for a group this version lacks)."""
    return GROUPS.get(group, group)


def _about(text: str) -> dict[str, str]:
    # A field's description in the shipped JSON Schema.
    return {"description": text}


@dataclass(frozen=True)
class Evidence(JsonRecord):
    """What was sent and an excerpt of what came back, for a report reader to judge.

    ``request`` is the JSON request body (or the raw body as text); ``response_excerpt``
    an excerpt of the body as text; ``raw_sse`` an excerpt of the raw stream bytes with
    CR and LF made visible; ``detail`` free-form facts (e.g. the offending chunk).
    """

    label: str = field(default="", metadata=_about("the probe or case that was sent"))
    request: JsonValue = field(
        default=None, metadata=_about("the JSON request body, or the raw body as text")
    )
    status: int | None = field(
        default=None, metadata=_about("HTTP status of the answer; null: no HTTP answer")
    )
    response_excerpt: str = field(default="", metadata=_about("start and end of the body"))
    raw_sse: str = field(
        default="", metadata=_about("start and end of the raw stream, CR and LF made visible")
    )
    detail: dict[str, JsonValue] = field(
        default_factory=dict, metadata=_about("facts the check found (e.g. the chunk)")
    )


class SkipKind(str, Enum):
    """Why a check could not judge, which decides what a skip means for the run.

    ``capability``: an optional feature the endpoint does not offer; ``not_applicable``: the
    rule does not apply to this configuration or to what this endpoint answered (no key
    given, no 429 ever seen); ``endpoint``: the endpoint's answer to a probe made judging
    impossible and another check judges that answer; ``run``: the run itself could not
    judge (budget, rate limit, timeout, transport); ``internal``: a chatgauge bug.
    """

    CAPABILITY = "capability"
    NOT_APPLICABLE = "not_applicable"
    ENDPOINT = "endpoint"
    RUN = "run"
    INTERNAL = "internal"


ACCEPTED_SKIPS: Final = frozenset({SkipKind.CAPABILITY, SkipKind.NOT_APPLICABLE})
"""The skip kinds a passed run may have: about the endpoint's capabilities or the configuration.

The others leave the run ``incomplete``: ``run`` and ``internal`` because the run itself, not
the endpoint, is why the rule went unjudged; ``endpoint`` because the answer that made the
check unjudgeable is judged by another check, which may not be in the run (``--select``), so
only a failure of that other check, which makes the run ``failed``, accounts for it."""


class FeatureState(str, Enum):
    """What an endpoint did with an optional API feature (``conformance/_features.py``).

    ``supported``: accepted and honoured; ``unsupported``: refused cleanly (a 4xx with the
    error envelope); ``ignored``: accepted, but the effect is absent (the dangerous one: a
    client cannot tell); ``broken``: the effect is there but wrong; ``not_probed``: not
    classified (not selected, no API key given, or the run could not get an answer).
    """

    SUPPORTED = "supported"
    UNSUPPORTED = "unsupported"
    IGNORED = "ignored"
    BROKEN = "broken"
    NOT_PROBED = "not_probed"


@dataclass(frozen=True)
class Capability(JsonRecord):
    """One feature's classification: its state, and the evidence it rests on."""

    status: FeatureState = field(
        default=FeatureState.NOT_PROBED, metadata=_about("what the endpoint did (FeatureState)")
    )
    evidence: str = field(default="", metadata=_about("what was seen, in one line"))
    required: bool = field(
        default=True, metadata=_about("whether the run's contract requires the feature")
    )
    probe: str = field(default="", metadata=_about("the probe that decided it ('' if none)"))


@dataclass(frozen=True)
class Contract(JsonRecord):
    """What the endpoint promises: the profile and the features it requires or leaves optional.

    A required feature that is unsupported, ignored or broken fails. An optional one:
    unsupported is neutral, ignored a warning, broken a failure; checks about an optional
    feature the endpoint does not support are skipped (kind ``capability``).
    """

    profile: str = field(default="openai", metadata=_about("openai (all required) or basic"))
    required: tuple[str, ...] = field(default=(), metadata=_about("required features"))
    optional: tuple[str, ...] = field(default=(), metadata=_about("optional features"))


@dataclass(frozen=True)
class SkipRecord(JsonRecord):
    """One planned check that was skipped: its kind and its reason."""

    id: str = field(metadata=_about("the check id"))
    kind: SkipKind = field(metadata=_about("why it could not judge (see SkipKind)"))
    reason: str = field(default="", metadata=_about("the check's message"))
    accepted: bool = field(
        default=False,
        metadata=_about(
            "a capability or not_applicable skip: the run can still pass; "
            "false: this skip makes the run incomplete"
        ),
    )


@dataclass(frozen=True)
class Coverage(JsonRecord):
    """How much of what the run planned it judged.

    ``total`` planned checks; ``judged`` of them have a verdict on the endpoint (passed,
    failed, warning or unsupported); ``skipped`` lists every skip with its kind and reason;
    ``not_run`` the planned checks without a result (an interrupted run).
    """

    total: int = field(default=0, metadata=_about("planned checks (the run's contract)"))
    judged: int = field(
        default=0, metadata=_about("checks with a verdict: passed, failed, warning, unsupported")
    )
    skipped: tuple[SkipRecord, ...] = field(
        default=(), metadata=_about("every skipped check with its kind and reason")
    )
    not_run: tuple[str, ...] = field(
        default=(), metadata=_about("planned checks without a result (interrupted run)")
    )

    @property
    def unaccepted(self) -> tuple[SkipRecord, ...]:
        """The skips that leave the run incomplete (kinds endpoint, run, internal)."""
        return tuple(s for s in self.skipped if not s.accepted)

    @property
    def complete(self) -> bool:
        """Whether every planned check was judged or skipped for an accepted reason, and at
        least one was judged (a run that judged nothing proves nothing)."""
        return not self.not_run and not self.unaccepted and self.judged > 0


@dataclass(frozen=True)
class CheckResult(JsonRecord):
    """The outcome of one check against one endpoint."""

    id: str = field(metadata=_about("stable check id, e.g. D3-done-last"))
    title: str
    group: str = field(metadata=_about("the group letter A-H: the id's first character"))
    tier: Tier = field(metadata=_about("S spec-literal, C de-facto, I interop hazard"))
    severity: Severity
    status: Status = field(metadata=_about("the check's verdict"))
    message: str = field(metadata=_about("why the verdict: what was found"))
    rule: str = field(metadata=_about("the rule the check enforces"))
    spec_ref: str = field(metadata=_about("where in the OpenAI spec the rule comes from"))
    evidence: tuple[Evidence, ...] = field(
        default=(), metadata=_about("the exchanges that decided a verdict other than passed")
    )
    skip_kind: SkipKind | None = field(
        default=None, metadata=_about("why a skipped check could not judge; null otherwise")
    )

    @property
    def internal_error(self) -> bool:
        """Whether the check itself broke (a chatgauge bug, reported as a skip)."""
        return self.message.startswith(INTERNAL_ERROR_PREFIX)


INTERNAL_ERROR_PREFIX: Final = "chatgauge internal error"


@dataclass(frozen=True)
class RunSettings(JsonRecord):
    """How the endpoint was judged: the same shape whoever ran the checks.

    ``runner`` is ``"cli"`` (``chatgauge check`` and ``chatgauge demo``), ``"api"``
    (:func:`chatgauge.run_conformance` called from Python) or ``"pytest"`` (the plugin,
    where the caps hold per test process, i.e. per xdist worker).
    """

    runner: Literal["cli", "pytest", "api"] = "api"
    strict: bool = field(default=False, metadata=_about("spec-literal schema tier"))
    auth_required: bool = field(
        default=False, metadata=_about("a key was given, so requests without one must fail")
    )
    examples: int = field(default=12, metadata=_about("Hypothesis examples per property"))
    derandomize: bool = False
    max_tokens: int = field(default=16, metadata=_about("max_tokens of each request"))
    max_requests: int = field(default=400, metadata=_about("cap on requests sent"))
    max_total_tokens: int = field(default=40_000, metadata=_about("cap on tokens used"))
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    verify_tls: bool = True
    rate: float | None = field(
        default=None, metadata=_about("requests per second the run was paced to; null: unpaced")
    )
    max_retries: int = field(default=4, metadata=_about("retries of a 429 or 503 per request"))
    timeout_s: float = field(default=60.0, metadata=_about("read timeout: longest silence"))
    total_timeout_s: float = field(default=120.0, metadata=_about("deadline of one request"))
    run_timeout_s: float | None = field(
        default=1800.0, metadata=_about("deadline of the whole run; null: none")
    )
    max_body_bytes: int = field(
        default=16 * 1024 * 1024, metadata=_about("largest answer body accepted")
    )


@dataclass(frozen=True)
class ToolInfo(JsonRecord):
    """Which program wrote the document."""

    name: str = "chatgauge"
    version: str = ""


@dataclass(frozen=True)
class ConformanceRun(JsonRecord):
    """A conformance run against one endpoint: the document ``conformance.json`` holds.

    ``summary`` counts checks per verdict (every verdict present, zeros included);
    ``status`` is the run's verdict (module docstring); ``planned`` lists the ids of the
    checks the run meant to judge (those of an interrupted run missing from ``checks`` were
    not run); ``coverage`` says how many were judged and why the others were not;
    ``stop_reason`` why the run stopped before it ran every check, if it did;
    ``requests_sent`` (``retries`` of them sent again after a 429 or 503) and
    ``tokens_used`` are what the run cost; ``internal_errors`` lists
    checks that broke inside chatgauge.
    """

    endpoint: str = field(metadata=_about("the base URL, incl. the API prefix"))
    model: str
    started_at: str = field(metadata=_about("UTC, ISO 8601"))
    tool: ToolInfo
    settings: RunSettings
    status: RunStatus = field(
        metadata=_about(
            "passed (every planned check judged or skipped as capability/not_applicable, "
            "none failed), failed, incomplete (no failure, but a check went unjudged for "
            "another reason), or interrupted (stopped before every planned check)"
        )
    )
    checks: tuple[CheckResult, ...] = field(default=(), metadata=_about("in catalogue order"))
    planned: tuple[str, ...] = field(
        default=(), metadata=_about("ids of the checks the run meant to judge")
    )
    summary: dict[str, int] = field(
        default_factory=dict, metadata=_about("checks per verdict, zeros included")
    )
    coverage: Coverage = field(
        default_factory=Coverage,
        metadata=_about("planned checks judged, and every skip with its kind and reason"),
    )
    stop_reason: str = field(
        default="",
        metadata=_about(
            "why the run stopped early (interrupted, endpoint unresponsive, run deadline); "
            "empty when it did not"
        ),
    )
    duration_s: float = 0.0
    requests_sent: int = field(default=0, metadata=_about("requests sent, retries included"))
    retries: int = field(
        default=0, metadata=_about("requests sent again after a 429 or 503 (in requests_sent)")
    )
    tokens_used: int = field(
        default=0, metadata=_about("from usage where reported, else estimated")
    )
    internal_errors: tuple[str, ...] = field(
        default=(), metadata=_about("checks that broke inside chatgauge (reported as skipped)")
    )
    kind: Literal["conformance"] = KIND
    schema_version: int = field(
        default=SCHEMA_VERSION, metadata=_about("version of this document's shape")
    )
    contract: Contract = field(
        default_factory=Contract,
        metadata=_about("the features the endpoint was held to (required) or not (optional)"),
    )
    capabilities: dict[str, Capability] = field(
        default_factory=dict,
        metadata=_about("per feature: what the endpoint did with it, and the evidence"),
    )

    @classmethod
    def from_json(cls, data: object, where: str = "") -> ConformanceRun:
        """The run ``data`` encodes; a document written before runs had a coverage gets
        the coverage its checks and plan give (its status is kept as written)."""
        run: ConformanceRun = super().from_json(data, where)
        if isinstance(data, dict) and "coverage" not in data:
            run = replace(run, coverage=coverage_of(run.checks, run.planned))
        return run

    @property
    def failed(self) -> bool:
        """Whether any check failed."""
        return any(r.status is Status.FAILED for r in self.checks)

    @property
    def interrupted(self) -> bool:
        """Whether the run stopped before it judged every planned check."""
        return self.status is RunStatus.INTERRUPTED

    @property
    def not_run(self) -> tuple[str, ...]:
        """The planned checks that have no result (on an interrupted run)."""
        done = {r.id for r in self.checks}
        return tuple(check_id for check_id in self.planned if check_id not in done)

    def counts(self) -> dict[Status, int]:
        """Checks per verdict, computed from the checks (every verdict, zeros included)."""
        return _counts(self.checks)

    def counts_by_name(self) -> dict[str, int]:
        """:meth:`counts` keyed by the verdicts' names (``"failed"``, ...)."""
        return {s.value: n for s, n in _counts(self.checks).items()}

    def with_results(
        self,
        checks: tuple[CheckResult, ...],
        *,
        status: RunStatus | None = None,
        **changes: Any,
    ) -> ConformanceRun:
        """A copy holding ``checks`` (with the summary, coverage, internal errors and,
        unless given, the status that follow from them) and any other field ``changes``.

        The status that follows is the first of (module docstring): ``interrupted`` when a
        planned check has no result (an unfinished run has no final verdict, whatever its
        checks say so far), ``failed`` when a check failed, ``incomplete`` when the coverage
        is not complete, else ``passed``.
        """
        summary = {s.value: n for s, n in _counts(checks).items()}
        planned = changes.get("planned", self.planned)
        coverage = coverage_of(checks, planned)
        if status is None:
            status = status_of(checks, coverage)
        return replace(
            self,
            checks=checks,
            summary=summary,
            coverage=coverage,
            status=status,
            internal_errors=tuple(f"{r.id}: {r.message}" for r in checks if r.internal_error),
            **changes,
        )


JUDGED: Final = frozenset({Status.PASSED, Status.FAILED, Status.WARNING, Status.UNSUPPORTED})
"""The verdicts that judged the endpoint (a skip did not)."""


def coverage_of(checks: tuple[CheckResult, ...], planned: tuple[str, ...]) -> Coverage:
    """The coverage of ``checks`` against the ``planned`` check ids.

    ``planned`` is where the run's contract plugs in: the checks the run is meant to judge.
    A result for a check outside the plan still counts (the plugin may see one from a test
    of the user's own). A skip without a kind (a document from before kinds existed) counts
    as ``endpoint``, which is not accepted.
    """
    skipped = tuple(
        SkipRecord(
            id=r.id,
            kind=r.skip_kind or SkipKind.ENDPOINT,
            reason=r.message,
            accepted=(r.skip_kind or SkipKind.ENDPOINT) in ACCEPTED_SKIPS,
        )
        for r in checks
        if r.status is Status.SKIPPED
    )
    done = {r.id for r in checks}
    return Coverage(
        total=len({*planned, *done}),
        judged=sum(1 for r in checks if r.status in JUDGED),
        skipped=skipped,
        not_run=tuple(check_id for check_id in planned if check_id not in done),
    )


def status_of(checks: tuple[CheckResult, ...], coverage: Coverage) -> RunStatus:
    """The run status that ``checks`` and their ``coverage`` give (module docstring)."""
    if coverage.not_run:
        return RunStatus.INTERRUPTED
    if any(r.status is Status.FAILED for r in checks):
        return RunStatus.FAILED
    if not coverage.complete:
        return RunStatus.INCOMPLETE
    return RunStatus.PASSED


def _counts(checks: tuple[CheckResult, ...]) -> dict[Status, int]:
    found = Counter(r.status for r in checks)
    return {s: found.get(s, 0) for s in Status}


register_kind(KIND, SCHEMA_VERSION, ConformanceRun)

__all__ = [
    "ACCEPTED_SKIPS",
    "GROUPS",
    "HTML_NAME",
    "INTERNAL_ERROR_PREFIX",
    "JSON_NAME",
    "JUDGED",
    "JUNIT_NAME",
    "KIND",
    "SCHEMA_VERSION",
    "Capability",
    "CheckResult",
    "ConformanceRun",
    "Contract",
    "Coverage",
    "Evidence",
    "FeatureState",
    "RunSettings",
    "RunStatus",
    "Severity",
    "SkipKind",
    "SkipRecord",
    "Status",
    "Tier",
    "ToolInfo",
    "coverage_of",
    "group_title",
    "status_of",
]
