"""AiohttpThread: an aiohttp application served from a daemon thread (REST server, notebook UI)."""

import socket

import pytest
import requests
from aiohttp import web

from keras_cvcls.http_thread import AiohttpThread


def _app():
    async def hello(request):
        return web.json_response({"hello": request.query.get("name", "world")})

    app = web.Application()
    app.router.add_get("/", hello)
    return app


def test_serves_then_stops_and_frees_the_port():
    server = AiohttpThread(_app(), "127.0.0.1", 0, name="test-http")
    port = server.start()
    assert port > 0 and server.running and server.start() == port  # a second start is a no-op
    assert requests.get(f"http://127.0.0.1:{port}/?name=cv", timeout=5).json() == {"hello": "cv"}
    server.stop()
    assert not server.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=5)
    server.stop()  # stopping twice is harmless


def test_a_port_in_use_raises_at_start():
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = AiohttpThread(_app(), "127.0.0.1", taken.getsockname()[1])
        with pytest.raises(OSError):
            server.start()
        assert not server.running
