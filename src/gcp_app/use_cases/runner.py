"""Every certificate change goes through here: a command, its use case, a unit of work.

`UseCases.execute(command)` serves one request alone (HTTP, CLI, timers): it loads what the use
case needs from the store, runs it, saves the changes in one transaction, and on a concurrent
write to the same certificate does it all again on the fresh state, so the rules are checked
against what is really stored. `UseCases.run(work, command)` runs it within a unit of work the
caller commits (the inbound matching: a whole Kafka batch in one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

from eventsourcing.persistence import IntegrityError

from gcp_app.errors import ConcurrentUpdate
from gcp_app.store import EventStore
from gcp_app.use_cases import expiring, locking, notifying, redeeming, refunding, selling
from gcp_app.use_cases.command import Command, Context, Handler
from gcp_app.use_cases.unit_of_work import StoreUnitOfWork, UnitOfWork

R = TypeVar("R")

# How often `execute` re-reads and runs again after a concurrent writer changed the same
# certificate.
CONFLICT_RETRIES: Final = 5

# Each command, its use case. A command with no entry is refused, never run as another.
HANDLERS: Final[Mapping[type[Command[Any]], Handler]] = {
    selling.IssueCertificate: selling.issue_certificate,
    selling.ReleaseReservation: selling.release_reservation,
    selling.ReleaseLapsedReservation: selling.release_lapsed_reservation,
    selling.CancelCertificate: selling.cancel_certificate,
    notifying.RequestNotification: notifying.request_notification,
    notifying.RecordNotificationResult: notifying.record_notification_result,
    notifying.DiscloseCvc: notifying.disclose_cvc,
    notifying.RecordCvcLockout: notifying.record_cvc_lockout,
    redeeming.Redeem: redeeming.redeem,
    redeeming.RejectRedemption: redeeming.reject_redemption,
    redeeming.ReverseRedemption: redeeming.reverse_redemption,
    refunding.RecordRefundStep: refunding.record_refund_step,
    locking.LockCertificate: locking.lock_certificate,
    locking.UnlockCertificate: locking.unlock_certificate,
    expiring.ExpireCertificate: expiring.expire_certificate,
}


class UseCases:
    def __init__(self, store: EventStore, context: Context) -> None:
        self._store = store
        self.context = context

    def run(self, work: UnitOfWork, command: Command[R]) -> R:
        """Runs the command's use case on `work`; the caller commits `work`."""
        handler = HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"no use case for {type(command).__name__}")
        result: R = handler(self.context, work, command)
        return result

    def execute(self, command: Command[R]) -> R:
        """Runs the command's use case alone: one transaction, redone on a conflict."""
        for _ in range(CONFLICT_RETRIES):
            work = StoreUnitOfWork(self._store)
            result = self.run(work, command)
            changed = work.changed()
            if not changed:
                return result
            try:
                self._store.save(*changed)
            except IntegrityError:
                continue
            return result
        raise ConcurrentUpdate("the certificate kept changing; try again")
