"""The written rules of the lifecycle as tables: where each operation may happen, and why a
redemption is rejected where the certificate rests.

Taken from the contract (/work/shared/CONTRACTS.md: "How GCP matches inbound facts", the
stream's `state` and `redeemable`, the HTTP table) and docs/architecture.md (the lifecycle
diagram and "Where CONTRACTS.md is silent", decisions 1-9), never from
`gcp_domain.certificate`; each entry quotes the sentence it comes from. `LifecycleModel`
(model.py) plays them.

`Position` is a node of the diagram, with LOCKED split by the state the lock remembers, so that
"LOCKED over ACTIVE" (decisions 4 and 5) is a place of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Final

from gcp_domain.vocabulary import CertificateState, RejectionReason

S = CertificateState


class Position(Enum):
    """A node of the lifecycle diagram. LOCKED is two nodes, by the state the lock remembers
    (decision 3: "Unlock returns to the state before the lock")."""

    _value_: tuple[CertificateState, CertificateState | None]

    AVAILABLE = (S.AVAILABLE, None)
    RESERVED = (S.RESERVED, None)
    ACTIVE = (S.ACTIVE, None)
    REDEEMED = (S.REDEEMED, None)
    LOCKED_OVER_ACTIVE = (S.LOCKED, S.ACTIVE)
    LOCKED_OVER_REDEEMED = (S.LOCKED, S.REDEEMED)
    REFUND_PENDING = (S.REFUND_PENDING, None)
    REFUNDED = (S.REFUNDED, None)
    EXPIRED = (S.EXPIRED, None)
    CANCELLED = (S.CANCELLED, None)

    @property
    def state(self) -> CertificateState:
        """The contract's `state`."""
        return self._value_[0]

    @property
    def locked_over(self) -> CertificateState | None:
        return self._value_[1]

    def locked(self) -> Position:
        """The lock over this position (only ACTIVE and REDEEMED can be locked)."""
        return {
            Position.ACTIVE: Position.LOCKED_OVER_ACTIVE,
            Position.REDEEMED: Position.LOCKED_OVER_REDEEMED,
        }[self]

    def unlocked(self) -> Position:
        """Where the lock returns to."""
        return {
            Position.LOCKED_OVER_ACTIVE: Position.ACTIVE,
            Position.LOCKED_OVER_REDEEMED: Position.REDEEMED,
        }[self]


class Operation(Enum):
    """What may change a certificate, besides a redemption (judged by `REFUSAL_BY_POSITION`)."""

    RESERVE = "reserve"
    RELEASE = "release the reservation"
    ISSUE = "issue"
    REQUEST_NOTIFICATION = "request a notification"
    DISCLOSE_CVC = "disclose the CVC"
    RECORD_NOTIFICATION_RESULT = "record a notification's result"
    REVERSE_REDEMPTION = "reverse a redemption"
    START_REFUND = "start a refund (REFUND_PENDING)"
    REFUND_NEEDS_DETAILS = "a refund needs details (REFUND_PENDING_DETAILS)"
    COMPLETE_REFUND = "complete a refund (REFUND_COMPLETED)"
    FAIL_REFUND = "fail a refund (REFUND_FAILED)"
    LOCK = "lock"
    UNLOCK = "unlock"
    EXPIRE = "expire"
    CANCEL = "cancel"


P = Position
LOCKED: Final = frozenset({P.LOCKED_OVER_ACTIVE, P.LOCKED_OVER_REDEEMED})

# From which positions each operation may change the certificate. A redemption is not here:
# it is recorded wherever the certificate rests, applied or rejected (decision 6).
ALLOWED_FROM: Final[Mapping[Operation, frozenset[Position]]] = {
    # "AVAILABLE --> RESERVED: Reserved (GET /certificates/next)"
    Operation.RESERVE: frozenset({P.AVAILABLE}),
    # "RESERVED --> AVAILABLE: ReservationReleased (payment failed, order cancelled, timeout)"
    Operation.RELEASE: frozenset({P.RESERVED}),
    # "RESERVED --> ACTIVE: Issued", "AVAILABLE --> ACTIVE: Issued (the reservation had lapsed)"
    Operation.ISSUE: frozenset({P.RESERVED, P.AVAILABLE}),
    # "ACTIVE --> ACTIVE: NotificationRequested / CvcDisclosed / ..."; the CVC endpoint: "Only
    # for issued, unlocked certificates with an open notification request". The diagram is the
    # narrower of the two (no CVC for a REDEEMED, EXPIRED, ... certificate): it decides.
    Operation.REQUEST_NOTIFICATION: frozenset({P.ACTIVE}),
    Operation.DISCLOSE_CVC: frozenset({P.ACTIVE}),
    # Rule 5: "SENT/FAILED from All_Clients or HTTP gives NOTIFICATION_SENT or
    # NOTIFICATION_FAILED", wherever the certificate rests (the diagram draws ACTIVE's loop only).
    Operation.RECORD_NOTIFICATION_RESULT: frozenset(Position),
    # Decision 7: "in ACTIVE, REDEEMED (back to ACTIVE) or LOCKED".
    Operation.REVERSE_REDEMPTION: frozenset({P.ACTIVE, P.REDEEMED} | LOCKED),
    # "ACTIVE --> REFUND_PENDING: RefundPending / RefundPendingDetails"; the details of the
    # pending refund follow it there (rule 3: "the steps of the one refund"). Silent on refund
    # steps while LOCKED: the diagram has no arrow from LOCKED, so they are refused.
    Operation.START_REFUND: frozenset({P.ACTIVE}),
    Operation.REFUND_NEEDS_DETAILS: frozenset({P.ACTIVE, P.REFUND_PENDING}),
    # "REFUND_PENDING --> REFUNDED: RefundCompleted", "ACTIVE --> REFUNDED: RefundCompleted"
    Operation.COMPLETE_REFUND: frozenset({P.ACTIVE, P.REFUND_PENDING}),
    # "REFUND_PENDING --> ACTIVE: RefundFailed"; decision 8: "a REFUND_FAILED that overtakes its
    # REFUND_PENDING is recorded on the ACTIVE certificate".
    Operation.FAIL_REFUND: frozenset({P.ACTIVE, P.REFUND_PENDING}),
    # Decision 3: "Lock is for issued certificates (ACTIVE or REDEEMED)".
    Operation.LOCK: frozenset({P.ACTIVE, P.REDEEMED}),
    # "LOCKED --> ACTIVE: Unlocked (back to the previous working state)", "LOCKED --> REDEEMED"
    Operation.UNLOCK: LOCKED,
    # Decision 5: "Expiry applies to ACTIVE and LOCKED certificates ... A REDEEMED certificate
    # has nothing to expire"; Timers: "(ACTIVE, or LOCKED over ACTIVE; a fully redeemed one is
    # not)".
    Operation.EXPIRE: frozenset({P.ACTIVE, P.LOCKED_OVER_ACTIVE}),
    # Decision 4: "Cancel applies to AVAILABLE (void) and to ACTIVE (or LOCKED over ACTIVE)
    # before any redemption. A RESERVED certificate is released, not cancelled."
    Operation.CANCEL: frozenset({P.AVAILABLE, P.ACTIVE, P.LOCKED_OVER_ACTIVE}),
}

# Why a redemption is rejected where the certificate rests (decision 6's reasons; rule 2:
# "Otherwise ... REDEMPTION_REJECTED with the reason (insufficient balance, locked, expired,
# refunded, ...)"). ACTIVE is the one redeemable position and is judged by the amount.
REFUSAL_BY_POSITION: Final[Mapping[Position, RejectionReason]] = {
    # matching.md: "A redemption of a certificate that is not issued yet is rejected NOT_ISSUED".
    P.AVAILABLE: RejectionReason.NOT_ISSUED,
    P.RESERVED: RejectionReason.NOT_ISSUED,
    P.LOCKED_OVER_ACTIVE: RejectionReason.LOCKED,
    P.LOCKED_OVER_REDEEMED: RejectionReason.LOCKED,
    # Rule 3: "A certificate is not redeemable while a refund is pending."
    P.REFUND_PENDING: RejectionReason.REFUND_PENDING,
    P.REFUNDED: RejectionReason.REFUNDED,
    P.EXPIRED: RejectionReason.EXPIRED,
    P.CANCELLED: RejectionReason.CANCELLED,
    # Balance 0: nothing left to take.
    P.REDEEMED: RejectionReason.FULLY_REDEEMED,
}
assert set(Position) - set(REFUSAL_BY_POSITION) == {P.ACTIVE}, "only ACTIVE may be redeemed"
