"""The LiteLLM proxy's configuration and environment for the real-server matrix.

The proxy runs in front of a llama-server on loopback with a master key and no database.
Everything here serves one rule: the proxy reaches nothing but that upstream.

- LiteLLM fetches its model cost map, Anthropic beta-header table, autorouter presets,
  policy templates and blog feed from the internet unless told to use the copies it
  ships: every ``LITELLM_LOCAL_*`` switch is set, and the matching URLs point at a closed
  loopback port, so a path that ignores a switch fails instead of leaving the machine.
- ``LITELLM_MODE=PRODUCTION``: in its default DEV mode the proxy loads a ``.env`` file
  from its working directory, which could bring in callbacks or keys from elsewhere.
- No callbacks of any kind (success, failure, async); LiteLLM 1.106.12 has no usage
  telemetry of its own (``--telemetry`` is a no-op there).
- OpenTelemetry off (``OTEL_SDK_DISABLED``, FastAPI's auto-configuration off), so the
  tracing hooks in FastAPI and LiteLLM export nothing.
- ``HTTP_PROXY``/``HTTPS_PROXY`` name the same closed loopback port and ``NO_PROXY`` lets
  only loopback through: any HTTP client that honours them cannot leave the machine.
- No ``DATABASE_URL``: without it the proxy never imports its database client (prisma,
  not installed by ``litellm[proxy]`` 1.106.12), and only the master key authenticates.

The config is written as JSON, which is valid YAML, so nothing here needs a YAML library.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Pinned. 1.107.0 was a compromised release, and 1.110.x's [proxy] extra needs a
# litellm-proxy distribution the registry does not serve.
LITELLM_REQUIREMENT = "litellm[proxy]==1.106.12"
# A port nothing listens on (discard): a request sent there fails at once on loopback.
CLOSED = "http://127.0.0.1:9"

LOCAL_SWITCHES = (
    "LITELLM_LOCAL_MODEL_COST_MAP",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS",
    "LITELLM_LOCAL_POLICY_TEMPLATES",
    "LITELLM_LOCAL_BLOG_POSTS",
)
REMOTE_URLS = (
    "LITELLM_MODEL_COST_MAP_URL",
    "LITELLM_ANTHROPIC_BETA_HEADERS_URL",
    "LITELLM_AUTOROUTER_PRESETS_URL",
    "LITELLM_BLOG_POSTS_URL",
)
# Variables of the caller that must not reach the proxy (they would add a database,
# callbacks or cloud credentials).
DROPPED_PREFIXES = (
    "DATABASE_URL",
    "LITELLM_",
    "OPENAI_",
    "OTEL_",
    "FASTAPI_OTEL_",
    "REDIS_",
    "AWS_",
    "AZURE_",
)


def proxy_config(alias: str, upstream_base_url: str) -> dict[str, object]:
    """One model, ``alias``, served by the OpenAI-compatible upstream; no callbacks."""
    return {
        "model_list": [
            {
                "model_name": alias,
                "litellm_params": {
                    "model": f"openai/{alias}",
                    "api_base": upstream_base_url,
                    # llama-server runs without a key; the OpenAI provider needs one to send.
                    "api_key": "sk-upstream-unused",
                },
            }
        ],
        "litellm_settings": {
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
            "drop_params": False,  # pass parameters through: the upstream judges them
        },
        "general_settings": {},
    }


def write_config(path: Path, alias: str, upstream_base_url: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(proxy_config(alias, upstream_base_url), indent=2) + "\n")
    return path


def proxy_environment(master_key: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The proxy's environment: ``base`` (default: ours) without variables that would add a
    database, callbacks or credentials, plus the switches of the module docstring."""
    source = dict(os.environ if base is None else base)
    env = {k: v for k, v in source.items() if not k.upper().startswith(DROPPED_PREFIXES)}
    for proxy_var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        env.pop(proxy_var, None)
        env.pop(proxy_var.lower(), None)
    env.update(dict.fromkeys(LOCAL_SWITCHES, "True"))
    env.update(dict.fromkeys(REMOTE_URLS, f"{CLOSED}/blocked"))
    env.update(
        {
            "LITELLM_MODE": "PRODUCTION",
            "LITELLM_MASTER_KEY": master_key,
            "HTTP_PROXY": CLOSED,
            "HTTPS_PROXY": CLOSED,
            "ALL_PROXY": CLOSED,
            "NO_PROXY": "127.0.0.1,localhost,::1",
            "no_proxy": "127.0.0.1,localhost,::1",
            # FastAPI and LiteLLM carry OpenTelemetry hooks: no SDK, so no exporter.
            "OTEL_SDK_DISABLED": "true",
            "FASTAPI_OTEL_AUTO_CONFIGURE": "false",
            "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
            # Tokenizers ship with LiteLLM; never ask a model hub for one.
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    return env


def proxy_command(litellm: Path, config: Path, host: str, port: int) -> list[str]:
    """The proxy on ``host:port``, one worker."""
    return [str(litellm), "--config", str(config), "--host", host, "--port", str(port)]
