"""A local stand-in for CloudFormation's response URL (loopback only)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest


@dataclass
class CfnServer:
    """Where a custom-resource handler sends its answer, and the answers received."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def cfn_server() -> Iterator[CfnServer]:
    server_state = CfnServer(url="")

    class Recorder(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            server_state.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    # shutdown() waits for the serving loop's next poll: every 10 ms, not the default 500 ms, after each test.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    server_state.url = f"http://127.0.0.1:{server.server_port}/response"
    yield server_state
    server.shutdown()
