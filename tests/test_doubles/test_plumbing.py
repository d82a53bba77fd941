"""The servers, waits and bot process the other doubles are built on."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.doubles import BotProcess, ServerThread, free_port, wait_until
from tests.doubles.forward_proxy import ForwardProxy, ProxiedRequest
from tests.test_doubles.scene import TOKEN


def test_server_thread_runs_coroutines_and_frees_its_port():
    server = ServerThread(web.Application()).start()
    port = server.port
    assert server.run(asyncio.sleep(0, result="ran in loop")) == "ran in loop"
    server.stop()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
    assert not any(t.name == "server" for t in threading.enumerate())


def test_a_taken_port_fails_start_and_leaves_no_thread():
    with ServerThread(web.Application(), name="first") as first, pytest.raises(OSError):
        ServerThread(web.Application(), port=first.port, name="second").start()
    assert [t.name for t in threading.enumerate() if t.name in ("first", "second")] == []


def test_wait_until_returns_the_value_or_fails_with_the_message():
    assert wait_until(lambda: 42) == 42
    with pytest.raises(AssertionError, match="never true"):
        wait_until(lambda: False, timeout=0.05, message="never true")


def test_bot_process_environment_holds_only_what_it_is_given(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-key-that-must-not-leak")
    bot = BotProcess({"SLACK_BOT_TOKEN": TOKEN}, port=free_port())
    environment = bot.environment()
    assert "OPENAI_API_KEY" not in environment
    assert environment["SLACK_BOT_TOKEN"] == TOKEN
    assert environment["HOST"] == "127.0.0.1" and environment["PORT"] == str(bot.port)
    assert bot.events_url == f"http://127.0.0.1:{bot.port}/slack/events"
    assert not bot.is_running and bot.logs() == ""


def test_the_forward_proxy_passes_on_each_request_of_a_kept_alive_connection_and_records_it():
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.path_qs} {len(await request.read())}")

    async def chunked() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"de"

    async def through(proxy: ForwardProxy, url: str) -> list[str]:
        async with aiohttp.ClientSession() as session:
            answers = []
            for path, data in (("/a?ticket=1", b"xy"), ("/b", chunked()), ("/c", b"")):
                async with session.post(url + path, data=data, proxy=proxy.url) as got:
                    answers.append(await got.text())
            return answers

    app = web.Application()
    app.router.add_post("/{name}", echo)
    with ServerThread(app) as server:
        proxy = ForwardProxy().start()
        try:
            assert asyncio.run(through(proxy, server.url)) == ["/a?ticket=1 2", "/b 5", "/c 0"]
            assert proxy.requests() == [
                ProxiedRequest("POST", f"127.0.0.1:{server.port}", path)
                for path in ["/a", "/b", "/c"]
            ]
        finally:
            proxy.stop()
