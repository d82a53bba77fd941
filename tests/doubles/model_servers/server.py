"""One HTTP server playing every model provider, each under its own path prefix."""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from tests.doubles.model_servers.anthropic_wire import AnthropicMessagesWire
from tests.doubles.model_servers.gemini_wire import GeminiWire
from tests.doubles.model_servers.openai_responses_wire import OpenAIResponsesWire
from tests.doubles.model_servers.openai_wire import OpenAIChatWire
from tests.doubles.model_servers.recording import RecordedRequest
from tests.doubles.model_servers.scripts import DEFAULT_SCRIPT, ModelFault, ModelScript
from tests.doubles.model_servers.streaming import ScriptedStream, send_stream
from tests.doubles.model_servers.wire import StreamContext, WireError, WireFormat
from tests.doubles.server_thread import BackgroundServer

OPENAI_API_KEY = "sk-test-openai"
OPENROUTER_API_KEY = "sk-test-openrouter"
ANTHROPIC_API_KEY = "sk-test-anthropic"
GEMINI_API_KEY = "test-gemini-key"
ROUTES: dict[str, WireFormat] = {
    "/openai/v1/chat/completions": OpenAIChatWire("openai", OPENAI_API_KEY),
    "/openai/v1/responses": OpenAIResponsesWire(OPENAI_API_KEY),
    "/openrouter/v1/chat/completions": OpenAIChatWire("openrouter", OPENROUTER_API_KEY),
    "/ollama/v1/chat/completions": OpenAIChatWire("ollama", None),
    # A local server with a reasoning parser, streaming thoughts as DeepSeek's API does.
    "/vllm/v1/chat/completions": OpenAIChatWire("vllm", None),
    "/anthropic/v1/messages": AnthropicMessagesWire(ANTHROPIC_API_KEY),
    "/gemini/v1beta/models/{target}": GeminiWire(GEMINI_API_KEY),
}
MAX_REQUEST_BYTES = 20 * 1024 * 1024
# The header each provider names its request ids in (Gemini sends none).
REQUEST_ID_HEADERS = {
    "anthropic": "request-id",
    "openai": "x-request-id",
    "openrouter": "x-request-id",
    "ollama": "x-request-id",
    "vllm": "x-request-id",
}


class FakeModelServer(BackgroundServer):
    """Fake OpenAI (Chat Completions and Responses), OpenRouter, Ollama, vLLM, Anthropic and
    Gemini endpoints with scripted models.

    A model is scripted by its id ("gpt-5.1") or provider-qualified id ("openai:gpt-5.1"; the
    Gemini endpoints are provider "google"). Unscripted models answer with DEFAULT_SCRIPT.
    """

    def __init__(self, port: int = 0) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, ModelScript] = {}
        self._requests_served: defaultdict[str, int] = defaultdict(int)
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._hurried = threading.Event()
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        for path, wire in ROUTES.items():
            app.router.add_post(path, self._handler_for(wire))
        app.on_response_prepare.append(_with_request_id)
        super().__init__(app, port=port, name="fake-model-server")

    def env(self, *, host: str = "127.0.0.1") -> dict[str, str]:
        """The bot's provider settings pointing every provider at this server, by the name
        `host` (`localhost`, say: a host apart from the Slack emulator's, for NO_PROXY)."""
        url = self.url.replace("127.0.0.1", host)
        return {
            "OPENAI_BASE_URL": f"{url}/openai/v1",
            "ANTHROPIC_BASE_URL": f"{url}/anthropic",
            "GEMINI_BASE_URL": f"{url}/gemini",
            "OPENROUTER_BASE_URL": f"{url}/openrouter/v1",
            "OLLAMA_BASE_URL": f"{url}/ollama/v1",
            "OPENAI_API_KEY": OPENAI_API_KEY,
            "ANTHROPIC_API_KEY": ANTHROPIC_API_KEY,
            "GEMINI_API_KEY": GEMINI_API_KEY,
            "OPENROUTER_API_KEY": OPENROUTER_API_KEY,
        }

    # -- scripting and records -----------------------------------------------------------------

    def hurry(self) -> None:
        """From now on every stream, those being sent included, sends the rest of its chunks
        without the delays its script set: once a test has seen what it needed while an answer
        was still being written, it need not wait out the rest of the pace."""
        self._hurried.set()

    def script(self, model_id: str, script: ModelScript) -> None:
        """Make `model_id` behave as `script` from its next request on."""
        with self._lock:
            self._scripts[model_id] = script
            self._requests_served.pop(model_id, None)

    def reset(self) -> None:
        """Forget scripts, recorded requests and the concurrency high-water mark."""
        with self._lock:
            self._scripts.clear()
            self._requests_served.clear()
            self._requests.clear()
            self._max_in_flight = self._in_flight

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model_id: str) -> list[RecordedRequest]:
        """Requests for `model_id`, bare ("gpt-5.1") or provider-qualified ("openai:gpt-5.1")."""
        return [r for r in self.requests if model_id in (r.model, f"{r.provider}:{r.model}")]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests being answered at once since start (or the last reset)."""
        with self._lock:
            return self._max_in_flight

    # -- answering -----------------------------------------------------------------------------

    def _handler_for(
        self, wire: WireFormat
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            with self._counted_in_flight():
                return await self._answer(wire, request)

        return handle

    async def _answer(self, wire: WireFormat, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        refusal = wire.refuse(request, body) if body is not None else _NOT_JSON
        recorded = self._record(wire, request, body or {})
        if refusal is not None:
            return _error_response(wire, refusal)
        script, fault = self._plan(recorded)
        limit = script.context_tokens
        if limit is not None and (sent := script.prompt_tokens(recorded)) > limit:
            return _error_response(wire, wire.context_too_long(limit, sent))
        if fault is not None and fault.stream_fault is None and fault.plain_body is not None:
            return web.Response(text=fault.plain_body, status=fault.status)
        if fault is not None and fault.stream_fault is None:
            error = WireError(fault.status, fault.message, fault.error_type)
            return _error_response(wire, error, fault.retry_after)
        text = script.reply_text(recorded)
        input_tokens, output_tokens = script.token_usage(recorded, text)
        context = StreamContext(
            model=recorded.model,
            response_id=secrets.token_hex(12),
            created=int(time.time()),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            body=recorded.body,
            thinks=bool(script.reasoning),
        )
        stream = ScriptedStream(
            script.chunks(text),
            script.chunks(script.reasoning),
            script.first_token_delay,
            script.chunk_delay,
            fault,
            self._hurried.is_set,
        )
        return await send_stream(request, wire, context, stream)

    def _record(
        self, wire: WireFormat, request: web.Request, body: dict[str, Any]
    ) -> RecordedRequest:
        recorded = RecordedRequest(
            provider=wire.provider,
            model=wire.model_of(request, body),
            path=request.path,
            query=dict(request.query),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            at=time.monotonic(),
            reader=wire,
            client_port=_client_port(request),
            request_id=f"req_fake{secrets.token_hex(8)}"
            if wire.provider in REQUEST_ID_HEADERS
            else None,
        )
        request[_RECORDED] = recorded
        with self._lock:
            self._requests.append(recorded)
        return recorded

    def _plan(self, request: RecordedRequest) -> tuple[ModelScript, ModelFault | None]:
        """The script answering `request`, and the fault this request gets from it."""
        qualified = f"{request.provider}:{request.model}"
        with self._lock:
            key = qualified if qualified in self._scripts else request.model
            script = self._scripts.get(key, DEFAULT_SCRIPT)
            number = self._requests_served[key]
            self._requests_served[key] += 1
        return script, script.fault_for(number)

    @contextmanager
    def _counted_in_flight(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1


_RECORDED = web.RequestKey("recorded", RecordedRequest)


async def _with_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, error or stream, names its request as its provider's do."""
    recorded = request.get(_RECORDED)
    if recorded is not None and recorded.request_id is not None:
        response.headers[REQUEST_ID_HEADERS[recorded.provider]] = recorded.request_id


_NOT_JSON = WireError(400, "The request body is not a JSON object.")


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error_response(
    wire: WireFormat, error: WireError, retry_after: int | None = None
) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.json_response(wire.error_body(error), status=error.status, headers=headers)


def _client_port(request: web.Request) -> int | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[1] if peer else None
