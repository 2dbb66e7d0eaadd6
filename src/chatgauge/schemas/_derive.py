"""Derive chatgauge's JSON Schema 2020-12 files from the OpenAI OpenAPI document.

A development tool, not a runtime dependency: it needs PyYAML, which it imports only when it
reads a spec file. Run it from the repository root::

    python -m chatgauge.schemas._derive --spec PATH            # rewrite the shipped files
    python -m chatgauge.schemas._derive --spec PATH --check    # exit 1 if they are stale

The derivation is a pure function of the spec text (plus the spec's commit, which the file
does not contain and which is looked up by the file's sha256, or given with --spec-commit):
the same spec always yields byte-identical files. PROVENANCE.md lists every transformation.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatgauge.schemas import TIERS

JsonObject = dict[str, Any]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SPEC_REPOSITORY = "openai/openai-openapi"
SPEC_PATH = "openapi.yaml"
#: Spec files whose upstream commit we know, by the sha256 of their bytes.
KNOWN_SPEC_COMMITS: Mapping[str, str] = {
    "db5d7478feae10b4d331834c60d9765a8aa042e38419f9b1694288c11aa8ebc8": (
        "f85dbe223d40e1a31cba812ab2d755c7e98a92a3"
    ),
}

#: Shipped schema name -> the `components/schemas` entry it is rooted at.
ROOTS: Mapping[str, str] = {
    "chat_completion_request": "CreateChatCompletionRequest",
    "chat_completion_response": "CreateChatCompletionResponse",
    "chat_completion_chunk": "CreateChatCompletionStreamResponse",
    "completion_usage": "CompletionUsage",
    "error_response": "ErrorResponse",
}
MANIFEST_NAME = "manifest.json"
SCHEMAS_DIR = Path(__file__).resolve().parent

_COMPONENT_PREFIX = "#/components/schemas/"
# Keywords whose value is one schema, a list of schemas, or a map of name -> schema. Only these
# are walked, so a property *named* like a keyword ("type", "example", "nullable") is never
# mistaken for one, and enum/default/const values are never rewritten.
_SCHEMA_VALUED = frozenset(
    {"items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames"}
    | {"unevaluatedItems", "unevaluatedProperties", "contentSchema"}
)
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
# OpenAPI-only keywords with no JSON Schema meaning (a 2020-12 validator would ignore them).
_OPENAPI_ONLY = frozenset({"discriminator", "example", "xml", "externalDocs"})
# Keywords that make "also allow null" impossible to express by widening `type`.
_COMPOSITE = frozenset({"$ref", "allOf", "anyOf", "oneOf", "not", "const"})
# Annotations kept on the outside when a nullable node is wrapped in anyOf.
_ANNOTATIONS = frozenset({"title", "description", "default", "deprecated", "readOnly"})


class DerivationError(Exception):
    """The spec contains something the derivation does not know how to translate."""


@dataclass(frozen=True)
class SpecInfo:
    """Where the spec came from; recorded in manifest.json and every schema's $comment."""

    commit: str
    version: str
    sha256: str


@dataclass(frozen=True)
class Relaxation:
    """One compat-tier change: `field` is no longer required by the object schema at `pointer`.

    `pointer` is a path of keys from the schema document's root. Each relaxation must find
    `field` in that `required` list, so a spec change that moves or drops it fails loudly
    instead of silently shipping a compat tier equal to the strict one.
    """

    schema: str
    pointer: tuple[str, ...]
    field: str
    reason: str


@dataclass(frozen=True)
class AllowNull:
    """One compat-tier change: the property schema at `pointer` also accepts null."""

    schema: str
    pointer: tuple[str, ...]
    reason: str


_RESPONSE_CHOICE = ("properties", "choices", "items")
_RESPONSE_LOGPROBS = (*_RESPONSE_CHOICE, "properties", "logprobs", "anyOf", "0")
_CHUNK_LOGPROBS = ("properties", "choices", "items", "properties", "logprobs")

COMPAT_CHANGES: tuple[Relaxation | AllowNull, ...] = (
    Relaxation(
        "chat_completion_response",
        _RESPONSE_CHOICE,
        "logprobs",
        "servers that were not asked for logprobs usually omit the key instead of sending null",
    ),
    Relaxation(
        "chat_completion_response",
        ("$defs", "ChatCompletionResponseMessage"),
        "refusal",
        "most servers never refuse and omit the key; the spec's own function-calling and "
        "logprobs examples omit it too",
    ),
    Relaxation(
        "chat_completion_response",
        _RESPONSE_LOGPROBS,
        "refusal",
        "the spec's own logprobs example sends logprobs.content without logprobs.refusal",
    ),
    Relaxation(
        "chat_completion_chunk",
        _CHUNK_LOGPROBS,
        "refusal",
        "streamed logprobs objects carry the same omission as non-streamed ones",
    ),
    AllowNull(
        "chat_completion_request",
        ("$defs", "CreateModelResponseProperties", "allOf", "1", "properties", "top_logprobs"),
        "the spec contradicts itself: the request and ModelResponseProperties declare "
        "top_logprobs nullable, this allOf branch does not, so the composition rejects null",
    ),
    AllowNull(
        "chat_completion_response",
        ("properties", "system_fingerprint"),
        "the spec's own logprobs example sends system_fingerprint: null (a deprecated field)",
    ),
    AllowNull(
        "chat_completion_chunk",
        ("properties", "system_fingerprint"),
        "same deprecated field as in the non-streamed response",
    ),
)


# --------------------------------------------------------------------------- spec reading


def read_spec(path: Path) -> tuple[JsonObject, str]:
    """Parse the OpenAPI YAML file; return it with the sha256 of its bytes."""
    import yaml  # type: ignore[import-untyped, unused-ignore]  # dev-time only, see module doc

    raw = path.read_bytes()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec = yaml.load(raw, Loader=loader)  # noqa: S506 - a SafeLoader, the C one when available
    if not isinstance(spec, dict) or "components" not in spec:
        raise DerivationError(f"{path} is not an OpenAPI document")
    return spec, hashlib.sha256(raw).hexdigest()


def spec_info(spec: Mapping[str, Any], sha256: str, commit: str | None = None) -> SpecInfo:
    """Identify the spec; the commit is looked up by sha256 unless given explicitly."""
    commit = commit or KNOWN_SPEC_COMMITS.get(sha256)
    if commit is None:
        raise DerivationError(
            f"unknown spec file (sha256 {sha256}); pass --spec-commit with its upstream commit"
        )
    return SpecInfo(commit=commit, version=str(spec["info"]["version"]), sha256=sha256)


# --------------------------------------------------------------------------- normalization


def _walk_schemas(node: JsonObject, visit: Callable[[Any], Any]) -> JsonObject:
    """Copy `node`, applying `visit` to every direct subschema (not to keyword values)."""
    out: JsonObject = {}
    for key, value in node.items():
        if key in _SCHEMA_VALUED:
            out[key] = visit(value)
        elif key in _SCHEMA_LISTS:
            out[key] = [visit(item) for item in value]
        elif key in _SCHEMA_MAPS:
            out[key] = {name: visit(item) for name, item in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _rewrite_ref(ref: str, root: str) -> str:
    if not ref.startswith(_COMPONENT_PREFIX):
        raise DerivationError(f"unsupported $ref {ref!r}")
    name = ref.removeprefix(_COMPONENT_PREFIX)
    return "#" if name == root else f"#/$defs/{name}"


def _relocate_refs(node: Any, root: str) -> Any:
    """Point every component $ref at the document's own $defs (the naive derivation)."""
    if not isinstance(node, dict):
        return node
    out = _walk_schemas(node, lambda sub: _relocate_refs(sub, root))
    if "$ref" in out:
        out["$ref"] = _rewrite_ref(out["$ref"], root)
    return out


def _check_enum_types(node: JsonObject) -> None:
    # YAML 1.1 reads unquoted on/off/yes/no as booleans and 2024-01-01 as a date: an enum of a
    # string-typed node holding anything but strings is a parsing accident, not the spec.
    if node.get("type") == "string" and any(
        not isinstance(value, str) for value in node.get("enum", ()) if value is not None
    ):
        raise DerivationError(f"non-string value in a string enum: {node['enum']!r}")


def _stainless_const(node: JsonObject) -> None:
    """`x-stainless-const: true` + a one-value enum is the SDK generator's spelling of const."""
    if node.get("x-stainless-const") is not True:
        return
    values = node.get("enum")
    if not isinstance(values, list) or len(values) != 1:
        raise DerivationError(f"x-stainless-const without a one-value enum: {node!r}")
    del node["enum"]
    node["const"] = values[0]


def _exclusive_bounds(node: JsonObject) -> None:
    """OpenAPI 3.0's boolean exclusiveMinimum/Maximum become 2020-12's numeric form."""
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = node.get(exclusive)
        if isinstance(flag, bool):
            del node[exclusive]
            if flag:
                node[exclusive] = node.pop(inclusive)


def _allow_null(node: JsonObject) -> JsonObject:
    """Return a schema accepting what `node` accepts, and null."""
    if _COMPOSITE & node.keys():
        outer = {key: value for key, value in node.items() if key in _ANNOTATIONS}
        inner = {key: value for key, value in node.items() if key not in _ANNOTATIONS}
        return {**outer, "anyOf": [inner, {"type": "null"}]}
    out = dict(node)
    declared = out.get("type")
    if declared is None:
        return out  # no type constraint, so null is already accepted
    types = [declared] if isinstance(declared, str) else list(declared)
    out["type"] = types if "null" in types else [*types, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]  # enum is checked on its own: it must list null too
    return out


def normalize(node: Any, root: str) -> Any:
    """Translate one OpenAPI schema node (and its subschemas) into JSON Schema 2020-12.

    `nullable: true` becomes "or null"; `x-stainless-const` + a one-value enum becomes
    `const`; boolean exclusive bounds become numeric; component $refs point into `$defs`
    (a $ref to `root` becomes "#"); OpenAPI-only keywords and `x-*` extensions are dropped.
    """
    if not isinstance(node, dict):
        return node
    out = _walk_schemas(node, lambda sub: normalize(sub, root))
    if "$ref" in out:
        out["$ref"] = _rewrite_ref(out["$ref"], root)
    _check_enum_types(out)
    _stainless_const(out)
    _exclusive_bounds(out)
    nullable = out.pop("nullable", False) is True
    for key in [key for key in out if key.startswith("x-") or key in _OPENAPI_ONLY]:
        del out[key]
    return _allow_null(out) if nullable else out


# --------------------------------------------------------------------------- documents


def _component_refs(node: Any) -> Iterator[str]:
    """Yield the component names a raw spec node refers to (anywhere below it)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield _rewrite_ref(ref, root="").removeprefix("#/$defs/")
        for value in node.values():
            yield from _component_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _component_refs(item)


def reachable_components(spec: Mapping[str, Any], root: str) -> list[str]:
    """Component names reachable from `root` through $refs, root excluded, sorted."""
    components = spec["components"]["schemas"]
    seen = {root}
    pending = [root]
    while pending:
        for name in _component_refs(components[pending.pop()]):
            if name not in components:
                raise DerivationError(f"$ref to a missing component {name!r}")
            if name not in seen:
                seen.add(name)
                pending.append(name)
    return sorted(seen - {root})


def derive_schema(
    spec: Mapping[str, Any], name: str, info: SpecInfo, *, normalized: bool = True
) -> JsonObject:
    """The strict-tier, self-contained 2020-12 document for the shipped schema `name`.

    With `normalized=False` only the $refs are relocated: the "naive" derivation that a
    2020-12 validator misreads (it ignores `nullable`), kept to demonstrate the trap in tests.
    """
    root = ROOTS[name]
    components = spec["components"]["schemas"]
    translate = normalize if normalized else _relocate_refs
    body = translate(components[root], root)
    document: JsonObject = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_id("strict", name),
        "$comment": _comment(info, root, "strict"),
        "title": root,
    }
    document.update({key: value for key, value in body.items() if key != "title"})
    defs = {dep: translate(components[dep], root) for dep in reachable_components(spec, root)}
    if defs:
        document["$defs"] = defs
    return document


def schema_id(tier: str, name: str) -> str:
    """The `$id` of a shipped schema (a URN: the files are not served anywhere)."""
    return f"urn:chatgauge:schema:{tier}:{name}"


def _comment(info: SpecInfo, root: str, tier: str) -> str:
    return (
        f"Derived from {SPEC_REPOSITORY}@{info.commit} {SPEC_PATH} (info.version {info.version}), "
        f"components/schemas/{root}; {tier} tier. Generated by chatgauge.schemas._derive; "
        "see PROVENANCE.md. Do not edit by hand."
    )


def _resolve(document: JsonObject, pointer: Sequence[str]) -> Any:
    node: Any = document
    for key in pointer:
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _describe(change: Relaxation | AllowNull) -> str:
    where = "/" + "/".join(change.pointer)
    what = f"{change.field!r} not required" if isinstance(change, Relaxation) else "may be null"
    return f"{where}: {what} ({change.reason})"


def _accepts_null(node: JsonObject) -> bool:
    declared = node.get("type", ())
    return "null" in ([declared] if isinstance(declared, str) else declared) or any(
        branch == {"type": "null"} for branch in node.get("anyOf", ())
    )


def compat_variant(name: str, strict: JsonObject) -> JsonObject:
    """Apply the COMPAT_CHANGES for schema `name` to a copy of its strict document.

    The document's `$comment` lists the changes with their reasons. A change whose target is
    missing, or already relaxed, raises DerivationError.
    """
    document = copy.deepcopy(strict)
    document["$id"] = schema_id("compat", name)
    notes = []
    for change in COMPAT_CHANGES:
        if change.schema != name:
            continue
        try:
            target = _resolve(document, change.pointer)
        except (KeyError, IndexError) as exc:
            raise DerivationError(f"compat change target missing: {change}") from exc
        if isinstance(change, Relaxation):
            if change.field not in target.get("required", ()):
                raise DerivationError(f"compat change finds nothing to relax: {change}")
            target["required"] = [field for field in target["required"] if field != change.field]
        else:
            if _accepts_null(target):
                raise DerivationError(f"compat change finds nothing to relax: {change}")
            parent = _resolve(document, change.pointer[:-1])
            parent[change.pointer[-1]] = _allow_null(target)
        notes.append(_describe(change))
    comment = strict["$comment"].replace("; strict tier.", "; compat tier.")
    if notes:
        comment += " Compat changes: " + "; ".join(notes) + "."
    document["$comment"] = comment
    return document


def derive_all(spec: Mapping[str, Any], info: SpecInfo) -> dict[Path, str]:
    """Every shipped file (relative path -> exact text) for this spec."""
    files: dict[Path, str] = {}
    for name in ROOTS:
        strict = derive_schema(spec, name, info)
        files[Path("strict", f"{name}.json")] = render(strict)
        files[Path("compat", f"{name}.json")] = render(compat_variant(name, strict))
    manifest = {
        "spec": {
            "repository": SPEC_REPOSITORY,
            "path": SPEC_PATH,
            "commit": info.commit,
            "version": info.version,
            "sha256": info.sha256,
        },
        "tiers": list(TIERS),
        "schemas": dict(ROOTS),
    }
    files[Path(MANIFEST_NAME)] = render(manifest)
    return files


def render(document: Mapping[str, Any]) -> str:
    """The exact text a document is shipped as (stable key order: the spec's own)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def stale_files(files: Mapping[Path, str], directory: Path) -> list[Path]:
    """The relative paths whose shipped text differs from `files` (or is missing)."""
    stale = []
    for relative, text in files.items():
        target = directory / relative
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            stale.append(relative)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m chatgauge.schemas._derive", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--spec", type=Path, required=True, help="the OpenAPI YAML file")
    parser.add_argument("--spec-commit", help="upstream commit of a spec file not yet known")
    parser.add_argument("--check", action="store_true", help="fail if shipped files are stale")
    parser.add_argument(
        "--out", type=Path, default=SCHEMAS_DIR, help="schema directory (default: the package)"
    )
    args = parser.parse_args(argv)
    try:
        spec, sha256 = read_spec(args.spec)
        files = derive_all(spec, spec_info(spec, sha256, args.spec_commit))
    except (OSError, DerivationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = stale_files(files, args.out)
        for relative in stale:
            print(f"stale: {relative.as_posix()}", file=sys.stderr)
        if stale:
            print(f"regenerate with: {parser.prog} --spec PATH", file=sys.stderr)
            return 1
        print(f"{len(files)} schema files are up to date")
        return 0
    for relative, text in files.items():
        target = args.out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
