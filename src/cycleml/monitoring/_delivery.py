"""The state machine of an alert's deliveries, pure: no SQL, no clock, no I/O.

Each notifier of an event has one delivery::

    pending --claim--> sending --finish--> delivered | failed | skipped | unknown

- :func:`claim_delivery`: a ``pending`` delivery can be claimed; a ``sending`` one only
  once its claim is older than the caller's lease (``stale_after_ms``: its sender is
  presumed dead). At-least-once notifiers pass their lease and are sent again; at-most-once
  ones pass ``None``, so a delivery whose sender died is never claimed twice (the engine
  gives it up as ``unknown`` instead). A final delivery is never claimed.
- :func:`finish_delivery`: a delivery is finished once, into a final status, by the sender
  holding its claim; a ``pending`` one can be finished without a claim (never sent, e.g. a
  notifier not configured), and any open one can be given up as ``unknown``.
- :func:`deliveries_open`: an event stays *pending* while any of its deliveries is open.

The caller (:mod:`cycleml.monitoring._sql_alerts`) reads the event row under a lock, calls
these with the time and a fresh claim token, and writes the result in the same transaction:
the claim is a compare-and-set, so two processes never both send one delivery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cycleml.errors import InvalidInput, InvalidState
from cycleml.store import json_safe

__all__ = [
    "DELIVERY_STATUSES",
    "FINAL_STATUSES",
    "OPEN_STATUSES",
    "AlertDelivery",
    "DeliveryStatus",
    "check_final_status",
    "claim_delivery",
    "deliveries_open",
    "delivery_from_dict",
    "finish_delivery",
    "new_deliveries",
]

#: Where a delivery stands; the last four are final.
DeliveryStatus = Literal["pending", "sending", "delivered", "failed", "skipped", "unknown"]
DELIVERY_STATUSES: tuple[str, ...] = (
    "pending",
    "sending",
    "delivered",
    "failed",
    "skipped",
    "unknown",
)
#: The statuses a delivery ends in; it never leaves them.
FINAL_STATUSES = frozenset({"delivered", "failed", "skipped", "unknown"})
#: The statuses that keep an event pending.
OPEN_STATUSES = frozenset({"pending", "sending"})


@dataclass(frozen=True)
class AlertDelivery:
    """One notifier's delivery of one event.

    ``claim`` identifies the sender holding it while ``sending``; ``attempts`` counts the
    claims; ``detail`` is what the notifier reported (status code, exit code, error ...).
    """

    notifier: str
    status: str
    attempts: int = 0
    claim: str | None = None
    claimed_at: int | None = None
    finished_at: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """True once delivered, failed, skipped or given up as unknown."""
        return self.status in FINAL_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(json_safe(dict(self.__dict__)))


def delivery_from_dict(notifier: str, data: Mapping[str, Any]) -> AlertDelivery:
    """A delivery as an event stores it (:meth:`AlertDelivery.to_dict`), read back."""
    return AlertDelivery(
        notifier=notifier,
        status=str(data.get("status", "pending")),
        attempts=int(data.get("attempts") or 0),
        claim=data.get("claim"),
        claimed_at=data.get("claimed_at"),
        finished_at=data.get("finished_at"),
        detail=dict(data.get("detail") or {}),
    )


def new_deliveries(notifiers: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The deliveries a new event starts with: one ``pending`` per notifier, as stored."""
    return {name: AlertDelivery(name, "pending").to_dict() for name in notifiers}


def deliveries_open(deliveries: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether an event with these (stored) deliveries is still pending: any is open."""
    return any(d.get("status") in OPEN_STATUSES for d in deliveries.values())


def claim_delivery(
    current: AlertDelivery, *, now: int, claim: str, stale_after_ms: int | None = None
) -> AlertDelivery | None:
    """The delivery ``current`` becomes when a sender claims it at ``now`` (ms), or ``None``
    when it cannot be claimed.

    Args:
        current: The delivery as stored.
        now: The time of the claim; it becomes ``claimed_at``.
        claim: The new claim's token (the sender finishes the delivery with it).
        stale_after_ms: How old a ``sending`` claim must be to be taken over; ``None``
            never takes one over.

    Returns:
        ``None`` for a final delivery, or one being sent under a claim that is not stale;
        otherwise the delivery ``sending`` under ``claim``, with one more attempt.
    """
    if current.status == "sending":
        claimed = int(current.claimed_at or 0)
        if stale_after_ms is None or now - claimed < stale_after_ms:
            return None
    elif current.status != "pending":
        return None
    return AlertDelivery(
        notifier=current.notifier,
        status="sending",
        attempts=current.attempts + 1,
        claim=claim,
        claimed_at=now,
        detail=dict(current.detail),
    )


def check_final_status(status: object) -> str:
    """A status a delivery can be finished with (one of :data:`FINAL_STATUSES`)."""
    if status not in FINAL_STATUSES:
        raise InvalidInput(
            f"Invalid delivery status {status!r}: expected one of "
            f"{', '.join(sorted(FINAL_STATUSES))}.",
            hint="Claim a delivery with claim_alert_delivery before sending it.",
        )
    assert isinstance(status, str)
    return status


def finish_delivery(
    event_id: str,
    current: AlertDelivery,
    status: str,
    *,
    now: int,
    claim: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AlertDelivery:
    """The delivery ``current`` becomes when it ends with ``status`` at ``now`` (ms).

    ``claim`` must be the token the sender claimed it with, unless the delivery is still
    ``pending`` (finished without being sent) or is given up as ``unknown``. The attempts
    and the claim are kept; ``detail`` replaces what was there.

    Raises:
        InvalidInput: ``status`` is not final.
        InvalidState: The delivery is already final, or claimed by another sender.
    """
    check_final_status(status)
    if current.final:
        raise InvalidState(
            f"The delivery of alert event {event_id} to {current.notifier!r} is already "
            f"{current.status}.",
            hint="A delivery is finished once.",
        )
    if (
        current.status == "sending"
        and status != "unknown"
        and (claim is None or claim != current.claim)
    ):
        raise InvalidState(
            f"The delivery of alert event {event_id} to {current.notifier!r} is claimed by "
            "another sender.",
            hint="Its claim went stale and was taken over; the new sender records it.",
        )
    return AlertDelivery(
        notifier=current.notifier,
        status=status,
        attempts=current.attempts,
        claim=current.claim,
        claimed_at=current.claimed_at,
        finished_at=now,
        detail=dict(detail or {}),
    )
