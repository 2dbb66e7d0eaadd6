"""The shipped JSON Schemas: well-formed, faithful to the spec, and usable as conformance rules.

Tests that need the OpenAI spec file itself look for it at `<repo>/../shared/reference/
openai-openapi.yaml` (or $CHATGAUGE_OPENAPI_SPEC) and skip when it is absent; the spec's
examples are also committed under tests/fixtures/spec_examples/ so the rest runs without it.
"""

from __future__ import annotations

import copy
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
    os.environ.get(
        "CHATGAUGE_OPENAPI_SPEC", REPO.parent / "shared" / "reference" / "openai-openapi.yaml"
    )
)
needs_spec = pytest.mark.skipif(
    not SPEC_FILE.is_file(),
    reason=f"OpenAI spec not found at {SPEC_FILE} (set CHATGAUGE_OPENAPI_SPEC)",
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
    if not SPEC_FILE.is_file():
        pytest.skip(f"OpenAI spec not found at {SPEC_FILE}")
    return _derive.read_spec(SPEC_FILE)


@pytest.fixture(scope="module")
def spec(spec_and_sha256: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return spec_and_sha256[0]


@pytest.fixture(scope="module")
def spec_info(spec_and_sha256: tuple[dict[str, Any], str]) -> _derive.SpecInfo:
    return _derive.spec_info(*spec_and_sha256)
