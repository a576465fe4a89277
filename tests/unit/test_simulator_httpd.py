"""The HTTP plumbing alone (any handle function, no simulator) and the Simulator's API alone (no socket)."""

from __future__ import annotations

import ast
import base64
import threading
from pathlib import Path

import msgspec
import pytest
import requests
from thingspace_exporter.simulator import Simulator, httpd
from thingspace_exporter.simulator.httpd import make_server
from thingspace_exporter.simulator.replies import Call, Response


@pytest.fixture
def serve():
    """Serve a handle function on loopback; yields (start(handle) -> base url, logged lines)."""
    servers, lines = [], []

    def start(handle) -> str:
        server = make_server("127.0.0.1", 0, handle, lines.append)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start, lines
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_plumbing_hands_each_request_to_handle_as_a_call_and_writes_its_response(serve):
    start, lines = serve
    calls: list[Call] = []

    def handle(call: Call) -> Response:
        calls.append(call)
        return Response(201, b"made", content_type="text/plain", headers={"X-Made": "yes"})

    url = start(handle)
    r = requests.post(f"{url}/any/path?a=1&a=2&b=", data=b"payload", headers={"X-Thing": "v"}, timeout=5)
    assert (r.status_code, r.content, r.headers["X-Made"]) == (201, b"made", "yes")
    assert r.headers["Content-Type"] == "text/plain"
    (call,) = calls
    assert (call.method, call.path, call.body) == ("POST", "/any/path", b"payload")
    assert call.query == {"a": ["1", "2"], "b": [""]}
    assert call.header("x-thing") == call.header("X-Thing") == "v"
    assert (call.param("a"), call.param("b"), call.param("c"), call.param("c", "0")) == ("1", "", None, "0")
    # Logged before the buffered reply is flushed, so already there; without the query.
    assert lines[0].startswith("POST /any/path 201 ") and lines[0].endswith("ms")


def test_a_handle_answering_none_drops_the_connection_unanswered(serve):
    start, lines = serve
    url = start(lambda call: None)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/hang", timeout=5)
    assert lines[0].startswith("GET /hang - ")


def test_the_simulator_answers_a_call_without_any_server():
    sim = Simulator({"0000123456-00001": 5})
    unknown = sim.handle(Call("GET", "/nope", {}, {}, b""))
    assert unknown.status == 400 and msgspec.json.decode(unknown.body)["fault"]["code"] == "900906"
    basic = "Basic " + base64.b64encode(b"demo-client:demo-secret").decode()
    token = sim.handle(
        Call("POST", "/api/ts/v1/oauth2/token", {}, {"authorization": basic}, b"grant_type=client_credentials")
    )
    assert token.status == 200 and msgspec.json.decode(token.body)["token_type"] == "Bearer"
    assert sim.requests["token"] == 1 and sim.base_url is None


def test_the_plumbing_imports_nothing_of_the_simulator_but_the_values():
    tree = ast.parse(Path(httpd.__file__).read_text())
    ours = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert ours == {"replies"}
