"""The catalogue of deviations ``chatgauge serve`` can inject, and of its unusual framings.

This is the one place that names them. Code paths ask ``Fault.X in faults`` with these
constants, never with a literal string, and :data:`FAULTS` / :data:`FRAMINGS` describe each
one in a line (shown by ``chatgauge serve --list-faults``). A fault breaks exactly one rule of
``docs/conformance-rules.md`` (its id leads the description); everything else stays faithful. A
framing is valid but unusual SSE or JSON that a conformant client must accept: it is never a
fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class Fault:
    """Fault names (kebab-case, as given to ``--fault``)."""

    # A. request acceptance and validation
    REJECT_TEMPERATURE_ZERO: Final = "reject-temperature-zero"
    REJECT_CONTENT_PARTS: Final = "reject-content-parts"
    ACCEPT_INVALID_TEMPERATURE: Final = "accept-invalid-temperature"
    SERVER_ERROR_ON_INVALID: Final = "server-error-on-invalid"
    UNKNOWN_MODEL_OK: Final = "unknown-model-ok"
    NO_AUTH_CHECK: Final = "no-auth-check"
    UNKNOWN_FIELD_SERVER_ERROR: Final = "unknown-field-server-error"
    MAX_COMPLETION_TOKENS_IGNORED: Final = "max-completion-tokens-ignored"
    # B. non-streamed response
    MISSING_CREATED: Final = "missing-created"
    WRONG_OBJECT: Final = "wrong-object"
    CHOICES_IGNORE_N: Final = "choices-ignore-n"
    BAD_CHOICE_INDEX: Final = "bad-choice-index"
    OMIT_REFUSAL_AND_LOGPROBS: Final = "omit-refusal-and-logprobs"
    FINISH_REASON_EOS: Final = "finish-reason-eos"
    NO_LENGTH_FINISH: Final = "no-length-finish"
    WRONG_MESSAGE_ROLE: Final = "wrong-message-role"
    ARGUMENTS_AS_OBJECT: Final = "arguments-as-object"
    TOOL_CALLS_AS_CONTENT: Final = "tool-calls-as-content"
    TOOLS_IGNORED: Final = "tools-ignored"
    STOP_LEAK: Final = "stop-leak"
    STOP_FINISH_LENGTH: Final = "stop-finish-length"
    MAX_TOKENS_IGNORED: Final = "max-tokens-ignored"
    # C. usage arithmetic
    USAGE_TOTAL_WRONG: Final = "usage-total-wrong"
    USAGE_PROMPT_ZERO: Final = "usage-prompt-zero"
    USAGE_DETAILS_EXCEED: Final = "usage-details-exceed"
    USAGE_COUNTS_ONE_CHOICE: Final = "usage-counts-one-choice"
    PROMPT_TOKENS_CONSTANT: Final = "prompt-tokens-constant"
    STREAM_USAGE_DIFFERS: Final = "stream-usage-differs"
    # D. SSE framing
    WRONG_CONTENT_TYPE: Final = "wrong-content-type"
    EVENT_STREAM_LATIN1: Final = "event-stream-latin1"
    NON_JSON_DATA: Final = "non-json-data"
    INVALID_UTF8: Final = "invalid-utf8"
    NO_DONE: Final = "no-done"
    DATA_AFTER_DONE: Final = "data-after-done"
    DOUBLE_DONE: Final = "double-done"
    # E. chunk semantics
    CHUNK_WRONG_OBJECT: Final = "chunk-wrong-object"
    CHUNK_ID_CHANGES: Final = "chunk-id-changes"
    EMPTY_CHUNK_ID: Final = "empty-chunk-id"
    NO_ROLE_FIRST_DELTA: Final = "no-role-first-delta"
    ROLE_EVERY_DELTA: Final = "role-every-delta"
    NO_FINISH_REASON: Final = "no-finish-reason"
    FINISH_REASON_TWICE: Final = "finish-reason-twice"
    CONTENT_AFTER_FINISH: Final = "content-after-finish"
    EMPTY_STRING_FINISH_REASON: Final = "empty-string-finish-reason"
    TOOL_CALL_NO_INDEX: Final = "tool-call-no-index"
    TOOL_ARGS_INVALID_JSON: Final = "tool-args-invalid-json"
    USAGE_EVERY_CHUNK: Final = "usage-every-chunk"
    USAGE_CHUNK_HAS_CHOICES: Final = "usage-chunk-has-choices"
    USAGE_WITHOUT_REQUEST: Final = "usage-without-request"
    MISSING_USAGE_CHUNK: Final = "missing-usage-chunk"
    USAGE_CHUNK_PER_CHOICE: Final = "usage-chunk-per-choice"
    STREAM_TEXT_DIFFERS: Final = "stream-text-differs"
    # F. errors
    FLAT_ERROR: Final = "flat-error"
    ERROR_MISSING_PARAM_KEY: Final = "error-missing-param-key"
    NO_RETRY_AFTER: Final = "no-retry-after"
    ERROR_AS_200: Final = "error-as-200"
    # G. feature semantics
    JSON_MODE_FENCED: Final = "json-mode-fenced"
    JSON_MODE_IGNORED: Final = "json-mode-ignored"
    JSON_SCHEMA_VIOLATED: Final = "json-schema-violated"
    LOGPROB_POSITIVE: Final = "logprob-positive"
    LOGPROB_TOKENS_MISMATCH: Final = "logprob-tokens-mismatch"
    TOP_LOGPROBS_TOO_MANY: Final = "top-logprobs-too-many"
    TOP_LOGPROBS_ZERO_GIVES_ONE: Final = "top-logprobs-zero-gives-one"
    TOP_LOGPROBS_TOO_FEW: Final = "top-logprobs-too-few"
    LOGPROBS_DEFAULT_ALTERNATIVES: Final = "logprobs-default-alternatives"
    LOGPROBS_NEED_TOP_LOGPROBS: Final = "logprobs-need-top-logprobs"
    RUNAWAY_GENERATION: Final = "runaway-generation"


FAULTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        Fault.REJECT_TEMPERATURE_ZERO: "A1: temperature 0 (a valid value) is rejected with 400",
        Fault.REJECT_CONTENT_PARTS: "A1: content given as an array of text parts gets 400",
        Fault.ACCEPT_INVALID_TEMPERATURE: "A2: temperature outside [0, 2] is accepted with 200",
        Fault.SERVER_ERROR_ON_INVALID: "A2: invalid requests get 500 instead of 400",
        Fault.UNKNOWN_MODEL_OK: "A3: an unknown model is served instead of 404",
        Fault.NO_AUTH_CHECK: "A4: a missing or wrong API key is accepted (needs --api-key)",
        Fault.UNKNOWN_FIELD_SERVER_ERROR: "A5: an unknown top-level request field causes a 500",
        Fault.MAX_COMPLETION_TOKENS_IGNORED: "A1/G6: max_completion_tokens is silently ignored",
        Fault.MISSING_CREATED: "B1: non-streamed responses lack the required 'created' field",
        Fault.WRONG_OBJECT: "B2: non-streamed responses say object 'chat.completion.chunk'",
        Fault.CHOICES_IGNORE_N: "B2/G4: n is ignored, always one choice (streamed and not)",
        Fault.BAD_CHOICE_INDEX: "B2: non-streamed choice indices start at 1 instead of 0",
        Fault.OMIT_REFUSAL_AND_LOGPROBS: (
            "B1 strict: message.refusal and choices[].logprobs are omitted (compat tier passes)"
        ),
        Fault.FINISH_REASON_EOS: "B3: finish_reason 'eos' instead of 'stop'",
        Fault.NO_LENGTH_FINISH: "B4/G6: finish_reason 'stop' when max_tokens cut the output",
        Fault.WRONG_MESSAGE_ROLE: "B2: non-streamed messages say role 'model', not 'assistant'",
        Fault.ARGUMENTS_AS_OBJECT: "B4: non-streamed tool call arguments are an object",
        Fault.TOOL_CALLS_AS_CONTENT: (
            "B4: non-streamed tool calls come back as JSON text in content, without tool_calls"
        ),
        Fault.TOOLS_IGNORED: (
            "B4/E5: tools and tool_choice are silently ignored; the answer is text that runs "
            "into max_tokens"
        ),
        Fault.STOP_LEAK: "B4/G5: the stop sequence is included at the end of the content",
        Fault.STOP_FINISH_LENGTH: "G5: output ended by a stop sequence says finish_reason 'length'",
        Fault.MAX_TOKENS_IGNORED: "G6: max_tokens and max_completion_tokens are ignored",
        Fault.USAGE_TOTAL_WRONG: "C1: total_tokens is prompt_tokens + completion_tokens + 1",
        Fault.USAGE_PROMPT_ZERO: "C2: prompt_tokens is 0 for a non-empty prompt",
        Fault.USAGE_DETAILS_EXCEED: "C2: prompt_tokens_details.cached_tokens exceeds prompt_tokens",
        Fault.USAGE_COUNTS_ONE_CHOICE: (
            "C4: with n > 1, usage.completion_tokens counts the first choice only"
        ),
        Fault.PROMPT_TOKENS_CONSTANT: "C3: prompt_tokens does not grow when the prompt grows",
        Fault.STREAM_USAGE_DIFFERS: "C3: streamed usage counts one completion token more",
        Fault.WRONG_CONTENT_TYPE: "D1: streams are sent with Content-Type application/json",
        Fault.EVENT_STREAM_LATIN1: (
            "D1 (I tier): streams declare 'text/event-stream; charset=iso-8859-1' (the body "
            "stays UTF-8)"
        ),
        Fault.NON_JSON_DATA: "D2: a stream carries a 'data: heartbeat' event that is not JSON",
        Fault.INVALID_UTF8: "D2: the first content delta holds a byte that is not UTF-8 (0xFF)",
        Fault.NO_DONE: "D3: streams end without 'data: [DONE]'",
        Fault.DATA_AFTER_DONE: "D3: one more chunk is sent after 'data: [DONE]'",
        Fault.DOUBLE_DONE: "D3: 'data: [DONE]' is sent twice",
        Fault.CHUNK_WRONG_OBJECT: "E1: chunks say object 'chat.completion'",
        Fault.CHUNK_ID_CHANGES: "E2: the chunk id changes from chunk to chunk",
        Fault.EMPTY_CHUNK_ID: "E2: chunks carry an empty id",
        Fault.NO_ROLE_FIRST_DELTA: "E3: the first delta of a choice lacks role 'assistant'",
        Fault.ROLE_EVERY_DELTA: "E3 (I tier): every delta repeats role 'assistant'",
        Fault.NO_FINISH_REASON: "E4: streamed choices never get a non-null finish_reason",
        Fault.FINISH_REASON_TWICE: "E4: each choice's finish chunk is sent twice",
        Fault.CONTENT_AFTER_FINISH: "E4: choice 0 gets one more content delta after its finish",
        Fault.EMPTY_STRING_FINISH_REASON: "E4/B3: streamed finish_reason is '' instead of a value",
        Fault.TOOL_CALL_NO_INDEX: "E5: streamed tool call deltas lack their 'index'",
        Fault.TOOL_ARGS_INVALID_JSON: "E5: streamed tool call arguments join to invalid JSON",
        Fault.USAGE_EVERY_CHUNK: "E6: every chunk carries a usage object",
        Fault.USAGE_CHUNK_HAS_CHOICES: "E6: usage rides on the last choice chunk (no choices: [])",
        Fault.USAGE_WITHOUT_REQUEST: "E6: a usage chunk is sent although include_usage was not set",
        Fault.MISSING_USAGE_CHUNK: "E6: include_usage is requested but no usage chunk is sent",
        Fault.USAGE_CHUNK_PER_CHOICE: (
            "E6: with n > 1, each choice's finish is followed by a usage chunk of its own, "
            "before the other choices finish"
        ),
        Fault.STREAM_TEXT_DIFFERS: "E7: streamed text differs from the non-streamed text",
        Fault.FLAT_ERROR: "F1: error bodies are flat, without the {'error': {...}} envelope",
        Fault.ERROR_MISSING_PARAM_KEY: "F1: error envelopes lack the 'param' key",
        Fault.NO_RETRY_AFTER: "F2: 429 responses lack Retry-After (needs --rate-limit)",
        Fault.ERROR_AS_200: "F3: invalid requests get 200 with an error object as the body",
        Fault.JSON_MODE_FENCED: "G1: JSON mode content is wrapped in a ```json fence",
        Fault.JSON_MODE_IGNORED: "G1: JSON mode is ignored, content is plain text",
        Fault.JSON_SCHEMA_VIOLATED: "G2: json_schema content misses a required property",
        Fault.LOGPROB_POSITIVE: "G3: the first token's logprob is positive",
        Fault.LOGPROB_TOKENS_MISMATCH: "G3: logprob tokens do not concatenate to the content",
        Fault.TOP_LOGPROBS_TOO_MANY: "G3: one more top_logprobs alternative than requested",
        Fault.TOP_LOGPROBS_ZERO_GIVES_ONE: "G3: top_logprobs 0 gives one alternative per token",
        Fault.TOP_LOGPROBS_TOO_FEW: "G3: top_logprobs k gives k - 1 alternatives per token",
        Fault.LOGPROBS_DEFAULT_ALTERNATIVES: (
            "G3: logprobs without top_logprobs gives 20 alternatives per token, not none"
        ),
        Fault.LOGPROBS_NEED_TOP_LOGPROBS: (
            "G3: logprobs: true answers logprobs null unless top_logprobs is 1 or more"
        ),
        Fault.RUNAWAY_GENERATION: (
            "G6: a limit of 3 tokens or fewer is ignored: the answer runs on for 512 tokens "
            "(a full context); not streamed, it comes after 1 s"
        ),
    }
)


class Framing:
    """Framing variant names (as given to ``--framing``)."""

    CRLF: Final = "crlf"
    CR: Final = "cr"
    COMMENTS: Final = "comments"
    FRAGMENTED: Final = "fragmented"
    NO_SPACE: Final = "no-space"
    MULTILINE_DATA: Final = "multiline-data"
    ID_RETRY: Final = "id-retry"
    BOM: Final = "bom"
    BARE_CONTENT_TYPE: Final = "bare-content-type"
    EXTRA_FIELDS: Final = "extra-fields"
    USAGE_NULL: Final = "usage-null"


FRAMINGS: Final[Mapping[str, str]] = MappingProxyType(
    {
        Framing.CRLF: "SSE lines end with CRLF",
        Framing.CR: "SSE lines end with a lone CR",
        Framing.COMMENTS: "keep-alive comments (': ping' and a bare ':') between events",
        Framing.FRAGMENTED: (
            "each event is written in 1-7 byte pieces, split inside UTF-8 sequences "
            "and between CR and LF"
        ),
        Framing.NO_SPACE: "no space after the colon ('data:{...}')",
        Framing.MULTILINE_DATA: "each JSON payload is split over several data: lines",
        Framing.ID_RETRY: "every event has an id: field, the first a retry: field",
        Framing.BOM: "the stream starts with a UTF-8 byte order mark",
        Framing.BARE_CONTENT_TYPE: (
            "Content-Type 'text/event-stream' without the '; charset=utf-8' OpenAI sends"
        ),
        Framing.EXTRA_FIELDS: "unknown extra fields in responses, chunks, choices and deltas",
        Framing.USAGE_NULL: "explicit 'usage': null in chunks even without include_usage",
    }
)
