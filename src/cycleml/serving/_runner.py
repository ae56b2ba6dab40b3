"""Run a server app with uvicorn: one process, or a pre-forked group sharing one socket.

Workers are forked from the parent after it binds the socket, each building its own app
(and loading its own models) through the factory it was given, so no configuration passes
through environment variables. The parent forwards SIGTERM/SIGINT to the workers and waits
for them: each worker shuts down gracefully (the prediction log flushes) before it exits.
A worker that dies while serving (SIGKILL, out of memory) is replaced by a new fork, up to
five restarts per worker a minute.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn
from fastapi import FastAPI
from threadpoolctl import threadpool_limits

from cycleml.errors import CycleMLError, InvalidInput

__all__ = ["background_server", "run_server"]


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
        ready: Called in the parent with the bound host and port once every worker has
            built its app (its models are loaded), before serving.

    Raises:
        InvalidInput: Bad ``workers``, or the port cannot be bound.
        CycleMLError: A worker could not build its app (its error is printed).
    """
    if workers < 1:
        raise InvalidInput(f"workers must be at least 1, got {workers}.")
    sock = _bind(host, port)
    bound_port = int(sock.getsockname()[1])
    if workers == 1:
        stop = _StopSignals()
        try:
            app = factory()
            if ready is not None:
                ready(host, bound_port)
            _serve(app, sock, log_level, graceful_timeout_s, stop)
        finally:
            stop.restore()
        return
    loaded_read, loaded_write = os.pipe()
    live = {
        _fork_worker(factory, sock, log_level, graceful_timeout_s, (loaded_read, loaded_write))
        for _ in range(workers)
    }
    os.close(loaded_write)
    stopping = False

    def forward(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in list(live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    loaded = 0
    restarts: list[float] = []
    try:
        loaded = _count_loaded(loaded_read, workers)  # it closes the pipe
        if loaded < workers:  # serve with all of them or none
            forward(signal.SIGTERM, None)
        elif ready is not None:
            ready(host, bound_port)
        while live:
            try:
                pid, status = os.wait()
            except ChildProcessError:  # none left to wait for (someone else reaped them)
                live = {child for child in live if _alive(child)}
                time.sleep(0.2)
                continue
            if pid not in live:
                continue  # not a worker (a helper process of the parent's)
            live.discard(pid)
            if stopping or loaded < workers:
                continue
            # A worker that died while serving (killed, out of memory) is replaced, so the
            # server keeps its N workers; a worker that keeps dying is not, past a limit.
            now = time.monotonic()
            restarts = [t for t in restarts if now - t < _RESTART_WINDOW_S] + [now]
            if len(restarts) > _RESTARTS_PER_WINDOW * workers:
                print(
                    f"cycleml: worker {pid} died ({_exit_text(status)}); too many restarts in "
                    f"{_RESTART_WINDOW_S:.0f} s, not starting another.",
                    file=sys.stderr,
                )
                continue
            print(
                f"cycleml: worker {pid} died ({_exit_text(status)}); starting another.",
                file=sys.stderr,
            )
            try:
                live.add(_fork_worker(factory, sock, log_level, graceful_timeout_s, None))
            except OSError as exc:  # no fork now (out of memory, process limit)
                print(f"cycleml: could not start a worker: {exc}.", file=sys.stderr)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
    if loaded < workers:
        raise CycleMLError(
            f"{workers - loaded} of {workers} server workers could not start; their errors "
            "are printed above.",
            hint="Run with --workers 1 to see the error on its own.",
        )


_RESTART_WINDOW_S = 60.0
_RESTARTS_PER_WINDOW = 5


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def _fork_worker(
    factory: Callable[[], FastAPI],
    sock: socket.socket,
    log_level: str,
    graceful_timeout_s: float,
    loaded_pipe: tuple[int, int] | None,
) -> int:
    """Fork one worker that builds its app and serves ``sock``; return its pid.

    A first-round worker writes a byte to ``loaded_pipe`` once its app is built.
    """
    pid = os.fork()
    if pid != 0:
        return pid
    stop = _StopSignals()  # the worker: serve, then exit without running the parent's cleanup
    code = 0
    try:
        if loaded_pipe is not None:
            os.close(loaded_pipe[0])
        app = factory()
        if loaded_pipe is not None:
            os.write(loaded_pipe[1], b"1")  # this worker's models are loaded
            os.close(loaded_pipe[1])
        _serve(app, sock, log_level, graceful_timeout_s, stop)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _count_loaded(pipe: int, workers: int) -> int:
    """Wait until every worker reported its app built, or exited without doing so."""
    loaded = 0
    with os.fdopen(pipe, "rb") as reader:
        while loaded < workers:
            byte = reader.read(1)
            if not byte:  # every writer closed: the others died while loading
                break
            loaded += 1
    return loaded


class _StopSignals:
    """SIGTERM and SIGINT for a serving process, from its start to its end.

    While uvicorn runs, they start its graceful shutdown (in-flight requests finish, the
    lifespan closes the models and flushes the prediction log). Earlier, while the models
    load, SIGTERM is remembered and the server stops as soon as it has started, so the
    same cleanup runs; Ctrl-C there interrupts the load at once. uvicorn's own handlers
    would re-raise the signal after draining and end the process with -15, before exit
    handlers run: here a graceful stop returns, and the process exits 0.
    """

    def __init__(self) -> None:
        self.server: uvicorn.Server | None = None
        self.received: int | None = None
        self._previous = {s: signal.signal(s, self._handle) for s in _STOP_SIGNALS}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self.server is not None:
            self.server.handle_exit(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    def restore(self) -> None:
        """Put back the handlers there were before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Server(uvicorn.Server):
    """uvicorn's server, leaving signals to :class:`_StopSignals`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


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


def _serve(
    app: FastAPI, sock: socket.socket, log_level: str, graceful_timeout_s: float,
    stop: _StopSignals,
) -> None:  # fmt: skip
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
    server = _Server(config)
    stop.server = server
    server.should_exit = stop.received is not None  # asked to stop while loading
    server.run(sockets=[sock])


@contextlib.contextmanager
def background_server(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 60.0
) -> Iterator[str]:
    """Serve ``app`` over real HTTP from a thread of this process; yield its base URL.

    For notebooks, demos and tests that want the real network path (uvicorn, sockets,
    keep-alive) without a second process. The app's lifespan runs as under ``cycleml
    serve``: leaving the block drains requests in flight, closes the models and flushes
    the prediction log.

    Args:
        app: The server app (``model_app``, ``deployment_app`` or ``create_app``).
        host: Interface to bind.
        port: Port to bind (0: a free one, as the URL tells).
        start_timeout_s: Longest wait for the server to start.

    Raises:
        InvalidInput: The port cannot be bound.
        CycleMLError: The server did not start (its lifespan failed).
    """
    sock = _bind(host, port)
    bound = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)  # off the main thread, uvicorn leaves signals alone
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="cycleml-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        if not server.started:
            raise CycleMLError(
                f"The server on {host}:{bound} did not start within {start_timeout_s:g} s.",
                hint="Its error is logged above.",
            )
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
