"""A batch that meets a concurrent writer (a second consumer, an HTTP command, a timer) is redone
against what is stored, in halves, so that what does not conflict gets through and what does is
judged on the rival's change."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest

from gcp_app.application import GiftCertificates
from gcp_app.errors import ConcurrentUpdate
from gcp_app.inbound import InboundBatches, Outcome
from gcp_app.inbound import builders as build
from gcp_app.inbound.batches import CONFLICT_RETRIES
from gcp_app.use_cases import LockCertificate, UnlockCertificate
from gcp_domain import Cause, CertificateState

A = Outcome.APPLIED
SUPPORT = Cause("support:anna", "req-lock", "case-1")


class RivalBeforeSave:
    """The application's store, except that another writer changes `certificate_id` just
    before a save of the matcher that changes it too (`times` saves; None: every one)."""

    def __init__(
        self,
        app: GiftCertificates,
        certificate_id: UUID,
        rival: Callable[[], None],
        times: int | None,
    ) -> None:
        self._store = app.store
        self._certificate_id = certificate_id
        self._rival = rival
        self.times = times
        self.saves: list[int] = []  # how many aggregates each save attempt held

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def save(self, *objects: Any, **kwargs: Any) -> Any:
        self.saves.append(len(objects))
        touches = any(getattr(o, "id", None) == self._certificate_id for o in objects)
        if touches and self.times != 0:
            self.times = None if self.times is None else self.times - 1
            self._rival()
        return self._store.save(*objects, **kwargs)


def rivalled(app: GiftCertificates, store: RivalBeforeSave) -> Any:
    """The application whose inbound batches save through `store`."""
    return SimpleNamespace(
        store=store, pool_index=app.pool_index, use_cases=app.use_cases, settings=app.settings
    )


def redemptions(gcp: Any, order_id: str, number: str, amount: str) -> list[Any]:
    return [
        gcp.envelopes(build.order(order_id, redemptions=[build.redemption_line(number, amount)])),
        gcp.envelopes(build.redemption_payment(order_id, f"PAY-{order_id}", number, amount)),
    ]


def test_a_redo_is_judged_on_the_rivals_change(gcp: Any) -> None:
    contested, _ = gcp.sell("5000.00")
    other, _ = gcp.sell("3000.00")
    cid = contested.certificate_id

    def lock() -> None:
        gcp.lock(cid)

    store = RivalBeforeSave(gcp.app, cid, lock, times=1)
    gcp.matcher = InboundBatches(rivalled(gcp.app, store))
    batch = [
        *redemptions(gcp, "POS-1", contested.number, "1000.00"),
        *redemptions(gcp, "POS-2", other.number, "500.00"),
    ]

    assert gcp.handle(batch) == [A, A, A, A]

    # The first attempt lost to the lock; the redo saw it and refused the redemption.
    assert gcp.certificate(cid).state is CertificateState.LOCKED
    assert gcp.certificate(cid).balance == Decimal("5000.00")
    assert gcp.object(cid)["reason"] == "LOCKED"
    assert gcp.certificate(other.certificate_id).balance == Decimal("2500.00")
    assert gcp.matcher.conflicts == 1
    assert gcp.handle(batch) == [Outcome.ALREADY_CONSUMED] * 4


def test_what_keeps_conflicting_fails_alone_and_the_rest_is_stored(gcp: Any) -> None:
    contested, _ = gcp.sell("5000.00")
    other, _ = gcp.sell("3000.00")
    cid = contested.certificate_id
    locked = False

    def lock_or_unlock() -> None:  # every save that redeems the contested certificate loses
        nonlocal locked
        change = UnlockCertificate if locked else LockCertificate
        gcp.app.execute(
            change(certificate_id=cid, reason="flapping", by="support:anna", cause=SUPPORT)
        )
        locked = not locked

    store = RivalBeforeSave(gcp.app, cid, lock_or_unlock, times=None)
    gcp.matcher = InboundBatches(rivalled(gcp.app, store))
    batch = [
        *redemptions(gcp, "POS-2", other.number, "500.00"),
        *redemptions(gcp, "POS-1", contested.number, "1000.00"),
    ]

    with pytest.raises(ConcurrentUpdate):
        gcp.handle(batch)

    # The whole batch, its second half, then its last message 1 + CONFLICT_RETRIES times.
    assert gcp.matcher.conflicts == 3 + CONFLICT_RETRIES
    # Redoing the whole batch again and again would have stored nothing.
    assert gcp.certificate(other.certificate_id).balance == Decimal("2500.00")
    assert gcp.certificate(cid).balance == Decimal("5000.00")

    # The rival gone (unlocked), the consumer's retry of the batch applies the rest once.
    store.times = 0
    if locked:
        lock_or_unlock()
    assert gcp.handle(batch) == [Outcome.ALREADY_CONSUMED] * 3 + [A]
    assert gcp.certificate(cid).balance == Decimal("4000.00")
    assert gcp.certificate(other.certificate_id).balance == Decimal("2500.00")
