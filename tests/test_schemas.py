"""The shipped JSON Schemas: well-formed, faithful to the spec, and usable as conformance rules.

Tests that need the OpenAI spec file itself read the vendored copy at `<repo>/reference/
openai-openapi.yaml` (or $CHATGAUGE_OPENAPI_SPEC) and skip when it is absent; the spec's
examples are also committed under tests/fixtures/spec_examples/ so the rest runs without it.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from chatgauge import schemas
from chatgauge.schemas import _derive

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "spec_examples"
SPEC_FILE = Path(
    os.environ.get("CHATGAUGE_OPENAPI_SPEC", REPO / "reference" / "openai-openapi.yaml")
)
# The spec is vendored, so a fresh clone always runs these tests: a missing file or a missing
# PyYAML is a broken checkout or environment, reported as a failure rather than a skip.
SPEC_MISSING = (
    f"OpenAI spec not found at {SPEC_FILE} (vendored at reference/; or set CHATGAUGE_OPENAPI_SPEC)"
    if not SPEC_FILE.is_file()
    else "PyYAML is not installed (needed to read the spec; it is in the test extra)"
    if importlib.util.find_spec("yaml") is None
    else ""
)

#: Where the spec's own examples break the strict tier, as (example, JSON path, keyword).
#: Each one is a documented compat relaxation; anything else failing strict is a bug.
STRICT_DEVIATIONS = {
    "post_functions_response": {("$.choices[0].message", "required")},
    "post_logprobs_response": {
        ("$.choices[0].message", "required"),  # no `refusal`
        ("$.choices[0].logprobs", "anyOf"),  # logprobs without `refusal`
        ("$.system_fingerprint", "type"),  # null
    },
}


# --------------------------------------------------------------------------- spec examples


def _curl_body(curl: str) -> Any:
    match = re.search(r"-d '(.*?)'", curl, re.DOTALL)
    assert match, "curl example without a -d '...' body"
    return json.loads(match.group(1))


def _parse_response(text: str) -> list[Any]:
    """One JSON body, or a stream example: one chunk per line, blank lines and "...." between."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.lstrip().startswith("{")]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def extract_examples(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every chat-completions example in the spec, as {slug: fixture document}."""
    examples: dict[str, dict[str, Any]] = {}
    post = spec["paths"]["/chat/completions"]["post"]["x-oaiMeta"]["examples"]
    for example in post:
        slug = f"post_{_slug(example['title'])}"
        where = f"paths./chat/completions.post.x-oaiMeta.examples[{example['title']!r}]"
        examples[f"{slug}_request"] = {
            "source": f"{where}.request.curl",
            "schema": "chat_completion_request",
            "instances": [_curl_body(example["request"]["curl"])],
        }
        instances = _parse_response(example["response"])
        examples[f"{slug}_response"] = {
            "source": f"{where}.response",
            "schema": "chat_completion_chunk" if len(instances) > 1 else "chat_completion_response",
            "instances": instances,
        }
    components = spec["components"]["schemas"]
    for component, schema in (
        ("CreateChatCompletionResponse", "chat_completion_response"),
        ("CreateChatCompletionStreamResponse", "chat_completion_chunk"),
    ):
        examples[f"component_{schema}"] = {
            "source": f"components.schemas.{component}.x-oaiMeta.example",
            "schema": schema,
            "instances": _parse_response(components[component]["x-oaiMeta"]["example"]),
        }
    return examples


def _fixtures() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(FIXTURES.glob("*.json")):
        yield path.stem, json.loads(path.read_text(encoding="utf-8"))


FIXTURE_DOCS = dict(_fixtures())


@pytest.fixture(scope="module")
def spec_and_sha256() -> tuple[dict[str, Any], str]:
    if SPEC_MISSING:
        pytest.fail(SPEC_MISSING)
    return _derive.read_spec(SPEC_FILE)


@pytest.fixture(scope="module")
def spec(spec_and_sha256: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return spec_and_sha256[0]


@pytest.fixture(scope="module")
def spec_info(spec_and_sha256: tuple[dict[str, Any], str]) -> _derive.SpecInfo:
    return _derive.spec_info(*spec_and_sha256)


def _errors(name: str, tier: schemas.Tier, instance: Any) -> set[tuple[str, str]]:
    """The (JSON path, failing keyword) pairs of the top-level validation errors."""
    return {
        (error.json_path, str(error.validator))
        for error in schemas.validator(name, tier).iter_errors(instance)
    }


# --------------------------------------------------------------------------- the files


@pytest.mark.parametrize("tier", schemas.TIERS)
@pytest.mark.parametrize("name", schemas.SCHEMA_NAMES)
def test_every_shipped_schema_is_a_valid_2020_12_document(name: str, tier: schemas.Tier) -> None:
    document = schemas.load_schema(name, tier)
    Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["$id"] == f"urn:chatgauge:schema:{tier}:{name}"
    assert schemas.SPEC_COMMIT in document["$comment"]
    text = json.dumps(document)
    # Every $ref is local and resolves: the document stands alone.
    for ref in set(re.findall(r'"\$ref": "([^"]*)"', text)):
        assert ref == "#" or ref.removeprefix("#/$defs/") in document["$defs"], ref
    for leftover in ('"nullable"', '"discriminator"', '"x-'):
        assert leftover not in text


def test_spec_identity_comes_from_the_manifest() -> None:
    manifest = json.loads((REPO / "src/chatgauge/schemas/manifest.json").read_text())
    assert manifest["spec"]["commit"] == schemas.SPEC_COMMIT
    assert re.fullmatch(r"[0-9a-f]{40}", schemas.SPEC_COMMIT)
    assert re.fullmatch(r"[0-9a-f]{64}", schemas.SPEC_SHA256)
    assert manifest["spec"]["version"] == schemas.SPEC_VERSION


def test_load_schema_returns_an_independent_copy() -> None:
    first = schemas.load_schema("completion_usage")
    first["required"].clear()
    assert schemas.load_schema("completion_usage")["required"] == [
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    ]


def test_validator_is_shared_and_ignores_formats() -> None:
    check = schemas.validator("chat_completion_response", "compat")
    assert check is schemas.validator("chat_completion_response", "compat")
    # `format: uri` is an annotation only: a server's odd URL is not a schema failure.
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "See it.",
        "annotations": [
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": 0,
                    "end_index": 3,
                    "url": "not a uri",
                    "title": "t",
                },
            }
        ],
    }
    response = copy.deepcopy(MINIMAL_RESPONSE)
    response["choices"][0]["message"] = message
    assert check.is_valid(response)
    message["annotations"][0]["url_citation"]["url"] = 42
    assert not check.is_valid(response)


@pytest.mark.parametrize(("name", "tier"), [("chat_completion", "strict"), ("error_response", "x")])
def test_unknown_schema_or_tier_is_a_value_error(name: str, tier: Any) -> None:
    with pytest.raises(ValueError, match="unknown"):
        schemas.load_schema(name, tier)


# --------------------------------------------------------------------------- spec examples


def test_fixtures_cover_every_shipped_response_shape() -> None:
    covered = {document["schema"] for document in FIXTURE_DOCS.values()}
    assert covered == {
        "chat_completion_request",
        "chat_completion_response",
        "chat_completion_chunk",
    }


@pytest.mark.parametrize("slug", sorted(FIXTURE_DOCS))
def test_spec_examples_validate_against_the_compat_tier(slug: str) -> None:
    document = FIXTURE_DOCS[slug]
    for instance in document["instances"]:
        assert _errors(document["schema"], "compat", instance) == set()


@pytest.mark.parametrize("slug", sorted(FIXTURE_DOCS))
def test_spec_examples_break_the_strict_tier_only_where_documented(slug: str) -> None:
    document = FIXTURE_DOCS[slug]
    found = set().union(
        *(_errors(document["schema"], "strict", instance) for instance in document["instances"])
    )
    assert found == STRICT_DEVIATIONS.get(slug, set())


def test_committed_fixtures_are_the_spec_examples(spec: dict[str, Any]) -> None:
    assert extract_examples(spec) == FIXTURE_DOCS


# --------------------------------------------------------------------------- derivation


def test_shipped_files_are_what_the_derivation_produces(
    spec: dict[str, Any], spec_info: _derive.SpecInfo
) -> None:
    files = _derive.derive_all(spec, spec_info)
    assert _derive.stale_files(files, _derive.SCHEMAS_DIR) == []
    assert set(_derive.ROOTS) == set(schemas.SCHEMA_NAMES)
    shipped = {
        path.relative_to(_derive.SCHEMAS_DIR) for path in _derive.SCHEMAS_DIR.rglob("*.json")
    }
    assert shipped == set(files), "a shipped file the derivation no longer produces"


def test_check_mode_detects_a_hand_edited_file(tmp_path: Path) -> None:
    spec_args = ["--spec", str(SPEC_FILE), "--out", str(tmp_path)]
    assert _derive.main(spec_args) == 0
    assert _derive.main([*spec_args, "--check"]) == 0
    edited = tmp_path / "compat" / "chat_completion_response.json"
    edited.write_text(edited.read_text().replace('"refusal"', '"refusal_"'))
    assert _derive.main([*spec_args, "--check"]) == 1


def test_nullable_trap_needs_the_normalization(
    spec: dict[str, Any], spec_info: _derive.SpecInfo
) -> None:
    """A 2020-12 validator ignores OpenAPI's `nullable`: the naive derivation rejects the
    spec's own first chunk (`finish_reason: null`, `logprobs: null`); the shipped one accepts it.
    """
    first_chunk = FIXTURE_DOCS["post_streaming_response"]["instances"][0]
    assert first_chunk["choices"][0]["finish_reason"] is None
    naive = _derive.derive_schema(spec, "chat_completion_chunk", spec_info, normalized=False)
    naive_errors = {
        error.json_path for error in Draft202012Validator(naive).iter_errors(first_chunk)
    }
    assert naive_errors == {"$.choices[0].finish_reason", "$.choices[0].logprobs"}
    assert _errors("chat_completion_chunk", "strict", first_chunk) == set()
    with_null_usage = {**first_chunk, "usage": None}
    assert not Draft202012Validator(naive).is_valid(with_null_usage)
    assert _errors("chat_completion_chunk", "strict", with_null_usage) == set()


def test_normalize_rewrites_nullable_per_node_kind() -> None:
    plain = _derive.normalize({"type": "integer", "nullable": True}, root="R")
    assert plain == {"type": ["integer", "null"]}
    enum = _derive.normalize({"type": "string", "enum": ["a", "b"], "nullable": True}, root="R")
    assert enum == {"type": ["string", "null"], "enum": ["a", "b", None]}
    ref = _derive.normalize(
        {"$ref": "#/components/schemas/U", "description": "d", "nullable": True}, root="R"
    )
    assert ref == {"description": "d", "anyOf": [{"$ref": "#/$defs/U"}, {"type": "null"}]}
    untyped = _derive.normalize({"description": "anything", "nullable": True}, root="R")
    assert untyped == {"description": "anything"}
    for schema in (plain, enum, ref):
        assert Draft202012Validator({**schema, "$defs": {"U": {}}}).is_valid(None)


def test_normalize_translates_openapi_keywords_but_not_property_names() -> None:
    node = {
        "type": "object",
        "discriminator": {"propertyName": "type"},
        "x-oaiMeta": {"name": "n"},
        "example": {"type": "t"},
        "properties": {
            "type": {"type": "string", "enum": ["t"], "x-stainless-const": True},
            "nullable": {"type": "boolean"},
            "example": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "ratio": {"type": "number", "maximum": 1, "exclusiveMaximum": False},
        },
        "required": ["type"],
    }
    assert _derive.normalize(node, root="R") == {
        "type": "object",
        "properties": {
            "type": {"type": "string", "const": "t"},
            "nullable": {"type": "boolean"},
            "example": {"type": "number", "exclusiveMinimum": 0},
            "ratio": {"type": "number", "maximum": 1},
        },
        "required": ["type"],
    }


def test_normalize_refuses_yaml_accidents_and_unknown_refs() -> None:
    with pytest.raises(_derive.DerivationError, match="non-string"):
        _derive.normalize({"type": "string", "enum": ["auto", False]}, root="R")
    with pytest.raises(_derive.DerivationError, match="unsupported"):
        _derive.normalize({"$ref": "other.yaml#/X"}, root="R")
    with pytest.raises(_derive.DerivationError, match="one-value enum"):
        _derive.normalize({"enum": ["a", "b"], "x-stainless-const": True}, root="R")


def test_compat_change_whose_target_vanished_fails_loudly() -> None:
    strict = schemas.load_schema("chat_completion_response", "strict")
    strict["$defs"]["ChatCompletionResponseMessage"]["required"].remove("refusal")
    with pytest.raises(_derive.DerivationError, match="nothing to relax"):
        _derive.compat_variant("chat_completion_response", strict)
    strict = schemas.load_schema("chat_completion_response", "strict")
    strict["properties"]["system_fingerprint"]["type"] = ["string", "null"]
    with pytest.raises(_derive.DerivationError, match="nothing to relax"):
        _derive.compat_variant("chat_completion_response", strict)
    strict = schemas.load_schema("chat_completion_response", "strict")
    del strict["$defs"]["ChatCompletionResponseMessage"]
    with pytest.raises(_derive.DerivationError, match="target missing"):
        _derive.compat_variant("chat_completion_response", strict)


def test_compat_documents_say_what_they_relax() -> None:
    comment = schemas.load_schema("chat_completion_response", "compat")["$comment"]
    assert "compat tier" in comment
    assert "/$defs/ChatCompletionResponseMessage: 'refusal' not required" in comment
    assert "/properties/system_fingerprint: may be null" in comment


# --------------------------------------------------------------------------- tiers

MINIMAL_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hi"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
CHUNK: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1_700_000_000,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}


def test_compat_tolerates_absent_refusal_and_logprobs_strict_does_not() -> None:
    assert _errors("chat_completion_response", "compat", MINIMAL_RESPONSE) == set()
    assert _errors("chat_completion_response", "strict", MINIMAL_RESPONSE) == {
        ("$.choices[0]", "required"),
        ("$.choices[0].message", "required"),
    }
    complete = copy.deepcopy(MINIMAL_RESPONSE)
    complete["choices"][0].update(logprobs=None)
    complete["choices"][0]["message"].update(refusal=None)
    assert _errors("chat_completion_response", "strict", complete) == set()


def test_chunk_without_logprobs_validates_in_both_tiers() -> None:
    for tier in schemas.TIERS:
        assert _errors("chat_completion_chunk", tier, CHUNK) == set()
        usage_chunk = {**CHUNK, "choices": [], "usage": MINIMAL_RESPONSE["usage"]}
        assert _errors("chat_completion_chunk", tier, usage_chunk) == set()


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in document.items() if name != key}


def _with_choice(document: dict[str, Any], **fields: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["choices"][0].update(fields)
    return changed


NEGATIVES: list[tuple[str, Any, tuple[str, str]]] = [
    ("chat_completion_response", _without(MINIMAL_RESPONSE, "choices"), ("$", "required")),
    (
        "chat_completion_response",
        _with_choice(MINIMAL_RESPONSE, finish_reason="eos"),
        ("$.choices[0].finish_reason", "enum"),
    ),
    (
        "chat_completion_response",
        _with_choice(MINIMAL_RESPONSE, finish_reason=None),
        ("$.choices[0].finish_reason", "type"),
    ),
    (
        "chat_completion_response",
        {**MINIMAL_RESPONSE, "object": "chat.completion.chunk"},
        ("$.object", "const"),
    ),
    ("chat_completion_chunk", {**CHUNK, "object": "chat.completion"}, ("$.object", "const")),
    (
        "chat_completion_chunk",
        _with_choice(CHUNK, finish_reason="eos"),
        ("$.choices[0].finish_reason", "enum"),
    ),
    (
        "completion_usage",
        {"prompt_tokens": "3", "completion_tokens": 1, "total_tokens": 4},
        ("$.prompt_tokens", "type"),
    ),
    ("completion_usage", {"prompt_tokens": 3, "total_tokens": 4}, ("$", "required")),
    ("error_response", {"message": "x"}, ("$", "required")),
    (
        "error_response",
        {"error": {"message": "x", "type": "invalid_request_error", "code": 400}},
        ("$.error", "required"),  # no `param`
    ),
    (
        "error_response",
        {"error": {"message": "x", "type": "t", "param": None, "code": 400}},
        ("$.error.code", "anyOf"),  # an integer code
    ),
]


@pytest.mark.parametrize("tier", schemas.TIERS)
@pytest.mark.parametrize(("name", "instance", "expected"), NEGATIVES)
def test_invalid_payloads_fail_in_both_tiers(
    name: str, instance: Any, expected: tuple[str, str], tier: schemas.Tier
) -> None:
    assert expected in _errors(name, tier, instance)


def test_the_full_error_envelope_validates() -> None:
    envelope = {"error": {"message": "bad", "type": "invalid_request_error", "param": None}}
    envelope["error"]["code"] = "invalid_value"
    for tier in schemas.TIERS:
        assert _errors("error_response", tier, envelope) == set()


# --------------------------------------------------------------------------- requests

USER = {"role": "user", "content": "Say hi."}
VALID_REQUESTS: dict[str, dict[str, Any]] = {
    "minimal": {"model": "m", "messages": [USER]},
    "every_role": {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No markdown."}]},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "12 C"},
            {"role": "assistant", "content": "It is 12 C.", "name": "bot"},
        ],
    },
    "sampling_bounds_low": {
        "model": "m",
        "messages": [USER],
        "temperature": 0,
        "top_p": 0,
        "presence_penalty": -2,
        "frequency_penalty": -2,
        "n": 1,
        "seed": 7,
    },
    "sampling_bounds_high": {
        "model": "m",
        "messages": [USER],
        "temperature": 2,
        "top_p": 1,
        "presence_penalty": 2,
        "frequency_penalty": 2,
        "n": 3,
    },
    "stop_string_and_max_tokens": {
        "model": "m",
        "messages": [USER],
        "stop": "\n",
        "max_tokens": 16,
    },
    "stop_list": {"model": "m", "messages": [USER], "stop": ["a", "b", "c", "d"]},
    "explicit_nulls": {
        "model": "m",
        "messages": [USER],
        "stop": None,
        "temperature": None,
        "n": None,
        "max_completion_tokens": None,
        "logprobs": None,
        "stream": None,
        "stream_options": None,
    },
    "stream_with_usage": {
        "model": "m",
        "messages": [USER],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 16,
    },
    "logprobs": {"model": "m", "messages": [USER], "logprobs": True, "top_logprobs": 20},
    "json_object": {"model": "m", "messages": [USER], "response_format": {"type": "json_object"}},
    "json_schema": {
        "model": "m",
        "messages": [USER],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "greeting",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                    "additionalProperties": False,
                },
            },
        },
    },
    "tools": {
        "model": "m",
        "messages": [USER],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
    },
    "tool_choice_keyword_and_extras": {
        "model": "m",
        "messages": [USER],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "required",
        "logit_bias": {"50256": -100},
        "user": "u-1",
        "metadata": {"suite": "chatgauge"},
    },
}
INVALID_REQUESTS: dict[str, tuple[dict[str, Any], str]] = {
    "temperature_3": ({"model": "m", "messages": [USER], "temperature": 3}, "$.temperature"),
    "top_p_above_1": ({"model": "m", "messages": [USER], "top_p": 1.01}, "$.top_p"),
    "penalty_below_bound": (
        {"model": "m", "messages": [USER], "presence_penalty": -2.5},
        "$.presence_penalty",
    ),
    "unknown_role": (
        {"model": "m", "messages": [{"role": "wizard", "content": "x"}]},
        "$.messages[0]",
    ),
    "n_as_string": ({"model": "m", "messages": [USER], "n": "2"}, "$.n"),
    "n_zero": ({"model": "m", "messages": [USER], "n": 0}, "$.n"),
    "five_stops": ({"model": "m", "messages": [USER], "stop": list("abcde")}, "$.stop"),
    "empty_messages": ({"model": "m", "messages": []}, "$.messages"),
    "missing_model": ({"messages": [USER]}, "$"),
    "tool_message_without_id": (
        {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
        "$.messages[0]",
    ),
    "top_logprobs_21": (
        {"model": "m", "messages": [USER], "logprobs": True, "top_logprobs": 21},
        "$.top_logprobs",
    ),
}


@pytest.mark.parametrize("tier", schemas.TIERS)
@pytest.mark.parametrize("case", sorted(VALID_REQUESTS))
def test_realistic_requests_validate(case: str, tier: schemas.Tier) -> None:
    assert _errors("chat_completion_request", tier, VALID_REQUESTS[case]) == set()


@pytest.mark.parametrize("tier", schemas.TIERS)
@pytest.mark.parametrize("case", sorted(INVALID_REQUESTS))
def test_invalid_requests_fail(case: str, tier: schemas.Tier) -> None:
    request, path = INVALID_REQUESTS[case]
    assert path in {
        error_path for error_path, _ in _errors("chat_completion_request", tier, request)
    }


def test_null_top_logprobs_is_compat_only() -> None:
    """The spec's allOf contradicts its own `nullable`: strict keeps the contradiction."""
    request = {"model": "m", "messages": [USER], "top_logprobs": None}
    assert _errors("chat_completion_request", "compat", request) == set()
    assert ("$.top_logprobs", "type") in _errors("chat_completion_request", "strict", request)
