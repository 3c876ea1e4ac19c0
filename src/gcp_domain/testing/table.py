"""Every operation tried from every position of the lifecycle, at every moment that matters.

The state machine explores random sequences, and some cells of the lifecycle table need several
exact steps that a run's budget rarely strings together: the expiry timer on a certificate
locked over REDEEMED, a redemption at expiresAt itself before the timer has run, a second
reversal of one redemption, a late REFUND_PENDING of a refund that failed. `walk_the_table`
reaches each position by a fixed path, puts the clock before, at or after expiresAt, and tries
one operation; every command still goes through `execute` against the model, and every
invariant runs before and after it.

    @settings(max_examples=1)
    @given(st.data())
    def test_every_cell(data):
        assert walk_the_table(MyMachine, data) > 0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Final

from hypothesis import strategies as st

from gcp_domain.money import Money
from gcp_domain.numbers import CertificateNumber
from gcp_domain.testing.commands import ReverseRedemption
from gcp_domain.testing.machine import GiftCertificateMachine
from gcp_domain.vocabulary import NotificationChannel, RejectionReason

Step = Callable[[GiftCertificateMachine, st.DataObject], bool]

NUMBER: Final = CertificateNumber.from_body("400012341234482")
# How hypothesis marks a @rule method (hypothesis.stateful.RULE_MARKER), with its preconditions.
_RULE_MARKER: Final = "hypothesis_stateful_rule"
# Stands for the walk's DataObject among a rule's arguments.
DATA: Final = object()


def _rule(name: str, **arguments: object) -> Step:
    """The machine's rule `name` with these arguments; skipped (False) where its
    preconditions do not hold."""

    def step(machine: GiftCertificateMachine, data: st.DataObject) -> bool:
        marker = getattr(getattr(type(machine), name), _RULE_MARKER, None)
        if marker is not None and not all(check(machine) for check in marker.preconditions):
            return False
        given = {key: data if value is DATA else value for key, value in arguments.items()}
        getattr(machine, name)(**given)
        return True

    return step


def _reverse(part: Decimal, *, beyond: bool = False) -> Step:
    """Reverses `part` of what the first redemption has left to reverse (plus one minor unit
    when `beyond`), or names a redemption that was never applied."""

    def step(machine: GiftCertificateMachine, data: st.DataObject) -> bool:
        applied = sorted(machine.model.redemptions)
        payment_id = applied[0] if applied else machine.fresh_id("PAY")
        left = machine.model.redemptions[payment_id].reversible if applied else Decimal(10)
        amount = machine.money_of(left * part)
        if beyond:
            amount = amount + amount.minor_unit
        refund_payment_id = machine.fresh_id("RV")
        expect = machine.model.reverse_redemption(refund_payment_id, payment_id, amount)
        machine.execute(ReverseRedemption(refund_payment_id, payment_id, amount), expect)
        return True

    return step


REDEEM_A_TENTH: Final = _rule("redeem", percent=10, foreign=1)
REDEEM_ALL: Final = _rule("redeem_exact_balance")
LOCK: Final = _rule("lock", reason="fraud check")
REFUND_PENDING: Final = _rule("refund_pending", which="new", percent=50)
REFUND_FAILED: Final = _rule("refund_failed", which="current", percent=None)

SMS, EMAIL, NONE = NotificationChannel.SMS, NotificationChannel.EMAIL, NotificationChannel.NONE
POOL: Final = None  # Left in its pool, never sold.

# How each position is reached: left in its pool, or sold at once (reserved, issued with that
# notification channel, its notification requested unless NONE), then these steps.
PATHS: Final[Mapping[str, tuple[NotificationChannel | None, tuple[Step, ...]]]] = {
    "AVAILABLE": (POOL, ()),
    "RESERVED": (POOL, (_rule("reserve", order="WEB-1", minutes=30),)),
    "CANCELLED, never sold": (POOL, (_rule("cancel", chance=1),)),
    "ACTIVE": (EMAIL, ()),
    "ACTIVE, sold with channel NONE": (NONE, ()),
    "ACTIVE, notification delivered": (
        EMAIL,
        (_rule("notification_result", current=True, sent=True),),
    ),
    "ACTIVE, second notification requested": (
        EMAIL,
        (_rule("request_again_after_the_result", sent=False),),
    ),
    "ACTIVE, redeemed in part": (EMAIL, (REDEEM_A_TENTH,)),
    "ACTIVE, a redemption half reversed": (EMAIL, (REDEEM_A_TENTH, _reverse(Decimal("0.5")))),
    "ACTIVE, after a failed refund": (EMAIL, (REFUND_PENDING, REFUND_FAILED)),
    "REDEEMED": (EMAIL, (REDEEM_ALL,)),
    "LOCKED over ACTIVE": (EMAIL, (LOCK,)),
    "LOCKED over ACTIVE, redeemed in part": (EMAIL, (REDEEM_A_TENTH, LOCK)),
    "LOCKED over REDEEMED": (EMAIL, (REDEEM_ALL, LOCK)),
    "REFUND_PENDING": (EMAIL, (REFUND_PENDING,)),
    "REFUND_PENDING, needing details": (
        EMAIL,
        (REFUND_PENDING, _rule("refund_pending_details", which="current", percent=None)),
    ),
    "REFUNDED": (EMAIL, (_rule("refund_completed", which="new", percent=50, chance=1),)),
    "EXPIRED": (EMAIL, (_rule("expire_after_expiry", extra_minutes=0, chance=1),)),
    "CANCELLED": (EMAIL, (_rule("cancel", chance=1),)),
}

# When the operation happens, relative to expiresAt (None: where the path left the clock).
MOMENTS: Final[Mapping[str, timedelta | None]] = {
    "now": None,
    "at expiresAt": timedelta(0),
    "a day after expiresAt": timedelta(days=1),
}

# The operations tried in every cell: the machine's rules with fixed arguments, and reversals.
OPERATIONS: Final[Mapping[str, Step]] = {
    "reserve": _rule("reserve", order=None, minutes=30),
    "reserve for another order": _rule("reserve", order="WEB-2", minutes=30),
    "release": _rule("release_reservation"),
    "issue": _rule("issue", order="WEB-1", amount=Money.of("500.00"), days=365, channel=SMS),
    "issue, another order": _rule(
        "issue", order="WEB-2", amount=Money.of("500.00"), days=365, channel=EMAIL
    ),
    "request a notification": _rule("request_notification", current=False),
    "request the open one again": _rule("request_notification", current=True),
    "request by SMS": _rule("request_notification", current=False, channel=SMS),
    "request by NONE": _rule("request_notification", current=False, channel=NONE),
    "request again after the result": _rule("request_again_after_the_result", sent=False),
    "redeliver an earlier request": _rule("request_an_earlier_notification", data=DATA),
    "disclose the CVC": _rule("disclose_cvc", current=True),
    "delivery sent": _rule("notification_result", current=True, sent=True),
    "delivery failed": _rule("notification_result", current=True, sent=False),
    "redeem a tenth": REDEEM_A_TENTH,
    "redeem in another currency": _rule("redeem", percent=10, foreign=0),
    "redeem the balance": REDEEM_ALL,
    "redeem one minor unit beyond": _rule("redeem_balance_plus_one_minor_unit"),
    "redeem zero": _rule("redeem_zero"),
    "reject a redemption": _rule("reject_redemption", reason=RejectionReason.AMOUNT_MISMATCH),
    "reverse half": _reverse(Decimal("0.5")),
    "reverse what is left": _reverse(Decimal(1)),
    "reverse one minor unit beyond": _reverse(Decimal(1), beyond=True),
    "refund pending": REFUND_PENDING,
    "refund pending, no amount": _rule("refund_pending", which="new", percent=None),
    "refund pending, latest refund": _rule("refund_pending", which="latest", percent=None),
    "refund needs details": _rule("refund_pending_details", which="current", percent=None),
    "refund beyond the balance": _rule("refund_beyond_the_balance", which="new", completed=False),
    "refund completed": _rule("refund_completed", which="current", percent=100, chance=1),
    "refund completed, latest refund": _rule(
        "refund_completed", which="latest", percent=50, chance=1
    ),
    "refund completed beyond the balance": _rule(
        "refund_beyond_the_balance", which="current", completed=True
    ),
    "refund failed": REFUND_FAILED,
    "refund failed, latest refund": _rule("refund_failed", which="latest", percent=None),
    "lock": LOCK,
    "lock without a reason": _rule("lock", reason="  "),
    "unlock": _rule("unlock"),
    "expiry timer": _rule("expire_now"),
    "cancel": _rule("cancel", chance=1),
}


def walk_the_table(make_machine: Callable[[], GiftCertificateMachine], data: st.DataObject) -> int:
    """Tries every operation from every position at every moment; returns how many cells ran.
    Raises AssertionError (from `execute` or an invariant) at the first disagreement, with
    the position, moment and operation in its message."""
    cells = 0
    for position, (channel, path) in PATHS.items():
        for moment, after in MOMENTS.items():
            for name, operation in OPERATIONS.items():
                machine = make_machine()
                machine.create_certificate(
                    number=NUMBER,
                    currency="RUB",
                    data=data,
                    issue_first=int(channel is not POOL),
                    channel=channel or EMAIL,
                )
                for step in path:
                    assert step(machine, data), f"the path to {position} is blocked"
                expires_at = machine.model.expires_at
                if after is not None:
                    if expires_at is None:
                        break  # Never issued: no expiresAt to be at.
                    machine.clock.advance_to(expires_at + after)
                machine.check_all_invariants()
                try:
                    ran = operation(machine, data)
                    machine.check_all_invariants()
                except AssertionError as error:
                    raise AssertionError(f"{name}, from {position}, {moment}: {error}") from error
                machine.teardown()
                cells += ran
    return cells
