"""The servers run as the matrix means them to: the right prompt format, metrics, slots,
and a gateway that authenticates with its master key alone.

These pin the setup, not chatgauge's verdicts: a verdict about a server that renders
prompts in the wrong format, or a gateway that lets anyone in, would judge the wrong
thing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import URL

pytestmark = pytest.mark.realserver

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello."},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Again."},
]


def _root(base_url: str) -> str:
    return base_url.removesuffix("/v1")


@pytest.mark.only("llama-server")
def test_llama_server_renders_gemma_turns(http: httpx.Client) -> None:
    """Without ``--chat-template-file`` llama-server would render ChatML
    (``<|im_start|>``), a format Gemma was never trained on; with it, Gemma 3 turns,
    the system text folded into the first user turn."""
    answer = http.post(f"{_root(URL)}/apply-template", json={"messages": MESSAGES})
    assert answer.status_code == 200
    assert answer.json()["prompt"] == (
        "<start_of_turn>user\nBe brief.\n\nSay hello.<end_of_turn>\n"
        "<start_of_turn>model\nHello.<end_of_turn>\n"
        "<start_of_turn>user\nAgain.<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


@pytest.mark.only("llama-server")
def test_llama_server_exports_prometheus_metrics_and_slots(
    http: httpx.Client, server_record: dict[str, Any]
) -> None:
    """``--metrics`` serves Prometheus text (what the capacity work will scrape), and the
    server has the slots the session asked for."""
    metrics = http.get(f"{_root(URL)}/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "llamacpp:prompt_tokens_total" in metrics.text
    slots = http.get(f"{_root(URL)}/slots")
    flags = server_record["flags"]
    assert len(slots.json()) == int(flags[flags.index("--parallel") + 1])


@pytest.mark.only("litellm")
def test_litellm_serves_the_upstream_model_with_its_master_key(http: httpx.Client) -> None:
    """The proxy lists the one model of its config, and only for its master key."""
    listed = http.get("/models")
    assert listed.status_code == 200
    assert [m["id"] for m in listed.json()["data"]] == ["gemma-3-270m-q4_k_m"]
    stranger = httpx.get(f"{URL}/models", headers={"Authorization": "Bearer sk-not-the-key"})
    assert stranger.status_code != 200


@pytest.mark.only("litellm")
def test_litellm_runs_without_a_database(http: httpx.Client) -> None:
    """No DATABASE_URL: virtual keys cannot be made, so the master key is the only key.
    Even the master key's ``/key/generate`` fails, and without the database client
    (prisma) the failure is a bare text/plain 500 rather than a JSON error."""
    answer = http.post(f"{_root(URL)}/key/generate", json={})
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/plain")
