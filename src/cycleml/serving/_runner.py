"""Run a server app with uvicorn: one process, or a pre-forked group sharing one socket.

Workers are forked from the parent after it binds the socket, each building its own app
(and loading its own models) through the factory it was given, so no configuration passes
through environment variables. The parent forwards SIGTERM/SIGINT to the workers and waits
for them: each worker shuts down gracefully (the prediction log flushes) before it exits.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from cycleml.errors import InvalidInput

__all__ = ["run_server"]


def run_server(
    factory: Callable[[], FastAPI],
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    workers: int = 1,
    log_level: str = "warning",
    graceful_timeout_s: float = 30.0,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve the app built by ``factory`` until SIGTERM or SIGINT.

    Args:
        factory: Builds the app; called once per worker process.
        host: Interface to bind.
        port: Port to bind (0 picks a free one; ``ready`` receives it).
        workers: Processes sharing the socket (each loads the model).
        log_level: uvicorn's log level.
        graceful_timeout_s: Longest wait for in-flight requests at shutdown.
        ready: Called in the parent with the bound host and port before serving.
    """
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}.")
    sock = _bind(host, port)
    bound_port = int(sock.getsockname()[1])
    if ready is not None:
        ready(host, bound_port)
    if workers == 1:
        _serve(factory(), sock, log_level, graceful_timeout_s)
        return
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: serve, then exit without running the parent's cleanup
            code = 0
            try:
                _serve(factory(), sock, log_level, graceful_timeout_s)
            except BaseException:
                import traceback

                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for child in children:
            while True:
                try:
                    os.waitpid(child, 0)
                    break
                except InterruptedError:
                    continue
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it small responses wait ~40 ms for delayed ACKs on keep-alive connections.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Pick another --port, or stop the process using it.",
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(app: FastAPI, sock: socket.socket, log_level: str, graceful_timeout_s: float) -> None:
    # The loaded models and libraries are long-lived: move them out of the garbage
    # collector's sight and collect young objects less often. Full collections over them
    # otherwise stall every request in flight (p99 at concurrency 64 fell from ~220 ms to
    # ~90 ms on the benchmark's forest).
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # One native thread per pool (OpenMP, BLAS): requests already run concurrently, and idle
    # pool threads spinning against the predict thread doubled a forest's predict time on
    # 2 cores (18.5 ms against 9.7 ms for one row).
    threadpool_limits(limits=1)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=int(graceful_timeout_s),
        lifespan="on",
    )
    uvicorn.Server(config).run(sockets=[sock])
