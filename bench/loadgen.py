"""A small closed-loop HTTP/1.1 load generator (asyncio streams, keep-alive connections).

``concurrency`` connections each send the same POST, wait for the whole response, and send
again, for ``duration`` seconds after a warm-up. Prints one JSON document: requests, errors
(non-2xx or connection failures), throughput and latency percentiles. It runs in its own
process so the server under test and the client never share an interpreter.

    python bench/loadgen.py --url http://127.0.0.1:5000/invocations --body body.json \\
        --concurrency 16 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

import numpy as np


async def _worker(
    host: str,
    port: int,
    request: bytes,
    stop_at: float,
    warm_until: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                errors.append(0)
                reader, writer = await asyncio.open_connection(host, port)
                continue
            status = int(status_line.split()[1])
            length, chunked = 0, False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
                elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            finished = time.perf_counter()
            if finished >= warm_until:
                latencies.append(finished - started)
                if status >= 300:
                    errors.append(status)
    finally:
        writer.close()


async def run(url: str, body: bytes, content_type: str, concurrency: int, duration: float,
              warmup: float) -> dict[str, object]:  # fmt: skip
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    warm_until, stop_at = start + warmup, start + warmup + duration
    await asyncio.gather(*[
        _worker(host, port, request, stop_at, warm_until, latencies, errors)
        for _ in range(concurrency)
    ])  # fmt: skip
    measured = max(time.perf_counter() - warm_until, 1e-9)
    values = np.array(latencies) * 1000.0 if latencies else np.array([np.nan])
    return {
        "url": url,
        "concurrency": concurrency,
        "duration_s": round(measured, 2),
        "requests": len(latencies),
        "errors": len(errors),
        "error_statuses": sorted(set(errors))[:10],
        "throughput_rps": round(len(latencies) / measured, 1),
        "latency_ms": {
            "mean": round(float(np.mean(values)), 3),
            "p50": round(float(np.percentile(values, 50)), 3),
            "p90": round(float(np.percentile(values, 90)), 3),
            "p99": round(float(np.percentile(values, 99)), 3),
            "max": round(float(np.max(values)), 3),
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True, help="file with the request body")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    with open(args.body, "rb") as handle:
        body = handle.read()
    result = asyncio.run(
        run(args.url, body, args.content_type, args.concurrency, args.duration, args.warmup)
    )
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
