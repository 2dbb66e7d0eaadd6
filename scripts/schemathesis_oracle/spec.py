"""The vendored OpenAI spec, patched so that schemathesis can test ``chatgauge serve`` with it.

The vendored file (``reference/openai-openapi.yaml``) is never edited: :func:`patch_spec`
takes the parsed document and returns a patched copy, which the runner writes to a
temporary file for each run. Each patch is listed in :data:`PATCHES` with its reason, and
none of them hides a response rule: they only steer what requests schemathesis sends, and
teach it how an SSE stream is framed.

1. ``one-operation``: only ``POST /chat/completions`` is kept (the reference endpoint serves
   no other operation of the document), with just the components it reaches.
2. ``served-models``: ``model`` is an enumeration of the served model names; any other name
   gets 404 ``model_not_found``, so no generated request would ever reach a 200.
3. ``streaming`` (two variants): the *streamed* variant makes ``stream: true`` required, so
   that ``stream_options`` (which OpenAI allows only with ``stream: true``, a rule of the
   spec's prose) is valid in every generated request; the *non-streamed* variant drops
   ``stream`` and ``stream_options``.
4. ``sse-item-schema``: the ``text/event-stream`` response schema describes one SSE event
   (schemathesis validates each event against it): ``data: [DONE]``, or a ``data`` string
   holding JSON that is a ``CreateChatCompletionStreamResponse``. The document gives the
   chunk schema itself there, which schemathesis would apply to the ``{data, event}`` event
   wrapper.
5. ``no-top-logprobs``: ``top_logprobs`` is removed from the request. It is valid only with
   ``logprobs: true`` (prose), and schemathesis's coverage phase builds one request that
   fills every optional field and mutates it one field at a time: a base request that breaks
   that rule is refused, which would make every mutation's refusal meaningless.
6. ``openai-bounds``: bounds OpenAI enforces and the document omits or misstates: ``tools``
   holds 1 to 128 tools; function, legacy function and response-format names match
   ``^[a-zA-Z0-9_-]{1,64}$`` (the prose of their descriptions); ``max_tokens`` and
   ``max_completion_tokens`` are at least 1; ``logit_bias`` values lie in [-100, 100] (the
   prose); ``seed`` is a 64-bit integer (the document's bounds, +-9223372036854776000, lie
   outside that range).
7. ``closed-request``: the request's ``allOf`` is merged into one object that allows no other
   top-level property. OpenAI refuses unknown top-level arguments with 400 "Unrecognized
   request argument supplied" (so does the reference endpoint); left open, the document
   lets schemathesis add random properties to a third of its valid requests, which are
   then refused for that alone.
8. ``nullable``: OpenAPI 3.0's ``nullable: true`` (which this 3.1 document still uses) is
   rewritten as "or null". schemathesis's main validators read the keyword, but the one it
   builds for ``contentSchema`` does not, and would refuse every chunk's
   ``finish_reason: null``.
9. ``discriminator-mappings``: a discriminator without a ``mapping`` names schemas in
   OpenAPI (``type: ChatCompletionMessageToolCall``); the document means the ``type`` values
   its branches declare (``function``, ``custom``), so each gets that mapping written out.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

JsonObject = dict[str, Any]

PATH: Final = "/chat/completions"
METHOD: Final = "post"
CHUNK_REF: Final = "#/components/schemas/CreateChatCompletionStreamResponse"
DONE: Final = "[DONE]"
NAME_PATTERN: Final = "^[a-zA-Z0-9_-]{1,64}$"
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MAX_TOOLS: Final = 128
VARIANTS: Final = ("streamed", "non-streamed")

#: The JSON Schema of one parsed SSE event (schemathesis parses ``data``, ``event``, ``id``
#: and ``retry``; ``contentSchema`` is applied to the JSON inside ``data``).
SSE_EVENT_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "required": ["data"],
    "if": {"properties": {"data": {"const": DONE}}},
    "else": {
        "properties": {
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": CHUNK_REF},
            }
        }
    },
}


class SpecShapeError(Exception):
    """The document does not have the shape a patch expects (a newer spec moved something)."""


@dataclass(frozen=True)
class Patch:
    """One named change of the document, with the reason it is needed."""

    name: str
    reason: str
    apply: Callable[[JsonObject, Sequence[str], str], None]


def _at(node: Any, *keys: str | int) -> Any:
    for key in keys:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            where = "/".join(str(k) for k in keys)
            raise SpecShapeError(f"the spec has no {where!r}") from None
    return node


def _schemas(spec: JsonObject) -> JsonObject:
    schemas: JsonObject = _at(spec, "components", "schemas")
    return schemas


def _request_branch(spec: JsonObject) -> JsonObject:
    """The request's own allOf branch (the one that lists ``messages``)."""
    for branch in _at(_schemas(spec), "CreateChatCompletionRequest", "allOf"):
        if isinstance(branch, dict) and "messages" in branch.get("properties", {}):
            found: JsonObject = branch
            return found
    raise SpecShapeError("CreateChatCompletionRequest has no branch listing 'messages'")


def _request_properties(spec: JsonObject) -> JsonObject:
    properties: JsonObject = _request_branch(spec)["properties"]
    return properties


def _one_operation(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    operation = copy.deepcopy(_at(spec, "paths", PATH, METHOD))
    operation.pop("x-oaiMeta", None)
    spec["paths"] = {PATH: {METHOD: operation}}
    for key in ("x-oaiMeta", "tags", "webhooks"):
        spec.pop(key, None)
    reached = set(_reachable_refs(spec))
    components = _at(spec, "components")
    kept: JsonObject = {}
    for kind, entries in components.items():
        if kind == "securitySchemes":
            kept[kind] = entries
            continue
        names = {ref.split("/")[3] for ref in reached if ref.split("/")[2] == kind}
        if names:
            kept[kind] = {name: entries[name] for name in sorted(names)}
    spec["components"] = kept


def _reachable_refs(spec: JsonObject) -> Iterator[str]:
    """Every ``#/components/...`` reference reachable from the paths, transitively."""
    seen: set[str] = set()
    pending = list(_refs_in(spec["paths"]))
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"]:
            raise SpecShapeError(f"unsupported $ref {ref!r}")
        pending.extend(_refs_in(_at(spec, "components", parts[2], parts[3])))
    yield from sorted(seen)


def _refs_in(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs_in(item)


def _served_models(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    if not models:
        raise ValueError("at least one served model name is needed")
    properties = _request_properties(spec)
    _at(properties, "model")
    properties["model"] = {"type": "string", "enum": list(models)}


def _streaming(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    properties = _request_properties(spec)
    _at(properties, "stream")
    _at(properties, "stream_options")
    if variant == "streamed":
        properties["stream"] = {"type": "boolean", "enum": [True]}
        branch = _request_branch(spec)
        branch["required"] = [*branch.get("required", []), "stream"]
    elif variant == "non-streamed":
        del properties["stream"]
        del properties["stream_options"]
    else:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")


def _sse_item_schema(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    content = _at(spec, "paths", PATH, METHOD, "responses", "200", "content")
    _at(content, "text/event-stream")
    content["text/event-stream"] = {"schema": copy.deepcopy(dict(SSE_EVENT_SCHEMA))}


def _no_top_logprobs(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    removed = 0
    for name in ("CreateChatCompletionRequest", "CreateModelResponseProperties"):
        for branch in _at(_schemas(spec), name, "allOf"):
            if isinstance(branch, dict) and "top_logprobs" in branch.get("properties", {}):
                del branch["properties"]["top_logprobs"]
                removed += 1
    inherited = _at(_schemas(spec), "ModelResponseProperties", "properties")
    if "top_logprobs" in inherited:
        del inherited["top_logprobs"]
        removed += 1
    if not removed:
        raise SpecShapeError("the request has no top_logprobs to remove")


def _openai_bounds(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    schemas = _schemas(spec)
    properties = _request_properties(spec)
    tools = _at(properties, "tools")
    tools.update(minItems=1, maxItems=MAX_TOOLS)
    name = {"type": "string", "pattern": NAME_PATTERN}
    _at(schemas, "FunctionObject", "properties", "name").update(name)
    _at(schemas, "ChatCompletionFunctions", "properties", "name").update(name)
    json_schema = _at(schemas, "ResponseFormatJsonSchema", "properties", "json_schema")
    _at(json_schema, "properties", "name").update(name)
    for limit in ("max_tokens", "max_completion_tokens"):
        _at(properties, limit)["minimum"] = 1
    _at(properties, "seed").update(minimum=INT64_MIN, maximum=INT64_MAX)
    _at(properties, "logit_bias", "additionalProperties").update(minimum=-100, maximum=100)


# Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
_ONE_SCHEMA: Final = frozenset(
    {"items", "additionalProperties", "not", "contains", "if", "then", "else"}
    | {"propertyNames", "contentSchema", "unevaluatedItems", "unevaluatedProperties"}
)
_SCHEMA_LIST: Final = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP: Final = frozenset({"properties", "patternProperties", "$defs"})
_COMPOSITE: Final = frozenset({"$ref", "allOf", "anyOf", "oneOf", "not", "const"})


def _subschemas(node: JsonObject) -> Iterator[tuple[JsonObject | list[Any], str | int]]:
    """(container, key) of every direct subschema of ``node``."""
    for key, value in node.items():
        if key in _ONE_SCHEMA and isinstance(value, dict):
            yield node, key
        elif key in _SCHEMA_LIST and isinstance(value, list):
            yield from ((value, index) for index in range(len(value)))
        elif key in _SCHEMA_MAP and isinstance(value, dict):
            yield from ((value, name) for name in value)


def _or_null(node: JsonObject) -> JsonObject:
    """``node`` (without ``nullable``) widened to accept null."""
    declared = node.get("type")
    if isinstance(declared, str) and not _COMPOSITE & node.keys():
        widened = {**node, "type": [declared, "null"]}
        if "enum" in widened and None not in widened["enum"]:
            widened["enum"] = [*widened["enum"], None]
        return widened
    return {"anyOf": [node, {"type": "null"}]}


def _rewrite_nullable(node: JsonObject) -> JsonObject:
    for container, key in list(_subschemas(node)):
        child = container[key]  # type: ignore[index]
        if isinstance(child, dict):
            container[key] = _rewrite_nullable(child)  # type: ignore[index]
    if node.pop("nullable", False) is True:
        return _or_null(node)
    return node


def _closed_request(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    schemas = _schemas(spec)
    properties: JsonObject = {}
    required: list[str] = []

    def merge(node: JsonObject) -> None:
        ref = node.get("$ref")
        if isinstance(ref, str):
            merge(_at(schemas, ref.split("/")[-1]))
            return
        for branch in node.get("allOf", ()):
            merge(branch)
        properties.update(node.get("properties", {}))
        required.extend(name for name in node.get("required", ()) if name not in required)

    merge(_at(schemas, "CreateChatCompletionRequest"))
    schemas["CreateChatCompletionRequest"] = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _nullable(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    schemas = _schemas(spec)
    for name in list(schemas):
        schemas[name] = _rewrite_nullable(schemas[name])


def _discriminator_mappings(spec: JsonObject, models: Sequence[str], variant: str) -> None:
    schemas = _schemas(spec)
    for schema in schemas.values():
        _map_discriminators(schema, schemas)


def _map_discriminators(node: JsonObject, schemas: JsonObject) -> None:
    for container, key in _subschemas(node):
        child = container[key]  # type: ignore[index]
        if isinstance(child, dict):
            _map_discriminators(child, schemas)
    discriminator = node.get("discriminator")
    if not isinstance(discriminator, dict) or "mapping" in discriminator:
        return
    branches = node.get("oneOf") or node.get("anyOf") or []
    mapping: dict[str, str] = {}
    for branch in branches:
        ref = branch.get("$ref") if isinstance(branch, dict) else None
        if not isinstance(ref, str):
            raise SpecShapeError(f"a discriminator branch without $ref: {branch!r}")
        value = _tag_value(_at(schemas, ref.split("/")[-1]), discriminator["propertyName"])
        mapping[value] = ref
    discriminator["mapping"] = mapping


def _tag_value(schema: JsonObject, name: str) -> str:
    tag = _at(schema, "properties", name)
    values = [tag["const"]] if "const" in tag else tag.get("enum", [])
    values = [value for value in values if value is not None]
    if len(values) != 1 or not isinstance(values[0], str):
        raise SpecShapeError(f"the discriminator {name!r} has no single value in {schema!r}")
    value: str = values[0]
    return value


PATCHES: Final[tuple[Patch, ...]] = (
    Patch("one-operation", "the reference endpoint serves only this operation", _one_operation),
    Patch("served-models", "other model names get 404 model_not_found", _served_models),
    Patch("streaming", "stream_options is valid only with stream: true", _streaming),
    Patch("sse-item-schema", "validate the JSON inside each SSE data field", _sse_item_schema),
    Patch("no-top-logprobs", "top_logprobs is valid only with logprobs: true", _no_top_logprobs),
    Patch("openai-bounds", "bounds OpenAI enforces that the spec omits", _openai_bounds),
    Patch("closed-request", "OpenAI refuses unknown top-level arguments", _closed_request),
    Patch("nullable", "contentSchema validation does not read nullable", _nullable),
    Patch(
        "discriminator-mappings",
        "the spec means type values, not schema names",
        _discriminator_mappings,
    ),
)


def patch_spec(spec: Mapping[str, Any], *, models: Sequence[str], variant: str) -> JsonObject:
    """A patched deep copy of ``spec`` for one ``variant`` (``streamed`` or ``non-streamed``);
    ``spec`` itself is left unchanged. Raises :class:`SpecShapeError` when a patch does not
    find what it changes."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    patched = copy.deepcopy(dict(spec))
    for patch in PATCHES:
        patch.apply(patched, models, variant)
    return patched
