"""The spec transformation of the schemathesis oracle (pure logic, on the vendored spec)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from chatgauge.server import FAULTS
from chatgauge.server._generation import generate
from chatgauge.server._request_fields import DOCUMENTED_FIELDS
from chatgauge.server._responses import ResponseMeta
from chatgauge.server._streaming import DONE, plan_stream
from chatgauge.server._validation import validate_request
from scripts.schemathesis_oracle.run import SPEC_PATH, OracleError, load_spec
from scripts.schemathesis_oracle.spec import (
    INT64_MAX,
    INT64_MIN,
    NAME_PATTERN,
    PATCHES,
    SSE_EVENT_SCHEMA,
    SpecShapeError,
    patch_spec,
)

MODELS = ("pro", "fast")
JsonObject = dict[str, Any]


@pytest.fixture(scope="module")
def spec() -> JsonObject:
    return load_spec()


@pytest.fixture(scope="module")
def streamed(spec: JsonObject) -> JsonObject:
    return patch_spec(spec, models=MODELS, variant="streamed")


@pytest.fixture(scope="module")
def plain(spec: JsonObject) -> JsonObject:
    return patch_spec(spec, models=MODELS, variant="non-streamed")


def _request(patched: JsonObject) -> JsonObject:
    schema: JsonObject = patched["components"]["schemas"]["CreateChatCompletionRequest"]
    return schema


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _validator(patched: JsonObject, name: str) -> jsonschema.Draft202012Validator:
    document = {"$ref": f"#/components/schemas/{name}", "components": patched["components"]}
    return jsonschema.Draft202012Validator(document)


def test_the_input_document_is_left_unchanged(spec: JsonObject) -> None:
    before = copy.deepcopy(spec)
    patch_spec(spec, models=MODELS, variant="streamed")
    assert spec == before


def test_the_vendored_file_is_refused_once_edited(tmp_path: Path) -> None:
    edited = tmp_path / "openai-openapi.yaml"
    edited.write_bytes(SPEC_PATH.read_bytes() + b"\n# edited\n")
    with pytest.raises(OracleError, match="is not the vendored spec"):
        load_spec(edited)


def test_only_the_served_operation_remains(streamed: JsonObject) -> None:
    assert list(streamed["paths"]) == ["/chat/completions"]
    assert list(streamed["paths"]["/chat/completions"]) == ["post"]


def test_every_reference_resolves_in_the_pruned_document(streamed: JsonObject) -> None:
    refs = {n["$ref"] for n in _walk(streamed) if isinstance(n, dict) and "$ref" in n}
    assert refs
    for ref in refs:
        _, _, kind, name = ref.split("/")
        assert name in streamed["components"][kind], ref
    assert len(streamed["components"]["schemas"]) < 100  # the other 1,300 are gone


def test_the_document_is_plain_json(streamed: JsonObject) -> None:
    assert json.loads(json.dumps(streamed, default=str)) == json.loads(json.dumps(streamed))


def test_model_names_are_the_served_ones(streamed: JsonObject) -> None:
    assert _request(streamed)["properties"]["model"] == {"type": "string", "enum": list(MODELS)}


def test_streamed_variant_requires_stream_true(streamed: JsonObject) -> None:
    request = _request(streamed)
    assert request["properties"]["stream"] == {"type": "boolean", "enum": [True]}
    assert "stream" in request["required"]
    assert "stream_options" in request["properties"]


def test_non_streamed_variant_has_no_stream_fields(plain: JsonObject) -> None:
    request = _request(plain)
    assert "stream" not in request["properties"]
    assert "stream_options" not in request["properties"]
    assert "stream" not in request["required"]


def test_request_is_closed_over_exactly_the_documented_fields(streamed: JsonObject) -> None:
    """The patched request lists the same fields the endpoint knows, top_logprobs aside."""
    request = _request(streamed)
    assert request["additionalProperties"] is False
    assert set(request["properties"]) == DOCUMENTED_FIELDS - {"top_logprobs"}
    assert {"model", "messages"} <= set(request["required"])


def test_top_logprobs_is_nowhere_in_the_request(streamed: JsonObject) -> None:
    schemas = streamed["components"]["schemas"]
    assert "top_logprobs" not in _request(streamed)["properties"]
    assert "top_logprobs" not in schemas["ModelResponseProperties"]["properties"]


def test_openai_bounds(streamed: JsonObject) -> None:
    schemas = streamed["components"]["schemas"]
    request = _request(streamed)["properties"]
    assert (request["tools"]["minItems"], request["tools"]["maxItems"]) == (1, 128)
    for name in (
        schemas["FunctionObject"]["properties"]["name"],
        schemas["ChatCompletionFunctions"]["properties"]["name"],
        schemas["ResponseFormatJsonSchema"]["properties"]["json_schema"]["properties"]["name"],
    ):
        assert name["pattern"] == NAME_PATTERN
    assert request["max_tokens"]["minimum"] == request["max_completion_tokens"]["minimum"] == 1
    assert (request["seed"]["minimum"], request["seed"]["maximum"]) == (INT64_MIN, INT64_MAX)
    bias = request["logit_bias"]
    assert (bias["additionalProperties"]["minimum"], bias["additionalProperties"]["maximum"]) == (
        -100,
        100,
    )


def test_no_nullable_keyword_is_left(streamed: JsonObject) -> None:
    assert not [
        n for n in _walk(streamed["components"]) if isinstance(n, dict) and n.get("nullable")
    ]


def test_discriminators_map_type_values_to_schemas(streamed: JsonObject) -> None:
    schemas = streamed["components"]["schemas"]
    calls = schemas["ChatCompletionMessageToolCalls"]["items"]["discriminator"]
    assert calls["mapping"] == {
        "function": "#/components/schemas/ChatCompletionMessageToolCall",
        "custom": "#/components/schemas/ChatCompletionMessageCustomToolCall",
    }
    discriminators = [
        n["discriminator"] for n in _walk(schemas) if isinstance(n, dict) and "discriminator" in n
    ]
    assert discriminators
    assert all("mapping" in d for d in discriminators)


def test_sse_item_schema_replaces_the_chunk_schema(streamed: JsonObject) -> None:
    content = streamed["paths"]["/chat/completions"]["post"]["responses"]["200"]["content"]
    assert content["text/event-stream"] == {"schema": SSE_EVENT_SCHEMA}
    event = jsonschema.Draft202012Validator(SSE_EVENT_SCHEMA)
    assert event.is_valid({"data": "[DONE]", "event": "message"})
    assert not event.is_valid({"event": "message"})
    else_branch = SSE_EVENT_SCHEMA["else"]["properties"]["data"]
    assert else_branch["contentMediaType"] == "application/json"
    assert else_branch["contentSchema"] == {
        "$ref": "#/components/schemas/CreateChatCompletionStreamResponse"
    }


def _chunks(faults: frozenset[str]) -> list[Any]:
    """The JSON chunks of one streamed answer of the reference endpoint."""
    body = {
        "model": "pro",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "seed": 4,
    }
    request = validate_request(body, faults)
    meta = ResponseMeta(id="chatcmpl-test", created=1_800_000_000, model="pro")
    events = plan_stream(generate(request, faults), meta, request, faults, frozenset())
    return [json.loads(event.payload) for event in events if event.payload != DONE]


def test_patched_chunk_schema_takes_faithful_chunks_and_refuses_a_wrong_object(
    spec: JsonObject, streamed: JsonObject
) -> None:
    """The contentSchema a faithful stream is checked against accepts every faithful chunk
    (the unpatched document refuses them: ``nullable``), and refuses a chunk fault."""
    patched = _validator(streamed, "CreateChatCompletionStreamResponse")
    chunks = _chunks(frozenset())
    assert all(patched.is_valid(chunk) for chunk in chunks)
    document = {"components": spec["components"]}
    document["$ref"] = "#/components/schemas/CreateChatCompletionStreamResponse"
    unpatched = jsonschema.Draft202012Validator(document)
    assert not all(unpatched.is_valid(chunk) for chunk in chunks)
    assert "chunk-wrong-object" in FAULTS
    assert not all(patched.is_valid(c) for c in _chunks(frozenset({"chunk-wrong-object"})))


def test_every_patch_is_named_and_reasoned() -> None:
    names = [patch.name for patch in PATCHES]
    assert len(names) == len(set(names))
    assert all(patch.reason for patch in PATCHES)


def test_unknown_variant_is_refused(spec: JsonObject) -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        patch_spec(spec, models=MODELS, variant="sideways")


def test_a_spec_without_the_operation_is_refused(spec: JsonObject) -> None:
    broken = {key: value for key, value in spec.items() if key != "paths"}
    broken["paths"] = {}
    with pytest.raises(SpecShapeError, match="/chat/completions"):
        patch_spec(broken, models=MODELS, variant="streamed")


def test_no_models_is_refused(spec: JsonObject) -> None:
    with pytest.raises(ValueError, match="model"):
        patch_spec(spec, models=(), variant="streamed")
