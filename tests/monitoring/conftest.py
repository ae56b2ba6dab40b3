"""Fixtures shared by the monitoring tests: a real webhook receiver on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Receiver:
    """What the test server got, and how it should answer the next requests."""

    url: str = ""
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    # one entry per coming request: an HTTP status, "drop" (close without answering) or
    # ("slow", seconds) - then 200; when empty, 200
    script: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with got.lock:
                got.requests.append((dict(self.headers.items()), json.loads(body)))
                action = got.script.pop(0) if got.script else 200
            if action == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(action, tuple):
                time.sleep(action[1])
                action = 200
            self.send_response(action)
            self.send_header("Content-Type", "text/plain")
            message = b"ok" if action < 300 else b"not now"
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/s3cr3t-token"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
