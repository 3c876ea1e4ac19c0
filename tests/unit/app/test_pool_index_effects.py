"""Every event of a certificate has its effect on the pool index written down, even when that
effect is "nothing but its version": a new event class cannot be missed by the index."""

from __future__ import annotations

from gcp_app.pool_index import AVAILABLE, CANCELLED, EFFECTS, ISSUED, KEEP, RESERVED
from gcp_domain.certificate import GiftCertificate
from gcp_domain.vocabulary import CertificateState

G = GiftCertificate


def test_every_certificate_event_has_its_effect() -> None:
    events = {
        member
        for member in vars(G).values()
        if isinstance(member, type) and issubclass(member, G.Event) and member is not G.Event
    }
    assert set(EFFECTS) == events


def test_the_moves_between_pool_levels() -> None:
    levels = {event: effect.level for event, effect in EFFECTS.items() if effect.level}
    assert levels == {
        G.Created: AVAILABLE,
        G.Reserved: RESERVED,
        G.ReservationReleased: AVAILABLE,
        G.Issued: ISSUED,
        G.Cancelled: CANCELLED,
    }
    assert [event for event, effect in EFFECTS.items() if effect.creates] == [G.Created]


def test_the_deadlines_each_event_sets_or_ends() -> None:
    reads = {e for e, effect in EFFECTS.items() if callable(effect.reservation)}
    ends = {e for e, effect in EFFECTS.items() if effect.reservation is None}
    assert reads == {G.Reserved}
    assert ends == {
        G.ReservationReleased,
        G.Issued,
        G.Cancelled,
        G.Expired,
        G.RefundCompleted,
    }
    assert {e for e, effect in EFFECTS.items() if callable(effect.expiry)} == {G.Issued}
    assert {e for e, effect in EFFECTS.items() if effect.expiry is None} == {
        G.Cancelled,
        G.Expired,
        G.RefundCompleted,
    }
    assert EFFECTS[G.Locked].expiry is KEEP
    assert len(CertificateState) == 9  # a new state would need a level here too
