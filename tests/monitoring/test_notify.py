"""Notifiers: the log, a webhook (against a real HTTP server on loopback), retraining hooks.

Tests that touch the metadata store run on SQLite and PostgreSQL (see tests/conftest.py).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cycleml.errors import InvalidInput
from cycleml.monitoring import (
    AlertEngine,
    AlertRule,
    LogNotifier,
    MonitorRepository,
    RetrainHook,
    SqlMonitorRepository,
    WebhookNotifier,
    notifier_from_config,
)
from cycleml.registry import ModelRepository
from cycleml.store import Database

from .conftest import Receiver

PAYLOAD: dict[str, Any] = {
    "version": 1,
    "id": "f" * 32,
    "kind": "fired",
    "repeat": False,
    "monitor": "mon",
    "rule": "drift",
    "metric": "drift_share",
    "operator": ">",
    "value": 0.5,
    "threshold": 0.3,
    "severity": "critical",
    "consecutive": 1,
    "time": "1970-01-01T00:00:01.000Z",
    "time_ms": 1000,
    "window_end": None,
    "evaluation_id": None,
    "summary": "drift_share = 0.5 > 0.3 for 1 window (monitor mon, rule drift)",
    "links": {},
}


# The webhook receiver (a real HTTP server on loopback) is in conftest.py.


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sleeps(list[float]):
    """Records the back-off instead of waiting it out."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# ---- webhook --------------------------------------------------------------------------------


def test_webhook_posts_the_payload(receiver: Receiver) -> None:
    hook = WebhookNotifier(receiver.url, headers={"Authorization": "Bearer abc"})
    delivery = hook.send(PAYLOAD)
    assert delivery.status == "delivered"
    assert delivery.ok
    assert delivery.detail["status_code"] == 200
    assert delivery.detail["attempts"] == 1
    assert delivery.detail["endpoint"] == receiver.url.split("/hooks")[0]
    [(headers, body)] = receiver.requests
    assert body == PAYLOAD
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == headers["X-CycleML-Event"] == "f" * 32
    assert headers["Authorization"] == "Bearer abc"
    assert headers["User-Agent"].startswith("cycleml/")
    assert "s3cr3t" not in repr(hook)  # the URL path may be a secret: never shown


def test_webhook_retries_server_errors_with_backoff(receiver: Receiver) -> None:
    receiver.script = [503, 500, 429]
    sleeps = Sleeps()
    delivery = WebhookNotifier(receiver.url, retries=3, backoff=0.5, sleep=sleeps).send(PAYLOAD)
    assert delivery.status == "delivered"
    assert delivery.detail["attempts"] == 4
    assert [e.split(":")[0] for e in delivery.detail["errors"]] == [
        "HTTP 503",
        "HTTP 500",
        "HTTP 429",
    ]
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(receiver.requests) == 4
    assert all(body["id"] == PAYLOAD["id"] for _, body in receiver.requests)


def test_webhook_really_waits_between_attempts(receiver: Receiver) -> None:
    receiver.script = [502, 502]
    started = time.monotonic()
    delivery = WebhookNotifier(receiver.url, retries=2, backoff=0.05).send(PAYLOAD)
    assert delivery.status == "delivered"
    assert time.monotonic() - started >= 0.15  # 0.05 + 0.1


def test_webhook_retries_dropped_connections_and_timeouts(receiver: Receiver) -> None:
    receiver.script = ["drop", ("slow", 1.0)]
    sleeps = Sleeps()
    hook = WebhookNotifier(receiver.url, timeout=0.3, retries=2, sleep=sleeps)
    delivery = hook.send(PAYLOAD)
    assert delivery.status == "delivered"
    assert delivery.detail["attempts"] == 3
    first, second = delivery.detail["errors"]
    assert "RemoteProtocolError" in first or "ReadError" in first
    assert "Timeout" in second
    assert len(sleeps) == 2


def test_webhook_gives_up_without_raising(receiver: Receiver) -> None:
    receiver.script = [503] * 10
    sleeps = Sleeps()
    delivery = WebhookNotifier(receiver.url, retries=2, sleep=sleeps).send(PAYLOAD)
    assert delivery.status == "failed"
    assert not delivery.ok
    assert (delivery.detail["attempts"], delivery.detail["status_code"]) == (3, 503)
    assert delivery.detail["error"].startswith("HTTP 503")
    assert len(receiver.requests) == 3


def test_webhook_does_not_retry_a_refusal(receiver: Receiver) -> None:
    receiver.script = [400]
    sleeps = Sleeps()
    delivery = WebhookNotifier(receiver.url, sleep=sleeps).send(PAYLOAD)
    assert delivery.status == "failed"
    assert delivery.detail["attempts"] == 1
    assert sleeps == []


def test_webhook_to_a_closed_port() -> None:
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{_closed_port()}/x"
    delivery = WebhookNotifier(url, retries=1, sleep=sleeps).send(PAYLOAD)
    assert delivery.status == "failed"
    assert delivery.detail["attempts"] == 2
    assert delivery.detail["status_code"] is None
    assert "ConnectError" in delivery.detail["error"]


def test_webhook_payload_with_infinity(receiver: Receiver) -> None:
    delivery = WebhookNotifier(receiver.url).send({**PAYLOAD, "value": float("inf")})
    assert delivery.ok
    assert receiver.requests[0][1]["value"] == "Infinity"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"url": "ftp://host/x"}, "webhook URL"),
        ({"url": "hooks.example.com"}, "webhook URL"),
        ({"url": "http://"}, "webhook URL"),
        ({"url": "http://h", "retries": -1}, "retries"),
        ({"url": "http://h", "retries": 1.5}, "retries"),
        ({"url": "http://h", "timeout": 0}, "timeout"),
        ({"url": "http://h", "backoff": -1}, "backoff"),
        ({"url": "http://h", "headers": {"X": 1}}, "headers"),
    ],
)
def test_bad_webhooks(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        WebhookNotifier(kwargs.pop("url"), **kwargs)
    assert info.value.hint


@pytest.fixture
def monitored(
    db: Database, model_repo: ModelRepository, monitor_repo: MonitorRepository
) -> MonitorRepository:
    """A store with monitor ``mon`` (on ``models:/m/1``)."""
    model_repo.create_registered_model("m")
    model_repo.create_model_version("m", source="s3://bucket/m/1")
    monitor_repo.create_monitor("mon", "models:/m/1")
    return monitor_repo


def test_engine_with_a_webhook_that_fails_first(
    monitored: MonitorRepository, receiver: Receiver, metadata_uri: str
) -> None:
    receiver.script = [503, 503]
    rule = AlertRule("drift", "drift_share", ">", 0.3, notify=("ops",))
    hook = WebhookNotifier(receiver.url, retries=3, backoff=0.01)
    [event] = AlertEngine(monitored, {"ops": hook}).process(
        "mon", [rule], {"drift_share": 0.5}, window_end=1
    )
    assert event.deliveries == {"ops": "delivered"}
    assert len(receiver.requests) == 3
    stored = monitored.get_alert_event(str(event.id)).deliveries["ops"]
    assert stored.detail["attempts"] == 3
    assert "s3cr3t" not in json.dumps(stored.detail)  # only scheme and host are kept

    # restart: a new repository and engine on the same database, same breaching value
    with SqlMonitorRepository(Database(metadata_uri, actor="monitor")) as again:
        fresh = WebhookNotifier(receiver.url, retries=3, backoff=0.01)
        assert (
            AlertEngine(again, {"ops": fresh}).process(
                "mon", [rule], {"drift_share": 0.5}, window_end=2
            )
            == []
        )
    assert len(receiver.requests) == 3  # nothing more was sent


# ---- log --------------------------------------------------------------------------------------


def test_log_notifier_levels(caplog: pytest.LogCaptureFixture) -> None:
    notifier = LogNotifier("test.alerts")
    with caplog.at_level(logging.DEBUG, logger="test.alerts"):
        notifier.send(PAYLOAD)
        notifier.send({**PAYLOAD, "severity": "info"})
        notifier.send({**PAYLOAD, "severity": "warning", "repeat": True})
        delivery = notifier.send({**PAYLOAD, "kind": "resolved"})
    assert delivery.detail == {"logger": "test.alerts", "level": logging.INFO}
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records] == [
        (logging.ERROR, "Alert fired"),
        (logging.INFO, "Alert fired"),
        (logging.WARNING, "Alert still firing"),
        (logging.INFO, "Alert resolved"),
    ]
    assert caplog.records[0].alert == PAYLOAD  # type: ignore[attr-defined]
    assert repr(notifier) == "LogNotifier('test.alerts')"


def test_a_broken_log_handler_is_a_failed_delivery() -> None:
    class Broken(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise OSError("disk full")

        def handleError(self, record: logging.LogRecord) -> None:
            raise OSError("disk full")

    logger = logging.getLogger("test.broken")
    logger.addHandler(Broken())
    logger.propagate = False
    try:
        delivery = LogNotifier(logger).send(PAYLOAD)
    finally:
        logger.handlers.clear()
        logger.propagate = True
    assert delivery.status == "failed"
    assert delivery.detail == {"error": "OSError: disk full"}


# ---- retraining hook --------------------------------------------------------------------------

WRITER = (
    "import json, os, sys; event = json.load(sys.stdin); "
    "env = {k: v for k, v in os.environ.items() if k.startswith('CYCLEML_ALERT_')}; "
    "open(os.environ['OUT'], 'w').write(json.dumps({'event': event, 'env': env})); "
    "print('retraining started'); sys.exit(int(os.environ.get('CODE', '0')))"
)


def test_retrain_command(monitored: MonitorRepository, tmp_path: Path, db: Database) -> None:
    out = tmp_path / "trigger.json"
    hook = RetrainHook([sys.executable, "-c", WRITER], env={"OUT": str(out)})
    assert hook.guarantee == "at-most-once"
    delivery = hook.send(PAYLOAD, store=monitored)
    assert delivery.status == "delivered"
    assert delivery.detail["exit_code"] == 0
    assert delivery.detail["stdout"].strip() == "retraining started"
    written = json.loads(out.read_text())
    assert written["event"] == PAYLOAD
    assert written["env"] == {
        "CYCLEML_ALERT_ID": "f" * 32,
        "CYCLEML_ALERT_MONITOR": "mon",
        "CYCLEML_ALERT_RULE": "drift",
        "CYCLEML_ALERT_KIND": "fired",
        "CYCLEML_ALERT_METRIC": "drift_share",
        "CYCLEML_ALERT_VALUE": "0.5",
        "CYCLEML_ALERT_THRESHOLD": "0.3",
        "CYCLEML_ALERT_SEVERITY": "critical",
    }
    [audit] = db.list_audit(entity_id="mon", action="monitor.retrain_trigger")
    assert audit.payload["ok"] is True
    assert audit.payload["exit_code"] == 0
    assert audit.payload["hook"].startswith(sys.executable)
    assert audit.payload["event_id"] == "f" * 32
    assert audit.payload["rule"] == "drift"
    assert audit.payload["duration_s"] > 0
    assert audit.payload["detail"]["stdout"].strip() == "retraining started"


def test_retrain_command_failures_are_recorded(
    monitored: MonitorRepository, tmp_path: Path, db: Database
) -> None:
    failing = RetrainHook(
        [sys.executable, "-c", WRITER], env={"OUT": str(tmp_path / "x"), "CODE": "3"}
    )
    assert failing.send(PAYLOAD, store=monitored).detail["exit_code"] == 3
    missing = RetrainHook([str(tmp_path / "no-such-program")], store=monitored)
    gone = missing.send(PAYLOAD)  # audited through the hook's own store
    assert gone.status == "failed"
    assert "FileNotFoundError" in gone.detail["error"]
    slow = RetrainHook([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
    started = time.monotonic()
    late = slow.send(PAYLOAD, store=monitored)
    assert time.monotonic() - started < 4
    assert late.status == "failed"
    assert "longer than 0.2 s" in late.detail["error"]
    audits = db.list_audit(entity_id="mon", action="monitor.retrain_trigger")
    assert [(a.payload["ok"], a.payload["exit_code"]) for a in audits] == [
        (False, 3),
        (False, None),
        (False, None),
    ]


def test_retrain_callable(monitored: MonitorRepository, db: Database) -> None:
    seen: list[Any] = []
    hook = RetrainHook(callable=seen.append)
    assert hook.send(PAYLOAD, store=monitored).status == "delivered"
    assert seen == [PAYLOAD]

    def boom(payload: Any) -> None:
        raise RuntimeError("no GPU")

    failed = RetrainHook(callable=boom).send(PAYLOAD, store=monitored)
    assert failed.status == "failed"
    assert failed.detail["error"] == "RuntimeError: no GPU"
    audits = db.list_audit(entity_id="mon", action="monitor.retrain_trigger")
    assert [a.payload["ok"] for a in audits] == [True, False]
    assert audits[1].payload["hook"].endswith("boom")


def test_retrain_runs_when_an_alert_starts_firing() -> None:
    calls: list[Any] = []
    hook = RetrainHook(callable=calls.append)
    assert hook.send({**PAYLOAD, "kind": "resolved"}).status == "skipped"
    assert hook.send({**PAYLOAD, "repeat": True}).status == "skipped"
    assert calls == []
    assert RetrainHook(callable=calls.append, on_repeat=True).send({**PAYLOAD, "repeat": True}).ok
    assert len(calls) == 1


def test_retrain_hook_through_the_engine(
    monitored: MonitorRepository, tmp_path: Path, db: Database
) -> None:
    out = tmp_path / "trigger.json"
    hook = RetrainHook([sys.executable, "-c", WRITER], env={"OUT": str(out)})
    rule = AlertRule("drift", "drift_share", ">", 0.3, notify=("log", "retrain"))
    engine = AlertEngine(monitored, {"retrain": hook})
    [fired] = engine.process("mon", [rule], {"drift_share": 0.5})
    assert fired.deliveries == {"log": "delivered", "retrain": "delivered"}
    assert json.loads(out.read_text())["event"]["id"] == fired.id
    [resolved] = engine.process("mon", [rule], {"drift_share": 0.1})
    assert resolved.deliveries == {"log": "delivered", "retrain": "skipped"}
    audits = db.list_audit(entity_id="mon", action="monitor.retrain_trigger")
    assert [a.payload["event_id"] for a in audits] == [fired.id]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of command and callable"),
        ({"command": ["x"], "callable": print}, "exactly one"),
        ({"command": "retrain.sh --now"}, "list of strings"),
        ({"command": []}, "list of strings"),
        ({"command": ["x", 1]}, "list of strings"),
        ({"callable": 3}, "cannot be called"),
        ({"command": ["x"], "timeout": 0}, "timeout"),
    ],
)
def test_bad_retrain_hooks(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        RetrainHook(**kwargs)
    assert info.value.hint


# ---- from configuration -----------------------------------------------------------------------


def test_notifiers_from_config() -> None:
    log = notifier_from_config("log", {"kind": "log", "logger": "x.y"})
    assert isinstance(log, LogNotifier)
    assert log.logger.name == "x.y"
    hook = notifier_from_config(
        "ops", {"kind": "webhook", "url": "https://h.example/x", "retries": 1, "timeout": 2}
    )
    assert isinstance(hook, WebhookNotifier)
    assert (hook.retries, hook.timeout, hook.endpoint) == (1, 2.0, "https://h.example")
    retrain = notifier_from_config(
        "retrain", {"kind": "retrain", "command": ["cycleml", "run"], "on_repeat": True}
    )
    assert isinstance(retrain, RetrainHook)
    assert (retrain.command, retrain.on_repeat) == (("cycleml", "run"), True)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "pager"}, "kind 'pager'"),
        ("webhook", "kind None"),
        ({"kind": "webhook"}, "has no url"),
        ({"kind": "retrain"}, "has no command"),
        ({"kind": "webhook", "url": "http://h", "retry": 3}, "unknown setting 'retry'"),
        ({"kind": "webhook", "url": "nope"}, "webhook URL"),
    ],
)
def test_bad_notifier_config(spec: Any, match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as info:
        notifier_from_config("n", spec)
    assert info.value.hint
