"""The ASGI application: Starlette routing around two lean ASGI endpoints.

Routes: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /v1/models/{id}`` and
``GET /metrics`` (Prometheus text, no key needed: :mod:`chatgauge.server._metrics_endpoint`).
Anything else gets a 404 (405 for a wrong method) in the error envelope. Every request is
checked for the API key when one is configured (401, code ``invalid_api_key``); chat
completions also pass the rate limiter when one is configured (429, code
``rate_limit_exceeded``, with ``Retry-After`` in whole seconds), then validation (400) and
the model lookup (404, code ``model_not_found``).

A non-streamed request whose prompt holds the mid-stream failure marker gets a 500
``server_error`` envelope: the failure happens before any byte was sent, so the status can
still say so. The chat endpoint writes straight to the ASGI ``send`` (no Response objects)
because streaming is the hot path of a load test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from random import Random
from typing import Any, Final

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatgauge.server._concurrency import ConcurrencyGate
from chatgauge.server._config import ServerConfig
from chatgauge.server._errors import SERVER_ERROR, ApiError, render_error
from chatgauge.server._faults import Fault, Framing
from chatgauge.server._features import BROKEN, UNSUPPORTED, apply_features, feature_faults
from chatgauge.server._framing import EventEncoder
from chatgauge.server._generation import RUNAWAY_DELAY_S, Completion, generate, runs_away
from chatgauge.server._metrics_endpoint import CONTENT_TYPE, render_metrics
from chatgauge.server._ratelimit import TokenBucket
from chatgauge.server._responses import ResponseMeta, completion_body, encode_json
from chatgauge.server._streaming import PRESTREAM_STEP, plan_stream
from chatgauge.server._timing import LatencyModel, TimingLog
from chatgauge.server._validation import ChatRequest, validate_request

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODEL_OWNER: Final = "chatgauge"
_JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_BODY_END: Final = {"type": "http.response.body", "body": b"", "more_body": False}


class _Server:
    """What the endpoints share: the configuration and the per-server mutable parts."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.features = config.feature_states
        self.faults = config.faults | feature_faults(self.features)
        self.framings = config.framings
        self.models = frozenset(config.models)
        self.created = int(time.time())
        self.api_key = config.api_key.reveal().encode() if config.api_key else None
        self.bucket = TokenBucket(config.rate_limit_rps) if config.rate_limit_rps else None
        self.latency = LatencyModel(
            config.ttft_ms, config.itl_ms, config.jitter_ms, config.jitter_seed
        )
        self.timing_log = TimingLog(config.timing_log) if config.timing_log else None
        self.gate = ConcurrencyGate(config.max_concurrency, config.itl_growth_ms)

    def check_key(self, scope: Scope) -> None:
        if self.api_key is None or Fault.NO_AUTH_CHECK in self.faults:
            return
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if not authorization:
            raise ApiError(
                401,
                "You didn't provide an API key. Send it in the Authorization header as "
                "'Bearer YOUR_KEY'.",
                code="invalid_api_key",
            )
        scheme, _, key = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not secrets.compare_digest(key.strip(), self.api_key):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")

    def check_rate(self) -> None:
        if self.bucket is None:
            return
        wait = self.bucket.acquire()
        if wait > 0:
            raise ApiError(
                429,
                "Rate limit reached for requests. Please try again later.",
                error_type="requests",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    async def send_error(self, send: Send, error: ApiError) -> None:
        status, headers, body = render_error(error, self.faults)
        await _send_whole(
            send, status, [(k.encode(), v.encode()) for k, v in headers.items()], body
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        log = self.timing_log
        if log is None:
            yield
            return
        log.open()
        flusher = asyncio.create_task(log.flush_periodically())
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            log.close()


async def _send_whole(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _sleep_until(deadline_ns: int) -> None:
    delay_ns = deadline_ns - time.monotonic_ns()
    if delay_ns > 0:
        await asyncio.sleep(delay_ns / 1e9)


def _last_step(completion: Completion) -> int:
    """The content step of the last token (0 for an answer of one token or none)."""
    longest = max(
        (len(c.tool_call.argument_tokens) if c.tool_call else len(c.tokens))
        for c in completion.choices
    )
    return max(longest - 1, 0)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(body: bytes) -> object:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(
            400,
            f"The request body could not be parsed as JSON ({exc}). Send a JSON object with "
            "Content-Type: application/json.",
        ) from None


class ChatCompletionsEndpoint:
    """``POST /v1/chat/completions``: validation, then a JSON body or an SSE stream."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self._server
        body = await _read_body(receive)
        t_body_read_ns = time.monotonic_ns()
        try:
            server.check_key(scope)
            server.check_rate()
            request = self._request(body)
        except ApiError as error:
            await server.send_error(send, error)
            return
        async with server.gate.slot() as t_slot_ns:
            # Without a concurrency limit nobody waits: the schedule runs from the body read.
            t0_ns = t_slot_ns if server.gate.limit is not None else t_body_read_ns
            await self._answer(scope, receive, send, request, t_body_read_ns, t0_ns)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: ChatRequest,
        t_body_read_ns: int,
        t0_ns: int,
    ) -> None:
        server = self._server
        completion = generate(request, server.faults, ignore_eos=server.config.ignore_eos)
        meta = ResponseMeta(
            id=f"chatcmpl-{secrets.token_hex(12)}", created=int(time.time()), model=request.model
        )
        if request.stream:
            await self._stream(
                scope, receive, send, request, completion, meta, t_body_read_ns, t0_ns
            )
        elif completion.fail_midstream:
            await server.send_error(
                send,
                ApiError(
                    500,
                    "The server had an error while generating the response.",
                    error_type=SERVER_ERROR,
                ),
            )
        else:
            if runs_away(request, server.faults):
                # Like a server generating a full context before it answers.
                await asyncio.sleep(RUNAWAY_DELAY_S)
            elif server.gate.limit is not None and not server.latency.instant:
                # A slot-limited server spends the whole generation time before answering.
                await _sleep_until(server.latency.deadline_ns(t0_ns, _last_step(completion)))
            body_object = completion_body(completion, meta, server.faults, server.framings)
            await _send_whole(send, 200, _JSON_HEADERS, encode_json(body_object))

    def _request(self, body: bytes) -> ChatRequest:
        server = self._server
        parsed = apply_features(_parse_json(body), server.features)
        request = validate_request(parsed, server.faults)
        if request.model not in server.models and Fault.UNKNOWN_MODEL_OK not in server.faults:
            raise ApiError(
                404,
                f"The model '{request.model}' does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return request

    async def _stream(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request: ChatRequest,
        completion: Completion,
        meta: ResponseMeta,
        t_body_read_ns: int,
        t0_ns: int,
    ) -> None:
        server = self._server
        gate = server.gate
        plan = plan_stream(completion, meta, request, server.faults, server.framings)
        encoder = EventEncoder(server.framings, Random(meta.id))
        await send(
            {"type": "http.response.start", "status": 200, "headers": self._stream_headers()}
        )
        latency = server.latency
        first_ns: int | None = None
        last_ns: int | None = None
        content_events = 0
        step = PRESTREAM_STEP
        extra_ns = 0  # how far the streams served alongside have pushed this one's schedule
        for event in plan:
            if event.step > step:
                step = event.step
                if gate.grows and step > 0:
                    extra_ns += gate.extra_gap_ns()
                if not latency.instant or extra_ns:
                    await _sleep_until(latency.deadline_ns(t0_ns, step) + extra_ns)
            for piece in encoder.encode(event.payload):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            if event.is_content:
                last_ns = time.monotonic_ns()
                if first_ns is None:
                    first_ns = last_ns
                content_events += 1
        await send(_BODY_END)
        if server.timing_log is not None:
            server.timing_log.record(meta.id, t_body_read_ns, first_ns, last_ns, content_events)

    def _stream_headers(self) -> list[tuple[bytes, bytes]]:
        faults, framings = self._server.faults, self._server.framings
        # api.openai.com streams with the charset parameter; the bare type is a framing.
        content_type = b"text/event-stream; charset=utf-8"
        if Fault.WRONG_CONTENT_TYPE in faults:
            content_type = b"application/json"
        elif Fault.EVENT_STREAM_LATIN1 in faults:
            content_type = b"text/event-stream; charset=iso-8859-1"
        elif Framing.BARE_CONTENT_TYPE in framings:
            content_type = b"text/event-stream"
        return [(b"content-type", content_type), (b"cache-control", b"no-cache")]


class ModelsEndpoint:
    """``GET /v1/models`` (a list object) and ``GET /v1/models/{id}`` (one model or 404)."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = self._server
        try:
            server.check_key(scope)
            model_id = scope.get("path_params", {}).get("model_id")
            state = server.features.get("models_endpoint")
            if state == UNSUPPORTED:
                raise ApiError(404, "Invalid URL (GET /v1/models)", code="unknown_url")
            if state == BROKEN:
                # A list without its 'data' array: the models are there, but not where
                # clients look for them.
                listed = {"object": "list", "models": list(server.config.models)}
                await _send_whole(send, 200, _JSON_HEADERS, encode_json(listed))
                return
            if model_id is None:
                body: dict[str, Any] = {
                    "object": "list",
                    "data": [self._model(name) for name in server.config.models],
                }
            elif model_id in server.models:
                body = self._model(model_id)
            else:
                raise ApiError(
                    404,
                    f"The model '{model_id}' does not exist or you do not have access to it.",
                    code="model_not_found",
                )
        except ApiError as error:
            await server.send_error(send, error)
            return
        await _send_whole(send, 200, _JSON_HEADERS, encode_json(body))

    def _model(self, name: str) -> dict[str, Any]:
        return {
            "id": name,
            "object": "model",
            "created": self._server.created,
            "owned_by": MODEL_OWNER,
        }


class MetricsEndpoint:
    """``GET /metrics``: the concurrency gate's counters as a Prometheus page."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = render_metrics(self._server.gate)
        await _send_whole(send, 200, [(b"content-type", CONTENT_TYPE)], body)


def create_app(config: ServerConfig) -> Starlette:
    """The reference endpoint as an ASGI application (see the module docstring)."""
    server = _Server(config)
    models = ModelsEndpoint(server)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = f"Invalid URL ({request.method} {request.url.path})"
        if exc.status_code == 405:
            message = f"Method {request.method} is not allowed for {request.url.path}"
        status, headers, body = render_error(ApiError(exc.status_code, message), server.faults)
        return Response(body, status_code=status, headers={**headers, **(exc.headers or {})})

    async def unexpected_error(request: Request, exc: Exception) -> Response:
        error = ApiError(
            500, "The server had an error while processing your request.", error_type=SERVER_ERROR
        )
        status, headers, body = render_error(error, server.faults)
        return Response(body, status_code=status, headers=headers)

    routes = [
        Route("/v1/chat/completions", ChatCompletionsEndpoint(server), methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", models, methods=["GET"]),
        Route("/metrics", MetricsEndpoint(server), methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
        lifespan=server.lifespan,
    )
