"""Notifiers: where alert events go - the log, a webhook, a retraining hook.

A notifier takes an event's JSON *payload* and returns a :class:`Delivery`; it never raises
into the monitor loop (a failure is a ``failed`` delivery with the reason in ``detail``).
The payload, built by :func:`cycleml.monitoring.alert_payload`, is::

    {
      "version": 1,
      "id": "5f0c...",                 # the event id: the same on every re-delivery
      "kind": "fired",                 # or "resolved"
      "repeat": false,                 # true for a re-notification after the cooldown
      "monitor": "churn-drift",
      "rule": "drift-high",
      "metric": "drift_share",
      "operator": ">",
      "value": 0.42,
      "threshold": 0.3,
      "severity": "warning",           # info | warning | critical
      "consecutive": 3,                # breaching windows in a row
      "time": "2026-11-27T16:00:00.000Z",
      "time_ms": 1795795200000,
      "window_end": 1795795200000,     # the evaluated window, or null
      "evaluation_id": null,
      "summary": "drift_share = 0.42 > 0.3 for 3 windows (monitor churn-drift, rule ...)",
      "links": {"monitor": "..."}      # what the caller passed (UI pages, model URI ...)
    }

Each notifier states its delivery guarantee (``guarantee``) for the case where the process
dies while sending: ``at-least-once`` notifiers (log, webhook) are sent again, with the
same event id, ``at-most-once`` ones (the retraining hook) are not - see
:class:`cycleml.monitoring.AlertEngine`.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit

import httpx

from cycleml import __version__
from cycleml.errors import CycleMLError, InvalidInput

if TYPE_CHECKING:
    from cycleml.monitoring._repository import MonitorRepository

__all__ = [
    "Delivery",
    "DeliveryGuarantee",
    "LogNotifier",
    "Notifier",
    "RetrainHook",
    "WebhookNotifier",
    "notifier_from_config",
]

_log = logging.getLogger(__name__)

#: What happens to a delivery the process died in the middle of.
DeliveryGuarantee = Literal["at-least-once", "at-most-once"]
_TAIL = 2000  # characters of a command's output kept in the audit log
_MAX_BACKOFF = 30.0


@dataclass(frozen=True)
class Delivery:
    """How one notifier's delivery of one event ended.

    ``status`` is ``delivered``, ``failed`` or ``skipped`` (the notifier does not act on
    this kind of event); ``detail`` says what happened (HTTP status, exit code, error ...).
    """

    status: Literal["delivered", "failed", "skipped"]
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True unless it failed."""
        return self.status != "failed"


class Notifier(Protocol):
    """Anything that delivers alert payloads (see the module docstring for the payload)."""

    @property
    def guarantee(self) -> DeliveryGuarantee:
        """Whether a delivery interrupted by a crash is sent again (at-least-once) or not."""

    def send(
        self, payload: Mapping[str, Any], *, store: MonitorRepository | None = None
    ) -> Delivery:
        """Deliver one event; never raise. ``store`` is the engine's metadata store."""


def _json_ready(value: Any) -> Any:
    """The payload with non-finite floats as strings (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    return value


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(_json_ready(payload), allow_nan=False, default=str).encode()


def _number(value: object, what: str, *, minimum: float, hint: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise InvalidInput(
            f"Invalid {what} {value!r}: expected a number >= {minimum:g}.", hint=hint
        )
    return float(value)


# ---- log ----------------------------------------------------------------------------------

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}


class LogNotifier:
    """Write each event to Python logging (``fired``: by severity, ``resolved``: INFO).

    The payload rides along as ``extra={"alert": payload}`` for structured log handlers.

    Args:
        logger: A logger or its name (default ``cycleml.monitoring.alerts``).
    """

    guarantee: DeliveryGuarantee = "at-least-once"

    def __init__(self, logger: logging.Logger | str = "cycleml.monitoring.alerts") -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger

    def send(
        self, payload: Mapping[str, Any], *, store: MonitorRepository | None = None
    ) -> Delivery:
        """Log the event."""
        try:
            kind = payload.get("kind")
            level = (
                logging.INFO
                if kind == "resolved"
                else _LEVELS.get(str(payload.get("severity")), logging.WARNING)
            )
            what = "resolved" if kind == "resolved" else "fired"
            if payload.get("repeat"):
                what = "still firing"
            self.logger.log(
                level,
                "Alert %s: %s",
                what,
                payload.get("summary") or dict(payload),
                extra={"alert": dict(payload)},
            )
        except Exception as exc:  # a broken handler must not stop the monitor
            return Delivery("failed", {"error": f"{type(exc).__name__}: {exc}"})
        return Delivery("delivered", {"logger": self.logger.name, "level": level})

    def __repr__(self) -> str:
        return f"LogNotifier({self.logger.name!r})"


# ---- webhook ------------------------------------------------------------------------------


class WebhookNotifier:
    """POST each event's payload as JSON to a URL, retrying what may succeed later.

    Connection errors, timeouts, HTTP 429 and 5xx are retried ``retries`` times, waiting
    ``backoff * 2**n`` seconds (at most 30) before retry ``n + 1``; any other status
    outside 2xx fails at once. When it gives up, the delivery is ``failed`` with the last
    error: it never raises. Each request carries the event id in ``Idempotency-Key`` (and
    ``X-CycleML-Event``), so a receiver can drop the rare duplicate of an at-least-once
    delivery. Only the URL's scheme and host are recorded (paths often hold secrets).

    Args:
        url: ``http://`` or ``https://`` endpoint.
        timeout: Seconds per request.
        retries: Attempts after the first one.
        backoff: Seconds before the first retry; doubles each time.
        headers: Extra headers (e.g. ``Authorization``).
    """

    guarantee: DeliveryGuarantee = "at-least-once"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff: float = 0.5,
        headers: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(
                f"Invalid webhook URL {url!r}: expected an http:// or https:// URL.",
                hint="For example https://hooks.example.com/cycleml.",
            )
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidInput(
                f"Invalid webhook retries {retries!r}: expected an integer >= 0.",
                hint="retries counts the attempts after the first one, e.g. 3.",
            )
        self.url = url
        self.timeout = _number(timeout, "webhook timeout", minimum=0.001, hint="Seconds, e.g. 5.")
        self.retries = retries
        self.backoff = _number(backoff, "webhook backoff", minimum=0, hint="Seconds, e.g. 0.5.")
        if headers is not None and (
            not isinstance(headers, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise InvalidInput(
                f"Invalid webhook headers {headers!r}: expected a mapping of strings.",
                hint='For example {"Authorization": "Bearer ..."}.',
            )
        self.headers = dict(headers or {})
        self._sleep = sleep

    @property
    def endpoint(self) -> str:
        """The URL's scheme and host: what logs and the audit trail show."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def send(
        self, payload: Mapping[str, Any], *, store: MonitorRepository | None = None
    ) -> Delivery:
        """POST the payload; retry connection errors, timeouts, 429 and 5xx."""
        try:
            body = _encode(payload)
        except (TypeError, ValueError) as exc:
            return Delivery("failed", {"endpoint": self.endpoint, "error": f"payload: {exc}"})
        event_id = str(payload.get("id") or "")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"cycleml/{__version__}",
            **({"Idempotency-Key": event_id, "X-CycleML-Event": event_id} if event_id else {}),
            **self.headers,
        }
        errors: list[str] = []
        status: int | None = None
        started = time.monotonic()
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
            for attempt in range(self.retries + 1):
                if attempt:
                    self._sleep(min(self.backoff * 2 ** (attempt - 1), _MAX_BACKOFF))
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    status = None
                    continue
                except Exception as exc:  # never into the monitor loop
                    errors.append(f"{type(exc).__name__}: {exc}")
                    break
                status = response.status_code
                if 200 <= status < 300:
                    return Delivery(
                        "delivered",
                        {
                            "endpoint": self.endpoint,
                            "status_code": status,
                            "attempts": attempt + 1,
                            "errors": errors,
                            "duration_s": round(time.monotonic() - started, 3),
                        },
                    )
                errors.append(f"HTTP {status}: {response.text[:200]}")
                if status != 429 and status < 500:
                    break  # the receiver refused it; asking again will not help
        _log.warning("Webhook %s gave up: %s", self.endpoint, errors[-1] if errors else "?")
        return Delivery(
            "failed",
            {
                "endpoint": self.endpoint,
                "status_code": status,
                "attempts": len(errors),
                "errors": errors,
                "error": errors[-1] if errors else "no attempt made",
                "duration_s": round(time.monotonic() - started, 3),
            },
        )

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.endpoint!r}, retries={self.retries})"


# ---- retraining hook ----------------------------------------------------------------------


class RetrainHook:
    """Start retraining when an alert fires: run a command or call a Python function.

    A command gets the payload as JSON on stdin and the environment variables
    ``CYCLEML_ALERT_ID``, ``_MONITOR``, ``_RULE``, ``_KIND``, ``_METRIC``, ``_VALUE``,
    ``_THRESHOLD`` and ``_SEVERITY`` (all prefixed ``CYCLEML_ALERT``); exit code 0 is
    success. A function gets the payload; returning is success, raising is failure. Every
    run - what ran, for which alert, exit code, duration and output tail - is recorded in
    the audit log (``monitor.retrain_trigger``) through the engine's metadata store.

    The command should *start* retraining (submit a job, ``cycleml run ... &``) rather than
    train in the monitor's process. It is at-most-once: if the monitor dies while it runs,
    it is not run again.

    Args:
        command: The command as a list (no shell), e.g. ``["cycleml", "run", "train"]``.
        callable: Or a function taking the payload.
        on_repeat: Also run on re-notifications of a still-firing alert (default: only
            when an alert starts firing). ``resolved`` events never run it.
        timeout: Seconds a command may run (``None``: no limit).
        env: Extra environment variables for the command.
        cwd: The command's working directory.
        store: Where to audit runs when the caller passes no store.
    """

    guarantee: DeliveryGuarantee = "at-most-once"

    def __init__(
        self,
        command: Sequence[str] | None = None,
        callable: Callable[[Mapping[str, Any]], object] | None = None,
        *,
        on_repeat: bool = False,
        timeout: float | None = 600.0,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        store: MonitorRepository | None = None,
    ) -> None:
        if (command is None) == (callable is None):
            raise InvalidInput(
                "A retraining hook needs exactly one of command and callable "
                f"(got command={command!r}, callable={callable!r}).",
                hint='Pass command=["cycleml", "run", "train"] or callable=my_function.',
            )
        if command is not None and (
            isinstance(command, str | bytes)
            or not isinstance(command, Sequence)
            or not command
            or not all(isinstance(part, str) for part in command)
        ):
            raise InvalidInput(
                f"Invalid retraining command {command!r}: expected a non-empty list of strings.",
                hint='Split it into words, e.g. ["cycleml", "run", "train"] (no shell).',
            )
        if callable is not None and not builtins.callable(callable):
            raise InvalidInput(
                f"Invalid retraining callable {callable!r}: it cannot be called.",
                hint="Pass a function that takes the alert payload.",
            )
        self.command = None if command is None else tuple(command)
        self.function = callable
        self.on_repeat = bool(on_repeat)
        self.timeout = (
            None
            if timeout is None
            else _number(timeout, "retraining timeout", minimum=0.001, hint="Seconds, e.g. 600.")
        )
        self.env = dict(env or {})
        self.cwd = cwd
        self.store = store

    @property
    def description(self) -> str:
        """What runs, as the audit log records it."""
        if self.command is not None:
            return " ".join(self.command)
        function = self.function
        return (
            f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', function)}"
        )

    def send(
        self, payload: Mapping[str, Any], *, store: MonitorRepository | None = None
    ) -> Delivery:
        """Run the command or function for a firing alert; audit the run."""
        if payload.get("kind") != "fired":
            return Delivery("skipped", {"reason": "retraining runs when an alert fires"})
        if payload.get("repeat") and not self.on_repeat:
            return Delivery("skipped", {"reason": "a re-notification (on_repeat is off)"})
        started = time.monotonic()
        exit_code: int | None = None
        detail: dict[str, Any] = {"hook": self.description}
        try:
            if self.command is not None:
                exit_code = self._run(payload, detail)
                ok = exit_code == 0
            else:
                assert self.function is not None
                result = self.function(dict(payload))
                ok = True
                if result is not None:
                    detail["result"] = repr(result)[:_TAIL]
        except Exception as exc:  # the hook failed: record it, never raise
            ok = False
            detail["error"] = f"{type(exc).__name__}: {exc}"[:_TAIL]
        duration = time.monotonic() - started
        detail.update(exit_code=exit_code, duration_s=round(duration, 3))
        self._audit(store or self.store, payload, ok, exit_code, duration, detail)
        return Delivery("delivered" if ok else "failed", detail)

    def _run(self, payload: Mapping[str, Any], detail: dict[str, Any]) -> int:
        assert self.command is not None
        env = {
            **os.environ,
            **self.env,
            "CYCLEML_ALERT_ID": str(payload.get("id") or ""),
            "CYCLEML_ALERT_MONITOR": str(payload.get("monitor") or ""),
            "CYCLEML_ALERT_RULE": str(payload.get("rule") or ""),
            "CYCLEML_ALERT_KIND": str(payload.get("kind") or ""),
            "CYCLEML_ALERT_METRIC": str(payload.get("metric") or ""),
            "CYCLEML_ALERT_VALUE": str(payload.get("value")),
            "CYCLEML_ALERT_THRESHOLD": str(payload.get("threshold")),
            "CYCLEML_ALERT_SEVERITY": str(payload.get("severity") or ""),
        }
        try:
            done = subprocess.run(
                list(self.command),
                input=_encode(payload),
                capture_output=True,
                env=env,
                cwd=self.cwd,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            detail["stderr"] = _tail(exc.stderr)
            raise TimeoutError(f"the command ran longer than {self.timeout:g} s") from exc
        detail["stdout"] = _tail(done.stdout)
        detail["stderr"] = _tail(done.stderr)
        return int(done.returncode)

    def _audit(
        self,
        store: MonitorRepository | None,
        payload: Mapping[str, Any],
        ok: bool,
        exit_code: int | None,
        duration: float,
        detail: Mapping[str, Any],
    ) -> None:
        if store is None or not payload.get("monitor"):
            return
        try:
            store.record_retrain_trigger(
                str(payload["monitor"]),
                hook=self.description,
                ok=ok,
                duration_s=duration,
                rule_name=payload.get("rule"),
                event_id=payload.get("id"),
                exit_code=exit_code,
                detail={k: v for k, v in detail.items() if k != "hook"},
            )
        except (CycleMLError, OSError) as exc:  # the run happened; do not fail it now
            _log.error("Could not audit the retraining run for %s: %s", payload.get("id"), exc)

    def __repr__(self) -> str:
        return f"RetrainHook({self.description!r})"


def _tail(output: bytes | str | None) -> str:
    if output is None:
        return ""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    return text[-_TAIL:]


# ---- from a monitor's configuration ---------------------------------------------------------

_KEYS: dict[str, frozenset[str]] = {
    "log": frozenset({"kind", "logger"}),
    "webhook": frozenset({"kind", "url", "timeout", "retries", "backoff", "headers"}),
    "retrain": frozenset({"kind", "command", "on_repeat", "timeout", "env", "cwd"}),
}


def notifier_from_config(name: str, spec: Mapping[str, Any]) -> Notifier:
    """Build the notifier a monitor configuration describes under ``notifications``.

    ``{"kind": "log"}``, ``{"kind": "webhook", "url": ..., "timeout": 5, "retries": 3,
    "backoff": 0.5, "headers": {...}}`` or ``{"kind": "retrain", "command": [...],
    "on_repeat": false, "timeout": 600, "env": {...}, "cwd": ...}``.

    Raises:
        InvalidInput: An unknown kind or setting, or a bad value.
    """
    kind = spec.get("kind") if isinstance(spec, Mapping) else None
    if kind not in _KEYS:
        raise InvalidInput(
            f"Notifier {name!r} has kind {kind!r}.",
            hint=f"Give each notifier a kind: {', '.join(_KEYS)}.",
        )
    unknown = sorted(set(spec) - _KEYS[kind])
    if unknown:
        raise InvalidInput(
            f"Notifier {name!r} ({kind}) has unknown setting {unknown[0]!r}.",
            hint=f"Settings of a {kind} notifier: {', '.join(sorted(_KEYS[kind]))}.",
        )
    options = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "log":
        return LogNotifier(**options)
    if kind == "webhook":
        if "url" not in options:
            raise InvalidInput(
                f"Webhook notifier {name!r} has no url.", hint="Add url: https://..."
            )
        return WebhookNotifier(options.pop("url"), **options)
    if "command" not in options:
        raise InvalidInput(
            f"Retraining hook {name!r} has no command.",
            hint='Give the command as a list, e.g. ["cycleml", "run", "train"].',
        )
    return RetrainHook(options.pop("command"), **options)
