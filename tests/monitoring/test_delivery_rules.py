"""The alert delivery state machine on its own: claims, leases, finishing, pending events.

Pure functions of plain values (no database, no clock); the repository suite
(test_monitor_repository.py) checks that the store applies them under its row lock.
"""

from __future__ import annotations

from typing import Any

import pytest

from cycleml.errors import InvalidInput, InvalidState
from cycleml.monitoring import AlertDelivery as PublicAlertDelivery
from cycleml.monitoring._delivery import (
    DELIVERY_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    AlertDelivery,
    check_final_status,
    claim_delivery,
    deliveries_open,
    delivery_from_dict,
    finish_delivery,
    new_deliveries,
)
from cycleml.monitoring._sql_alerts import AlertDelivery as StoredAlertDelivery

EVENT = "e" * 32
LEASE = 60_000


def _sending(claimed_at: int = 1_000, claim: str = "a" * 32) -> AlertDelivery:
    return AlertDelivery("ops", "sending", attempts=1, claim=claim, claimed_at=claimed_at)


def test_statuses_split_into_open_and_final() -> None:
    assert set(DELIVERY_STATUSES) == OPEN_STATUSES | FINAL_STATUSES
    assert not OPEN_STATUSES & FINAL_STATUSES
    assert PublicAlertDelivery is AlertDelivery is StoredAlertDelivery  # one class, re-exported


@pytest.mark.parametrize("status", DELIVERY_STATUSES)
def test_final(status: str) -> None:
    assert AlertDelivery("ops", status).final is (status in FINAL_STATUSES)


def test_new_deliveries_start_pending_and_round_trip() -> None:
    stored = new_deliveries(["ops", "log"])
    assert list(stored) == ["ops", "log"]
    assert {name: d["status"] for name, d in stored.items()} == {"ops": "pending", "log": "pending"}
    assert delivery_from_dict("ops", stored["ops"]) == AlertDelivery("ops", "pending")
    assert deliveries_open(stored)
    assert new_deliveries([]) == {}
    assert not deliveries_open({})


def test_delivery_from_dict_reads_a_stored_delivery() -> None:
    delivery = AlertDelivery("ops", "delivered", 2, "c" * 32, 5, 9, {"status_code": 200})
    assert delivery_from_dict("ops", delivery.to_dict()) == delivery
    assert delivery_from_dict("ops", {}) == AlertDelivery("ops", "pending")


@pytest.mark.parametrize(
    ("statuses", "open_"),
    [
        (["delivered", "failed"], False),
        (["delivered", "pending"], True),
        (["skipped", "sending"], True),
        (["unknown"], False),
    ],
)
def test_deliveries_open_while_any_is_open(statuses: list[str], open_: bool) -> None:
    deliveries: dict[str, dict[str, Any]] = {
        f"n{i}": {"status": status} for i, status in enumerate(statuses)
    }
    assert deliveries_open(deliveries) is open_


# ---- claims ----------------------------------------------------------------------------------


def test_claim_a_pending_delivery() -> None:
    current = AlertDelivery("ops", "pending", detail={"note": "kept"})
    claimed = claim_delivery(current, now=5_000, claim="b" * 32)
    assert claimed == AlertDelivery(
        "ops", "sending", attempts=1, claim="b" * 32, claimed_at=5_000, detail={"note": "kept"}
    )


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_final_delivery_is_never_claimed(status: str) -> None:
    current = AlertDelivery("ops", status, attempts=1)
    assert claim_delivery(current, now=10**12, claim="b" * 32, stale_after_ms=0) is None


def test_a_live_claim_is_not_taken_over() -> None:
    current = _sending(claimed_at=1_000)
    assert (
        claim_delivery(current, now=1_000 + LEASE - 1, claim="b" * 32, stale_after_ms=LEASE) is None
    )


def test_a_stale_claim_is_taken_over_with_one_more_attempt() -> None:
    current = _sending(claimed_at=1_000)
    claimed = claim_delivery(current, now=1_000 + LEASE, claim="b" * 32, stale_after_ms=LEASE)
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.claim, claimed.claimed_at) == (
        "sending",
        2,
        "b" * 32,
        1_000 + LEASE,
    )


def test_without_a_lease_a_claim_is_never_taken_over() -> None:
    # at-most-once notifiers pass no lease: a dead sender's delivery is given up, not resent
    assert claim_delivery(_sending(claimed_at=0), now=10**12, claim="b" * 32) is None


# ---- finishing -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_check_final_status_accepts_final_ones(status: str) -> None:
    assert check_final_status(status) == status


@pytest.mark.parametrize("status", ["pending", "sending", "done", None])
def test_check_final_status_refuses_the_others(status: object) -> None:
    with pytest.raises(InvalidInput, match="expected one of delivered, failed, skipped, unknown"):
        check_final_status(status)


def test_the_claim_holder_finishes_a_delivery() -> None:
    finished = finish_delivery(
        EVENT, _sending(), "delivered", now=2_000, claim="a" * 32, detail={"status_code": 200}
    )
    assert finished == AlertDelivery(
        "ops", "delivered", 1, "a" * 32, 1_000, 2_000, {"status_code": 200}
    )


@pytest.mark.parametrize("claim", [None, "b" * 32])
def test_another_sender_cannot_finish_a_claimed_delivery(claim: str | None) -> None:
    with pytest.raises(InvalidState, match="is claimed by another sender") as info:
        finish_delivery(EVENT, _sending(), "failed", now=2_000, claim=claim)
    assert info.value.message.startswith(f"The delivery of alert event {EVENT} to 'ops'")


def test_a_claimed_delivery_can_be_given_up_as_unknown() -> None:
    finished = finish_delivery(EVENT, _sending(), "unknown", now=2_000, detail={"reason": "died"})
    assert (finished.status, finished.attempts, finished.finished_at) == ("unknown", 1, 2_000)
    assert finished.detail == {"reason": "died"}


def test_a_pending_delivery_is_finished_without_a_claim() -> None:
    finished = finish_delivery(EVENT, AlertDelivery("ops", "pending"), "failed", now=3)
    assert finished == AlertDelivery("ops", "failed", finished_at=3)


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_delivery_is_finished_once(status: str) -> None:
    current = AlertDelivery("ops", status, attempts=1, claim="a" * 32)
    with pytest.raises(InvalidState, match=f"is already {status}") as info:
        finish_delivery(EVENT, current, "delivered", now=9, claim="a" * 32)
    assert info.value.hint == "A delivery is finished once."


def test_finish_refuses_a_status_that_is_not_final() -> None:
    with pytest.raises(InvalidInput, match="Invalid delivery status 'sending'"):
        finish_delivery(EVENT, _sending(), "sending", now=9, claim="a" * 32)
