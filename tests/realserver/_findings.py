"""What chatgauge must say about each real server, inspected by hand against raw answers.

Every failed or warning verdict of the matrix run is here, per server, either as a
:class:`Finding` (a real deviation: the verdict is right) or as a :class:`WrongVerdict`
(a false alarm or a miss, waiting for its rule fix). A finding names the
deviation its check's message must show, so a check that starts failing for another
reason is caught too; each entry says why the verdict is right or wrong. The evidence
(requests and raw answers) is quoted in docs/tested-against.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """A verdict judged right by hand: ``status`` with a message containing ``shows``.

    ``timing``, when given, says why the same deviation can go unseen on a faster run
    (the check then passes: a miss, listed in docs/tested-against.md as a wrong verdict)."""

    status: str
    shows: str
    why: str
    timing: str | None = None


@dataclass(frozen=True)
class WrongVerdict:
    """A verdict judged wrong by hand: chatgauge says ``reported``, the rules should say
    ``right``; ``fix`` is the rule change (issue 11) that would make it right."""

    reported: str
    right: str
    why: str
    fix: str


# Shared by every server: a real deviation everywhere it occurs.
_TOOLS_IGNORED = (
    "tool_choice 'required' obliges a tool call; the answer was prose cut at max_tokens "
    "(finish_reason 'length', no tool_calls), the tools neither used nor refused"
)
_OUT_OF_RANGE = (
    "the spec bounds temperature to [0, 2] (and top_p, the penalties likewise); "
    "temperature -0.01 was answered 200 instead of 400"
)
_UNKNOWN_MODEL = (
    "model 'chatgauge-no-such-model-4f1c' is served by nobody; the server answered 200 with "
    "a completion instead of 404 model_not_found"
)

_LOGPROBS_TOOLS_STREAM = (
    "logprobs with tools in a stream is a valid request (OpenAI answers it); the server "
    "refuses the combination with 400 'logprobs is not supported with tools + stream'"
)
_USAGE_ONE_CHOICE = (
    "with n: 3 usage counts the tokens of every choice; completion_tokens equals one "
    "choice's tokens (3 for three choices cut at max_tokens 3)"
)
_TOP0_NO_LOGPROBS = (
    "logprobs: true with top_logprobs 0 asks for per-token logprobs without alternatives; "
    "choices[0].logprobs came back null"
)
_UNASKED_ALTERNATIVES = (
    "logprobs: true without top_logprobs asks for no alternatives (OpenAI: an empty list "
    "per token); every entry carried 20"
)

_H1_TOOLS = Finding(
    "failed",
    "tools is required by the contract (profile openai) but the endpoint accepts it but "
    "ignores it (ignored)",
    "profile openai requires tools; " + _TOOLS_IGNORED,
)

FINDINGS: dict[str, dict[str, Finding]] = {
    "llama-cpp-python": {
        "A1-random-valid-requests-accepted": Finding(
            "failed",
            "HTTP 500 instead of 200",
            "system content as an array of text parts is valid; pydantic refuses it "
            "('Input should be a valid string') and the server answers 500",
        ),
        "A1-request-shapes-accepted": Finding(
            "failed",
            "developer message: HTTP 500 instead of 200",
            "the developer role is valid; it is refused with 500 ('Input should be "
            "'system''), as are assistant content null with tool_calls and json_schema",
        ),
        "A2-malformed-body-rejected": Finding(
            "failed",
            "malformed JSON: HTTP 500",
            "a truncated JSON body is the client's mistake (400), not a server error",
        ),
        "A2-malformed-request-rejected": Finding(
            "failed",
            "missing model: accepted with HTTP 200",
            "model and messages are required; requests without them were answered 200, "
            "and type errors 500",
        ),
        "A2-out-of-range-rejected": Finding(
            "failed", "temperature -0.01 out of range: accepted with HTTP 200", _OUT_OF_RANGE
        ),
        "A2-random-invalid-requests-rejected": Finding(
            "failed",
            "HTTP 500, a server error for a client mistake",
            "an invalid request is the client's mistake: 400, not a pydantic dump with 500",
        ),
        "A3-unknown-model-rejected": Finding("failed", "served anyway: HTTP 200", _UNKNOWN_MODEL),
        "B2-choice-count": Finding(
            "failed", "n=3 but 1 choices", "n: 3 asks for three choices; one came back"
        ),
        "B4-tool-calls": Finding(
            "failed", "tool_choice 'required' but no tool call", _TOOLS_IGNORED
        ),
        "E5-tool-call-deltas": Finding(
            "failed", "the stream carried no tool call", "streamed: " + _TOOLS_IGNORED
        ),
        "E6-usage-chunk": Finding(
            "failed",
            "0 chunk(s) carry usage",
            "stream_options.include_usage asks for a final usage chunk; none was sent",
        ),
        "F1-error-envelope": Finding(
            "failed",
            "malformed-json: the body is not JSON",
            "errors come as {'error': {...}}; malformed JSON got a text/plain "
            "'Internal Server Error'",
        ),
        "F2-validation-status": Finding(
            "failed",
            "validation errors had the wrong status",
            "validation errors are 400 (or 422); every one of them was answered 500",
        ),
        "G4-n-stream": Finding(
            "failed",
            "carried choice indices [0]",
            "a stream with n: 3 carries choices 0, 1 and 2; only index 0 came",
        ),
        "G3-logprob-tokens": Finding(
            "failed",
            "logprobs were requested (no top_logprobs) but choices[0].logprobs is None",
            "logprobs: true asks for per-token logprobs; without top_logprobs the server "
            "answers logprobs null",
        ),
        "G3-top-logprobs-count": Finding(
            "failed",
            "has 1 top_logprobs, requested 0",
            "top_logprobs 0 asks for no alternatives; each entry carried one (the token itself)",
        ),
        "G6-max-completion-tokens": Finding(
            "failed",
            "cut-completion-tokens (max_completion_tokens 3): ",
            "max_completion_tokens 3 was ignored: the answer runs on until the 256-token "
            "context is full (240 completion tokens when it completes in time, else the "
            "tiny request's deadline fails it: no complete answer after 15 s)",
        ),
        "H1-tools": _H1_TOOLS,
        "H3-json-schema": Finding(
            "failed",
            "json_schema is required by the contract (profile openai) but the endpoint does "
            "it wrong (broken): refused, but not cleanly: HTTP 500",
            "response_format json_schema is refused with a 500 (pydantic: 'Input should be "
            "'text' or 'json_object''), not a clean 4xx refusal: broken, as A1 says",
        ),
        "H5-n": Finding(
            "failed",
            "n is required by the contract (profile openai) but the endpoint accepts it but "
            "ignores it (ignored): n=3 answered with one choice",
            "n: 3 gets one choice, streamed and not (B2, G4)",
        ),
        "H7-stream-usage": Finding(
            "failed",
            "stream_usage is required by the contract (profile openai) but the endpoint "
            "accepts it but ignores it (ignored)",
            "stream_options.include_usage is accepted and no usage chunk comes (E6)",
        ),
        "H9-max-completion-tokens": Finding(
            "failed",
            "max_completion_tokens is required by the contract (profile openai) but the "
            "endpoint accepts it but ignores it (ignored)",
            "max_completion_tokens 3 is accepted and the answer runs to the context's end (G6)",
        ),
        "H10-developer-role": Finding(
            "failed",
            "developer_role is required by the contract (profile openai) but the endpoint does "
            "it wrong (broken): refused, but not cleanly: HTTP 500",
            "a developer message is refused with a 500 pydantic dump ('Input should be "
            "'system''), not a clean 4xx (A1)",
        ),
    },
    "llama-server": {
        "H1-tools": _H1_TOOLS,
        "A1-random-valid-requests-accepted": Finding(
            "failed", "logprobs is not supported with tools + stream", _LOGPROBS_TOOLS_STREAM
        ),
        "C4-usage-counts-every-choice": Finding(
            "failed", "completion_tokens 3 for 3 choices", _USAGE_ONE_CHOICE
        ),
        "A2-malformed-request-rejected": Finding(
            "failed",
            "missing model: accepted with HTTP 200",
            "model is required and messages may not be empty; both were answered 200 "
            "(the empty conversation renders to an empty prompt and is completed)",
        ),
        "A2-out-of-range-rejected": Finding(
            "failed", "temperature -0.01 out of range: accepted with HTTP 200", _OUT_OF_RANGE
        ),
        "A2-random-invalid-requests-rejected": Finding(
            "failed",
            "accepted with HTTP 200",
            "a request outside the spec's ranges was answered 200 instead of 400",
        ),
        "A3-unknown-model-rejected": Finding("failed", "served anyway: HTTP 200", _UNKNOWN_MODEL),
        "B4-tool-calls": Finding(
            "failed", "tool_choice 'required' but no tool call", _TOOLS_IGNORED
        ),
        "E2-stable-identity": Finding(
            "failed",
            "has created",
            "the spec says each chunk has the same created; llama-server writes the "
            "current second into every chunk",
            timing="the probe's 16-token stream shows it only when it crosses a second",
        ),
        "E5-tool-call-deltas": Finding(
            "failed", "the stream carried no tool call", "streamed: " + _TOOLS_IGNORED
        ),
        "F1-error-fields": Finding(
            "failed",
            "error object lacks 'param'",
            "an OpenAI error object has message, type, param and code; llama-server's "
            "has no param (and an integer code)",
        ),
        "G3-logprob-tokens": Finding(
            "failed", "(top_logprobs 0) but choices[0].logprobs is None", _TOP0_NO_LOGPROBS
        ),
        "G3-top-logprobs-exact": Finding(
            "failed", "top_logprobs was not requested, yet entries carry", _UNASKED_ALTERNATIVES
        ),
        "E6-usage-chunk": Finding(
            "failed",
            "3 chunk(s) carry usage",
            "with n: 3 and include_usage one usage chunk comes after every choice finished; "
            "llama-server streams one per choice, the first before the others finished",
        ),
    },
    "litellm": {
        "H1-tools": _H1_TOOLS,
        "H7-stream-usage": Finding(
            "failed",
            "stream_usage is required by the contract (profile openai) but the endpoint does "
            "it wrong (broken): the usage chunk has choices",
            "the usage chunk comes but carries a choice with an empty delta instead of "
            "choices: [] (E6)",
        ),
        "H12-auth": Finding(
            "failed",
            "auth is required by the contract (profile openai) but the endpoint does it wrong "
            "(broken): no-auth: HTTP 500 instead of 401",
            "a request without a key gets a text/plain 500 (the proxy's error handler needs "
            "prisma), not 401 (A4)",
        ),
        "A1-random-valid-requests-accepted": Finding(
            "failed",
            "logprobs is not supported with tools",
            _LOGPROBS_TOOLS_STREAM + " (passed through by the proxy)",
        ),
        "C4-usage-counts-every-choice": Finding(
            "failed", "completion_tokens 3 for 3 choices", _USAGE_ONE_CHOICE
        ),
        "A2-malformed-body-rejected": Finding(
            "failed",
            "JSON body is not an object: HTTP 500",
            "a JSON array as body is the client's mistake; the proxy's auth layer calls "
            ".get on it and answers a text/plain 500",
        ),
        "A2-malformed-request-rejected": Finding(
            "failed",
            "empty messages: accepted with HTTP 200",
            "messages may not be empty; the proxy passes [] on and the upstream completes it",
        ),
        "A2-out-of-range-rejected": Finding(
            "failed", "temperature -0.01 out of range: accepted with HTTP 200", _OUT_OF_RANGE
        ),
        "A2-random-invalid-requests-rejected": Finding(
            "failed",
            "accepted with HTTP 200",
            "a request outside the spec's ranges was passed on and answered 200",
        ),
        "A4-missing-key-rejected": Finding(
            "failed",
            "HTTP 500 instead of 401",
            "a request without a key must get 401; the error handler imports prisma, "
            "which litellm[proxy] does not install, and the 401 becomes a bare 500",
        ),
        "A4-wrong-key-rejected": Finding(
            "failed",
            "HTTP 400 instead of 401",
            "a wrong key must get 401; without a database the proxy answers 400 "
            "no_db_connection ('No connected db.')",
        ),
        "B4-tool-calls": Finding(
            "failed", "tool_choice 'required' but no tool call", _TOOLS_IGNORED
        ),
        "E1-chunk-schema": Finding(
            "failed",
            "'finish_reason' is a required property",
            "finish_reason is required (null until the end) in every chunk choice; the "
            "proxy leaves it out (its upstream sends null)",
        ),
        "E3-role-first": Finding(
            "failed",
            "has role None",
            "with n: 3 each choice's first delta carries the assistant role; the proxy "
            "sends the role for one choice only",
        ),
        "E4-nothing-after-finish": Finding(
            "failed",
            "got a delta after its finish_reason",
            "with n: 3 the proxy sends a finish_reason while that choice still has content to come",
        ),
        "E4-one-finish-reason": Finding(
            "failed",
            "0 non-null finish_reason values",
            "with n: 3 every choice ends with one finish_reason; through the proxy two of "
            "the three never get one",
        ),
        "E5-tool-call-deltas": Finding(
            "failed", "the stream carried no tool call", "streamed: " + _TOOLS_IGNORED
        ),
        "E6-usage-chunk": Finding(
            "failed",
            "the usage chunk has choices",
            "the usage chunk has choices: []; the proxy's carries a choice with an empty delta",
        ),
        "F1-error-envelope": Finding(
            "failed",
            "the body is not JSON",
            "errors come as {'error': {...}}; a body that is not an object and a missing "
            "key got a text/plain 'Internal Server Error'",
        ),
        "G3-logprob-tokens": Finding(
            "failed", "(top_logprobs 0) but choices[0].logprobs is None", _TOP0_NO_LOGPROBS
        ),
        "G3-top-logprobs-exact": Finding(
            "failed", "top_logprobs was not requested, yet entries carry", _UNASKED_ALTERNATIVES
        ),
        "G4-n-stream": Finding(
            "failed",
            "finish_reason arrived for indices",
            "a stream with n: 3 finishes all three choices; through the proxy only one "
            "gets its finish_reason",
        ),
    },
}
# Every wrong verdict of the first inspection was fixed in the rules (issue 11): D1 accepts
# the charset parameter, E6 judges the n > 1 stream. New ones go here with their fix.
WRONG_VERDICTS: dict[str, dict[str, WrongVerdict]] = {
    "llama-cpp-python": {},
    "llama-server": {},
    "litellm": {},
}
