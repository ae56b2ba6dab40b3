"""The HTTP transport of the stages' REST repositories (a ``cycleml server``'s ``/api/v1``).

One :class:`ApiClient` per repository: one keep-alive ``httpx.Client``, JSON bodies in
strict JSON, retries with backoff that re-send the same ``X-Request-ID``, and the server's
errors re-raised as the cycleml class it raised (:func:`cycleml.errors.from_dict`). The
kernel holds only the transport; each stage's ``_rest.py`` holds its routes and shapes.

* **Retries** on connection errors, 429 and 5xx, with exponential backoff (honouring
  ``Retry-After``), re-send the request with its ``X-Request-ID``, so a server that applies
  a write once per request id does not apply a retry whose first attempt was written.
* **A write without replay protection** (``replayable=False``) is retried only when it was
  surely not applied: on 429, 503 and a connection that was never made. A lost answer is
  raised as a :class:`StoreError`, so a retry cannot apply it twice.
* **Errors** come back as their class (``NotFound``, ``InvalidInput`` ...) with message,
  hint and details (and the request id in ``details``). A server that cannot be reached,
  or answers something other than cycleml's error shape, is a :class:`StoreError`.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

from cycleml.errors import CycleMLError, InvalidInput, StoreError, from_dict
from cycleml.store._pages import MAX_PAGE

if TYPE_CHECKING:
    import httpx

__all__ = ["API_PREFIX", "ApiClient", "RestRepository", "url_segment"]

API_PREFIX = "/api/v1"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# What a write the server does not apply once per request id may be retried on: the request
# surely was not applied (refused before the handler, or never sent).
_UNSENT_STATUSES = frozenset({429, 503})
_WHAT = "tracking server"  # what a user calls the server (CYCLEML_TRACKING_URI names it)


def _not_json(value: object) -> Any:
    raise InvalidInput(
        f"Cannot send {value!r} ({type(value).__name__}) to the {_WHAT}: it is not "
        "JSON (strings, numbers, booleans, lists and dicts are).",
        hint="Convert it to a str, int, float, list or dict first.",
    )


def url_segment(value: str, what: str) -> str:
    """``value`` as one path segment of a URL (anything that cannot be one is refused)."""
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value:
        raise InvalidInput(f"Invalid {what} {value!r}: it cannot name a resource in a URL.")
    return quote(value, safe="")


class ApiClient:
    """Requests to a ``cycleml server``'s ``/api/v1``, retried and decoded.

    Args:
        base_url: The server, ``http(s)://host:port`` (a path prefix is kept).
        token: An API token, sent as ``Authorization: Bearer <token>``.
        timeout: Seconds to wait for a connection or an answer.
        retries: How many times a request is re-sent after a connection error, 429 or 5xx.
        backoff: Seconds before the first retry; doubled each time (with jitter, at most 10).
        transport: An ``httpx`` transport to send through (tests, proxies).

    Raises:
        InvalidInput: ``base_url`` is not an http(s) URL.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"Invalid {_WHAT} URL {base_url!r}: expected http(s)://host:port.",
                hint="Point CYCLEML_TRACKING_URI at a running `cycleml server`.",
            )
        from cycleml import __version__

        self.base_url = base_url.rstrip("/")
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        headers = {"User-Agent": f"cycleml/{__version__}", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        replayable: bool = True,
    ) -> Any:
        """Send one request (retried as the module says); its JSON, or ``None``.

        ``replayable=False`` for a write the server would apply again on a retry.
        """
        headers: dict[str, str] = {}
        content = None
        if body is not None:
            content = json.dumps(
                body, separators=(",", ":"), allow_nan=False, default=_not_json
            ).encode()
            headers["Content-Type"] = "application/json"
        answer = self.send(
            method,
            path,
            content=None if content is None else lambda: content,
            params=params,
            headers=headers,
            replayable=replayable,
        )
        return answer.json() if answer.content else None

    def send(
        self,
        method: str,
        path: str,
        *,
        content: Callable[[], bytes | Iterator[bytes]] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        replayable: bool = True,
        stream: bool = False,
        retries: int | None = None,
    ) -> httpx.Response:
        """Send one request with a raw body, retried and with errors raised as :meth:`call`'s.

        Args:
            method: The HTTP method.
            path: The route below ``/api/v1``.
            content: Makes the body for each attempt: bytes, or an iterator of chunks, which
                is streamed (chunked transfer encoding, never held whole).
            params: The query string.
            headers: More headers (an ``X-Request-ID`` is added, the same on every attempt).
            replayable: As :meth:`call`'s.
            stream: Answer without reading the body: the caller reads it from the response
                (``iter_bytes``) and closes it.
            retries: How many re-sends at most (default: the client's); 0 for a body that
                cannot be made again.

        Returns:
            The successful answer (status 2xx).
        """
        import httpx

        statuses = _RETRY_STATUSES if replayable else _UNSENT_STATUSES
        unsent = (httpx.ConnectError, httpx.ConnectTimeout)
        most = self.retries if retries is None else max(0, retries)
        sent = {**(headers or {}), "X-Request-ID": uuid.uuid4().hex}
        attempt = 0
        while True:
            answer: httpx.Response | None = None
            try:
                request = self._http.build_request(
                    method,
                    path,
                    content=None if content is None else content(),
                    params=params,
                    headers=sent,
                )
                answer = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt >= most or not (replayable or isinstance(exc, unsent)):
                    raise StoreError(
                        f"Cannot reach the {_WHAT} at {self.base_url} ({method} "
                        f"{API_PREFIX}{path}, {attempt + 1} attempts): "
                        f"{exc or type(exc).__name__}.",
                        hint="Check that `cycleml server` runs there, and CYCLEML_TRACKING_URI.",
                        details={"request_id": sent["X-Request-ID"]},
                    ) from exc
            else:
                if answer.status_code not in statuses or attempt >= most:
                    break
                answer.close()
            self._pause(attempt, answer)
            attempt += 1
        if answer.is_success:
            return answer
        try:
            answer.read()
        finally:
            answer.close()
        raise self._error(method, path, answer)

    def _pause(self, attempt: int, answer: httpx.Response | None) -> None:
        delay = min(10.0, self.backoff * 2**attempt) * (0.5 + random.random() / 2)
        retry_after = answer.headers.get("Retry-After") if answer is not None else None
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        time.sleep(delay)

    def _error(self, method: str, path: str, answer: httpx.Response) -> CycleMLError:
        try:
            return from_dict(answer.json(), status_code=answer.status_code)
        except (ValueError, InvalidInput):  # not JSON, or not cycleml's shape (a proxy's page)
            error = StoreError(
                f"The {_WHAT} at {self.base_url} answered {method} {API_PREFIX}{path} with "
                f"HTTP {answer.status_code}: {answer.text[:200]!r}.",
                hint="Is CYCLEML_TRACKING_URI the address of a `cycleml server`?",
            )
            error.status_code = answer.status_code
            return error


class RestRepository:
    """The base of every stage's REST repository, as :class:`SqlRepository` is of the SQL ones.

    It owns the :class:`ApiClient` (``self._api``, with ``self._call`` its ``call``) and the
    connection's life; a stage's subclass adds the protocol's methods over its routes. The
    arguments are :class:`ApiClient`'s.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 5,
        backoff: float = 0.1,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._api = ApiClient(
            base_url,
            token=token,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            transport=transport,
        )
        self.base_url = self._api.base_url
        self._call = self._api.call

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _pages(self, path: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Every item of a paged listing (the ``key`` list of each page), page by page.

        ``params`` that are ``None`` are not sent; pages are the largest a listing returns.
        """
        query = {name: value for name, value in params.items() if value is not None}
        query["max_results"] = MAX_PAGE
        while True:
            found = self._call("GET", path, params=query)
            yield from found[key]
            if not found["next_page_token"]:
                return
            query["page_token"] = found["next_page_token"]

    def close(self) -> None:
        """Close the repository's connections."""
        self._api.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
