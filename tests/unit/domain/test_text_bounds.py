"""Contract 1.1, "Conventions": text fields are cut to 1,000 characters where GCP records them,
identifiers (an actor, a message's id) to 200. Commands cut; stored events replay as stored."""

from __future__ import annotations

import copy

import pytest

from gcp_domain import Cause, GiftCertificate
from gcp_domain.certificate_values import Recipient
from gcp_domain.text import IDENTIFIER_LIMIT, TEXT_LIMIT, cut

LONG = "x" * 600_000


def test_cut_keeps_short_text_and_none_and_cuts_long_text() -> None:
    assert cut(None) is None
    assert cut("") == ""
    assert cut("a" * TEXT_LIMIT) == "a" * TEXT_LIMIT
    assert cut("a" * (TEXT_LIMIT + 1)) == "a" * TEXT_LIMIT
    assert cut("abcdef", 3) == "abc"


def test_a_cause_cuts_its_identifiers_to_200_characters() -> None:
    cause = Cause(actor=LONG, causation_id="m" * 10_000, correlation_id="WEB-1")
    assert cause.actor == "x" * IDENTIFIER_LIMIT
    assert cause.causation_id == "m" * IDENTIFIER_LIMIT
    assert cause.correlation_id == "WEB-1"


def test_a_recipient_cuts_each_field() -> None:
    recipient = Recipient(name=LONG, email="a@example.com", phone=None)
    assert recipient.name is not None
    assert len(recipient.name) == TEXT_LIMIT
    assert (recipient.email, recipient.phone) == ("a@example.com", None)


def test_a_lock_reason_and_the_locking_actor_are_cut(make, cause: Cause) -> None:
    cert = make.active()
    cert.lock_for(reason=LONG, by="support:" + LONG, at=make.during, cause=cause)
    [locked] = cert.collect_events()
    assert isinstance(locked, GiftCertificate.Locked)
    assert len(locked.reason) == TEXT_LIMIT
    assert len(locked.locked_by) == IDENTIFIER_LIMIT


def test_a_600_kb_delivery_error_is_recorded_cut_to_1000_characters(make, cause: Cause) -> None:
    cert = make.active()
    cert.request_notification(notification_id="NOTE-1", cause=cause)
    cert.collect_events()
    cert.record_notification_result(notification_id="NOTE-1", sent=False, error=LONG, cause=cause)
    [failed] = cert.collect_events()
    assert isinstance(failed, GiftCertificate.NotificationFailed)
    assert failed.error == "x" * TEXT_LIMIT
    assert cert.notification is not None
    assert cert.notification.error == "x" * TEXT_LIMIT


@pytest.mark.parametrize("command", ["cancel", "release"])
def test_cancel_and_release_reasons_are_cut(command: str, make, cause: Cause) -> None:
    if command == "cancel":
        cert = make.active()
        cert.cancel(reason=LONG, cause=cause)
    else:
        cert = make.reserved()
        cert.release_reservation(reason=LONG, cause=cause)
    [event] = cert.collect_events()
    assert len(event.reason) == TEXT_LIMIT


def test_an_event_stored_before_the_bound_replays_as_it_was_stored(make, cause: Cause) -> None:
    """Appliers never cut: history is what it was."""
    cert = make.active()
    before = copy.deepcopy(cert)
    cert.lock_for(reason="fraud check", by="support:alice", at=make.during, cause=cause)
    [locked] = cert.collect_events()
    object.__setattr__(locked, "reason", LONG)  # as an older GCP, with no bound, stored it
    replayed = locked.mutate(before)
    assert replayed is not None
    assert replayed.lock is not None
    assert replayed.lock.reason == LONG
